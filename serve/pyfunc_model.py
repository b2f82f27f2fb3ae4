"""A registered version as an MLflow pyfunc model, written as code (MLflow's "models from code": nothing pickled).

serve/pyfunc.py logs this file with every registered version; MLflow runs it when the model loads
(`mlflow.pyfunc.load_model("models:/anime-tagger@champion")`). The version's bundle is the model's artifact `bundle`
and its family the model config's `family`; both are handed to serve/pyfunc.py, which loads the bundle as the service
does and answers `predict` with the service's operations.
"""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel


class RegisteredVersion(PythonModel):
    # Each family's input is the signature logged with its version, which MLflow enforces before `predict`: no one
    # type hint could say it. This tells MLflow (as its own ChatModel does) not to look for one and warn at each load.
    _skip_type_hint_validation = True

    def load_context(self, context) -> None:
        from serve.pyfunc import Served

        self.served = Served.load(context.model_config["family"], context.artifacts["bundle"])

    def predict(self, context, model_input, params: dict[str, Any] | None = None):
        return self.served.predict(model_input)


mlflow.models.set_model(RegisteredVersion())
