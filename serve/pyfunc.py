"""Every registered version as an MLflow pyfunc model, loaded by name in any Python process of the project's venv:

    import mlflow
    model = mlflow.pyfunc.load_model("models:/anime-tagger@champion")
    model.predict(images)        # uint8 [N, H, W, 3] -> a DataFrame: per group the value read, per tag its probability

The train stages register through `log_model` (core/tracking.Units): the bundle is logged as an MLflow model built from
code (serve/pyfunc_model.py, nothing pickled) with the bundle as its artifact `bundle`, this project's packages it
imports as code paths (core, models, serve, synth: copied with the model, so a version carries the code it was
registered with), the pinned pip requirements of what that code imports, a signature and an input example. Loading
it loads the bundle with the service's loader (serve/bundles.Models.from_bundle) and `predict` runs the service's
operations, so a version answers as the service does with it deployed.

| family              | input                                                     | output                          |
|---------------------|-----------------------------------------------------------|---------------------------------|
| dcgan, stylegan     | DataFrame, a row per image: seed, truncation, a column    | uint8 images [N, S, S, 3]       |
|                     | per slider (smile=yes) and per attribute group (its extra |                                 |
|                     | groups too)                                               |                                 |
| tagger              | uint8 RGB images [N, H, W, 3]                             | DataFrame: group, group=value   |
| posenet             | uint8 pictures of stick figures [N, H, W, 3]              | float32 joints [N, 11, 2]       |
| sr, srgan           | uint8 RGB images [N, H, W, 3]                             | uint8 images [N, 4H, 4W, 3]     |
| pose2sketch         | float64 joints [N, 11, 2], pixels of the pose canvas      | uint8 grey sketches [N, S, S]   |

docs/evaluate.md ("Loading a registered model in Python") has the snippet of each.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, DataType, Schema, TensorSpec

from core.names import ATTRIBUTES, GROUPS, JOINTS
from serve.bundles import BundleError, Models

REPO = Path(__file__).resolve().parent.parent
MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")  # the model, as code
CODE_PACKAGES = ("core", "models", "serve", "synth")  # what serve/bundles.py and the networks import from the project
# the distributions that code imports, pinned at the versions installed when the version is registered
REQUIREMENTS = (
    "torch",
    "numpy",
    "safetensors",
    "opencv-python-headless",
    "pandas",
    "pydantic",
    "pyyaml",
    "scikit-learn",
    "tqdm",
)
# a standing figure on a 64 px canvas, [x, y] per joint in JOINTS' order: the pose examples, scaled to the canvas
STANDING_64 = ((32, 8), (32, 16), (26, 18), (38, 18), (20, 30), (44, 30), (32, 34), (28, 46), (36, 46), (27, 58), (37, 58))  # fmt: skip
IMAGES = TensorSpec(np.dtype(np.uint8), (-1, -1, -1, 3))  # RGB images of one size


class FamilyIO(Protocol):
    """What a family's pyfunc model takes and gives: its signature, an input example, and predict."""

    def signature(self, models: Models) -> ModelSignature: ...

    def example(self, models: Models) -> Any: ...

    def predict(self, models: Models, model_input: Any) -> Any: ...


def _images(x: Any, what: str = "images") -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"{what}: expected uint8 RGB images [N, H, W, 3], got {x.dtype} {list(x.shape)}")
    return x


def _standing(size: int) -> np.ndarray:
    return np.array(STANDING_64, np.float64) * (size / 64)


def _cell(row: dict, key: str, default: Any) -> Any:
    """A DataFrame cell, or `default` where the column is absent or the cell empty (None, NaN)."""
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return default
    return value


