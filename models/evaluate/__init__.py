"""The `evaluate` stage's domain code: one scorer per registered model (scorers.py) and the choice of a champion
(policy.py). stages/evaluate.py reads this run's candidates, scores them beside the registry's champions on the same
data, and calls models/promote.py, the only code that moves aliases."""
