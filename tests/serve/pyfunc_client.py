"""What a data scientist runs, in a fresh Python process: load each registered champion by name with MLflow and
predict. tests/serve/test_pyfunc.py runs it in a subprocess of the project's venv with MLFLOW_TRACKING_URI set:

    python tests/serve/pyfunc_client.py <folder>    # reads <folder>/inputs.npz, inputs.json; writes outputs.npz, seen.json

Nothing of the project is imported here: the models bring their own code (code paths). `seen.json` records how a
request out of range is refused, where `serve.bundles` came from, the distributions the models' code imported and
each model's pip requirements.
"""

from __future__ import annotations

import ast
import json
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

FOLDER = Path(sys.argv[1])
ARRAYS = ("tagger", "posenet", "sr", "srgan", "pose2sketch")  # families whose input is an array
FRAMES = ("dcgan", "stylegan")  # ... a DataFrame


def imported_distributions(code_dir: str) -> set[str]:
    """The distributions that the loaded modules of the models' code import and that this process has loaded."""
    loaded = {name.split(".")[0] for name in sys.modules}
    names: set[str] = set()
    for mod in list(sys.modules.values()):
        path = getattr(mod, "__file__", None) or ""
        if code_dir not in path:
            continue
        for node in ast.walk(ast.parse(Path(path).read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    project = {"core", "models", "serve", "synth"}
    third = {n for n in names & loaded if n not in sys.stdlib_module_names and n not in project}
    dists = packages_distributions()
    return {d for n in third for d in dists.get(n, [n])}


def main() -> None:
    arrays = dict(np.load(FOLDER / "inputs.npz"))
    frames = json.loads((FOLDER / "inputs.json").read_text())
    outputs, seen = {}, {"requirements": {}}
    for family in (*FRAMES, *ARRAYS):
        uri = f"models:/anime-{family}@champion"
        model = mlflow.pyfunc.load_model(uri)
        got = model.predict(pd.DataFrame(frames[family]) if family in FRAMES else arrays[family])
        if isinstance(got, pd.DataFrame):
            (FOLDER / f"{family}.json").write_text(got.to_json(orient="records"))
        else:
            outputs[family] = got
        seen["requirements"][family] = Path(mlflow.pyfunc.get_model_dependencies(uri)).read_text().split()
        if family == "dcgan":  # a request the service refuses
            try:
                model.predict(pd.DataFrame([{"seed": 1}, {"seed": 2, "smile=yes": 3.0}]))
            except Exception as err:  # noqa: BLE001 (what reaches the caller, whatever it is, is recorded)
                seen["refused"] = f"{type(err).__name__}: {err}"
    np.savez(FOLDER / "outputs.npz", **outputs)
    import serve.bundles  # already loaded by the models, from their code

    seen["serve_bundles"] = serve.bundles.__file__
    seen["imported"] = sorted(imported_distributions("/artifacts/code/"))
    (FOLDER / "seen.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main()