@dataclass(frozen=True)
class GeneratorIO:
    """One row per image: its `seed` (the same seed, the same character), `truncation`, one column per slider (the tag,
    e.g. `smile=yes`: its position) and, for a conditional generator, one per attribute group of its schema (e.g.
    `hair_color`: the value asked for; an annotators' extra group such as `hat` where it was trained on one), as the
    service's /api/generate takes them; an empty cell is a setting not given. Rows with the same settings are
    sampled together, as one request is."""

    family: str

    def columns(self, models: Models) -> list[ColSpec]:
        g = models.generators[self.family]
        cols = [ColSpec(DataType.long, "seed"), ColSpec(DataType.double, "truncation", required=False)]
        cols += [ColSpec(DataType.double, name, required=False) for name in g.sliders]
        if g.conditional:
            cols += [ColSpec(DataType.string, group, required=False) for group in g.schema.names]
        return cols

    def signature(self, models: Models) -> ModelSignature:
        size = models.generators[self.family].size
        out = TensorSpec(np.dtype(np.uint8), (-1, size, size, 3))
        return ModelSignature(Schema(self.columns(models)), Schema([out]))

    def example(self, models: Models) -> pd.DataFrame:
        g = models.generators[self.family]
        row: dict[str, Any] = {"truncation": 0.7}
        if g.sliders:
            lo, hi = g.ranges[g.sliders[0]]
            row[g.sliders[0]] = lo + 0.75 * (hi - lo)
        if g.conditional:
            row["hair_color"] = ATTRIBUTES["hair_color"][2]
        return pd.DataFrame([{"seed": 7, **row}, {"seed": 8}])

    def predict(self, models: Models, frame: pd.DataFrame) -> np.ndarray:
        g = models.generators[self.family]
        frame = pd.DataFrame(frame)
        known = [c.name for c in self.columns(models)]
        unknown = sorted(set(frame.columns) - set(known))
        if unknown:
            raise ValueError(f"{self.family} takes no column {unknown[0]!r}; its columns: {', '.join(known)}")
        requests: dict[tuple, list[int]] = {}  # settings -> the rows that ask for them
        seeds = []
        for i, row in enumerate(frame.to_dict("records")):
            seeds.append(int(_cell(row, "seed", -1)))
            psi = float(_cell(row, "truncation", 1.0))
            sliders = {k: float(row[k]) for k in g.sliders if _cell(row, k, None) is not None}
            conditions = {k: str(row[k]) for k in g.schema.names if _cell(row, k, None) is not None}
            if seeds[-1] < 0 or not 0.0 <= psi <= 1.0:
                raise ValueError(f"row {i}: expected a seed >= 0 and a truncation in [0, 1]; got {row}")
            try:
                g.check(sliders, conditions)
            except ValueError as err:
                raise ValueError(f"row {i}: {err}") from None
            key = (round(psi, 6), tuple(sorted(sliders.items())), tuple(sorted(conditions.items())))
            requests.setdefault(key, []).append(i)
        out = np.zeros((len(seeds), g.size, g.size, 3), np.uint8)
        for (psi, sliders, conditions), rows in requests.items():
            out[rows] = models.generate([seeds[i] for i in rows], self.family, psi, dict(sliders), dict(conditions))
        return out


class TaggerIO:
    """Per image, each group's value read (the version's thresholds) and each tag's probability."""

    def signature(self, models: Models) -> ModelSignature:
        cols = [ColSpec(DataType.string, g) for g in GROUPS]
        cols += [ColSpec(DataType.double, f"{g}={v}") for g in GROUPS for v in ATTRIBUTES[g]]
        return ModelSignature(Schema([IMAGES]), Schema(cols))

    def example(self, models: Models) -> np.ndarray:
        size = int(models.cards["tagger"].get("size") or 64)
        return np.full((1, size, size, 3), 128, np.uint8)

    def predict(self, models: Models, x: Any) -> pd.DataFrame:
        rows = []
        for image in _images(x):
            row: dict[str, Any] = {}
            for g, (value, p) in models.read_tags(image).items():
                row[g] = value
                row.update({f"{g}={v}": float(p[k]) for k, v in enumerate(ATTRIBUTES[g])})
            rows.append(row)
        return pd.DataFrame(rows, columns=[c.name for c in self.signature(models).outputs.inputs])


class PoseNetIO:
    """Per picture of a stick figure, the 11 joints posenet reads, in pixels of the pose size over the picture padded
    to a square (as the service's /api/sketch reads a drawing)."""

    def signature(self, models: Models) -> ModelSignature:
        out = TensorSpec(np.dtype(np.float32), (-1, len(JOINTS), 2))
        return ModelSignature(Schema([IMAGES]), Schema([out]))

    def example(self, models: Models) -> np.ndarray:
        from synth.pose.figure import draw_stick

        size = int(models.posenet.config["size"])
        return draw_stick(_standing(size).astype(np.float32), size, 2, np.random.default_rng(0))[None]

    def predict(self, models: Models, x: Any) -> np.ndarray:
        from models.pose.drawing import NoDrawing

        found = [np.zeros((0, len(JOINTS), 2), np.float32)]
        for i, image in enumerate(_images(x, "pictures")):
            try:
                found.append(models.read_drawing(image)[None])
            except NoDrawing as err:
                raise ValueError(f"picture {i}: no stick figure found: {err}") from None
        return np.concatenate(found)


