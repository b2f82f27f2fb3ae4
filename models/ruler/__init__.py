"""The second ruler: a self-supervised encoder (net.py) trained on the training split (train.py), read as `Ruler`
(read.py) for the `_ssl` figures of every generator (models/metrics/generators.py)."""
