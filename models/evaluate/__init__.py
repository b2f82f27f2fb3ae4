"""The `evaluate` stage's domain code: one scorer per registered model (scorers.py), the choice of a champion
(policy.py), a candidate met with its champion and the aliases moved through models/promote.py, the only code that
moves them (compare.py), the served generator's characters upscaled (upscaled.py), the `dvc plots` files (plots.py)
and the reports (report.py). stages/evaluate.py names this run's candidates and writes what these compute."""