@dataclass(frozen=True)
class UpscalerIO:
    """Each image 4x, as the service's /api/upscale."""

    family: str

    def signature(self, models: Models) -> ModelSignature:
        return ModelSignature(Schema([IMAGES]), Schema([IMAGES]))

    def example(self, models: Models) -> np.ndarray:
        return np.random.default_rng(0).integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)

    def predict(self, models: Models, x: Any) -> np.ndarray:
        return models.upscale(_images(x), self.family)


class Pose2SketchIO:
    """Per pose (11 joints in pixels of the pose canvas, JOINTS' order), the sketch, as the service's /api/sketch."""

    def signature(self, models: Models) -> ModelSignature:
        size = int(models.pose2sketch.config["size"])
        inputs = TensorSpec(np.dtype(np.float64), (-1, len(JOINTS), 2))
        return ModelSignature(Schema([inputs]), Schema([TensorSpec(np.dtype(np.uint8), (-1, size, size))]))

    def example(self, models: Models) -> np.ndarray:
        return _standing(int(models.pose2sketch.config["size"]))[None]

    def predict(self, models: Models, x: Any) -> np.ndarray:
        size = int(models.pose2sketch.config["size"])
        joints = np.asarray(x, np.float64)
        if joints.ndim != 3 or joints.shape[1:] != (len(JOINTS), 2):
            raise ValueError(f"joints: expected [N, {len(JOINTS)}, 2] (x, y per joint), got {list(joints.shape)}")
        if not np.isfinite(joints).all() or (joints < -size).any() or (joints > 2 * size).any():
            raise ValueError(f"joints are pixel coordinates of a {size} x {size} canvas")
        sketches = [models.sketch(j.astype(np.float32))["sketch"] for j in joints]
        return np.stack(sketches) if sketches else np.zeros((0, size, size), np.uint8)


IO: dict[str, FamilyIO] = {
    "dcgan": GeneratorIO("dcgan"),
    "stylegan": GeneratorIO("stylegan"),
    "tagger": TaggerIO(),
    "posenet": PoseNetIO(),
    "sr": UpscalerIO("sr"),
    "srgan": UpscalerIO("srgan"),
    "pose2sketch": Pose2SketchIO(),
}


@dataclass
class Served:
    """A loaded version: its family and its bundle as the service loads it."""

    family: str
    models: Models

    @classmethod
    def load(cls, family: str, folder: str | Path) -> Served:
        return cls(family, Models.from_bundle(family, Path(folder)))

    def predict(self, model_input: Any) -> Any:
        return IO[self.family].predict(self.models, model_input)


def requirements() -> list[str]:
    """The pinned pip requirements of the code a version's model runs (MLflow adds its own pin)."""
    return [f"{name}=={version(name)}" for name in REQUIREMENTS]


def log_model(bundle_dir: Path, name: str) -> str | None:
    """Log `bundle_dir` as the pyfunc model of registered model `name` in the active run; its model id, or None for a
    name that is no family of the service, or a bundle the service cannot load (the PCA baseline of anime-dcgan),
    which is then registered as a bundle alone."""
    import mlflow

    family = name.removeprefix("anime-")
    if family not in IO:
        return None
    try:
        models = Models.from_bundle(family, bundle_dir)
    except BundleError as err:
        print(f"{name}: the service cannot load this bundle, so it is registered without a pyfunc model ({err})")
        return None
    path = list(sys.path)
    try:
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=str(MODEL_CODE),
            artifacts={"bundle": str(bundle_dir)},
            model_config={"family": family},
            code_paths=[str(REPO / p) for p in CODE_PACKAGES],
            pip_requirements=requirements(),
            signature=IO[family].signature(models),
            input_example=IO[family].example(models),
        )
    finally:  # MLflow's check of the input example loads the model, which puts its code copy first on sys.path
        sys.path[:] = path
    return info.model_id
