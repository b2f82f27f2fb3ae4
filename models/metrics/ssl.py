"""The feature-space figures read a second time, in the second ruler's space (models/ruler/: a self-supervised
encoder no model trains against): `fd_ssl`, `kid_ssl`, `precision_ssl`, `recall_ssl`. The same functions as
`fd_tagger`, `kid_tagger`, `precision` and `recall`, under the names that say which space they were read in."""

from __future__ import annotations

from models.metrics.fd import frechet_distance
from models.metrics.kid import kernel_distance
from models.metrics.prd import precision, recall
from models.metrics.registry import register

register("fd_ssl", lower_is_better=True)(frechet_distance)
register("kid_ssl", lower_is_better=True)(kernel_distance)
register("precision_ssl", lower_is_better=False)(precision)
register("recall_ssl", lower_is_better=False)(recall)

SSL = {"fd_tagger": "fd_ssl", "kid_tagger": "kid_ssl", "precision": "precision_ssl", "recall": "recall_ssl"}
