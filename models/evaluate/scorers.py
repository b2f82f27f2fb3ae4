"""One scorer per registered model: a bundle folder in, its figures on validation and test out.

Every version of a model (this run's candidate, the registry's champion) goes through the same scorer with the
same data, sample count, seed and pinned extractor, so the figures in one comparison are comparable. The scorers
reuse the train stage's own scoring code (models/<family>/family.py and models/metrics/generators.py), so a figure here
equals the one the train stage reported for the same version on the same data.

    score(model, folder, ctx) -> {"val": {...}, "test": {...}, "size": int}

`Context` loads each family's data once (lazily) from the stage inputs (stages/train.PATHS).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.errors import BadInput
from core.params import Params
from models import metrics


class Context:
    """The data every scorer reads, loaded on first use and kept for the candidate and the champion alike."""

    def __init__(self, params: Params, paths: dict[str, Path], extractor):
        self.params, self.paths, self.extractor = params, paths, extractor

    @functools.cached_property
    def dcgan(self) -> dict:
        from models.dcgan import family

        return family.load(self.params, self.paths)[0]

    @functools.cached_property
    def stylegan(self) -> dict:
        from models.stylegan import family

        return family.load(self.params, self.paths)[0]

    @functools.cached_property
    def sr(self) -> dict:
        from models.sr import family

        return family.load(self.params, self.paths)[0]

    @functools.cached_property
    def pose2sketch(self) -> dict:
        from models.pose2sketch import family

        return family.load(self.params, self.paths)[0]

    @functools.cached_property
    def poses(self):
        from synth.pose.poseset import PoseSet

        try:
            return PoseSet(self.paths["render"])
        except FileNotFoundError as err:
            raise BadInput(str(err)) from None

    @functools.lru_cache(maxsize=4)  # noqa: B019 (one Context per stage run)
    def tagger_split(self, size: int, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(images, labels) of one split at `size`: the `label` stage's tags (human labels win), -1 unknown."""
        from dataset.shards import ImageShards
        from models.tagger.labels import labels_for, read_tags

        try:
            shards = ImageShards(self.paths["data"], size, split)
            y, _ = labels_for(shards.ids, read_tags(self.paths["labels"]))
            return shards.arrays()[0], y
        except FileNotFoundError as err:
            raise BadInput(f"{err}; run the stage that writes it first (dvc repro)") from None

    @functools.lru_cache(maxsize=8)  # noqa: B019
    def generator_refs(self, family: str, size: int, n: int) -> dict:
        """The Reference of validation and test (models/metrics/generators.py) for a generator of `size`."""
        from models.metrics import generators

        seed = self.params.seed
        images = self.dcgan["images"] if family == "dcgan" else self.stylegan["images"]
        if size not in images:
            sizes = getattr(self.params, family).sizes
            raise BadInput(f"no {size} px shard for {family} ({family}.sizes {sizes})")
        d = images[size]
        return {
            s: generators.reference(self.extractor, d[s].images, d[s].labels, d["train"].images, n, seed, d[s].schema)
            for s in ("val", "test")
        }


def _config(folder: Path) -> dict:
    try:
        return json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise BadInput(f"{folder}: not a model bundle ({err})") from None


def _split(figures: dict) -> dict:
    """{"val_x": a, "x": b} (the train stage's layout) -> {"val": {x: a}, "test": {x: b}}, numbers only."""
    out: dict = {"val": {}, "test": {}}
    for k, v in figures.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            split, name = ("val", k[4:]) if k.startswith("val_") else ("test", k)
            out[split][name] = float(v)
    return out


def dcgan(folder: Path, ctx: Context) -> dict:
    from models.dcgan import family
    from models.dcgan.conditions import ConditionPrior
    from models.dcgan.net import Generator

    G = Generator.load(folder)
    size = int(G.config["size"])
    cond = folder / "conditions.safetensors"
    prior = ConditionPrior.load(cond) if cond.exists() else None
    refs = ctx.generator_refs("dcgan", size, ctx.params.dcgan.eval.samples)
    judge = ctx.dcgan["judge"]  # reads the extra groups a generator may be conditioned on
    scores = family.score(
        ctx.extractor, refs, family.sampler(G, prior), ctx.params.seed, G.conditional, G.schema, judge
    )
    return {**_split(scores), "size": size}


def stylegan(folder: Path, ctx: Context) -> dict:
    """The conditional StyleGAN scored as DCGAN is; a version of the unconditional route (registered before the
    conditional one) on the unconditional figures alone, with the same references."""
    from models.dcgan import family
    from models.dcgan.conditions import ConditionPrior
    from models.metrics import generators
    from models.stylegan.conditional import load_generator
    from models.stylegan.task import sampler

    G = load_generator(folder)
    size = int(_config(folder)["size"])
    refs = ctx.generator_refs("stylegan", size, ctx.params.stylegan.samples)
    if G.conditional:
        prior = ConditionPrior.load(folder / "conditions.safetensors")
        sample = family.sampler(G, prior)
        scores = family.score(ctx.extractor, refs, sample, ctx.params.seed, True, G.schema, ctx.stylegan["judge"])
        return {**_split(scores), "size": size}
    out: dict = {"val": {}, "test": {}, "size": size}
    for s, ref in refs.items():
        fake = sampler(G)(len(ref.images), None, ctx.params.seed)
        out[s] = generators.unconditional_scores(ctx.extractor, ref, fake, ctx.params.seed)
    return out


def _sr(folder: Path, ctx: Context) -> dict:
    from models.sr.family import Split
    from models.sr.net import SrNet
    from models.sr.train import upscale

    net = SrNet.load(folder)
    size = int(_config(folder)["size"])
    p = ctx.params.sr
    if size not in ctx.sr["images"]:
        raise BadInput(f"no {size} px shard for sr (sr.sizes {p.sizes})")
    d = ctx.sr["images"][size]
    out: dict = {"size": size}
    for s in ("val", "test"):
        split = Split(ctx.extractor, d[s], p.scale, p.samples, ctx.params.seed)
        out[s] = split.score(upscale(net, split.lo))
    return out


def pose2sketch(folder: Path, ctx: Context) -> dict:
    from models.pose2sketch.family import _pick, scores
    from models.pose2sketch.net import UNet
    from models.pose2sketch.task import draw

    net = UNet.load(folder)
    data = ctx.pose2sketch
    out: dict = {"size": data["size"]}
    for s in ("val", "test"):
        sticks, sketches, joints = data["splits"][s]
        rows = _pick(len(sticks), ctx.params.pose2sketch.samples, ctx.params.seed)
        out[s] = scores(draw(net, sticks[rows]), sketches[rows], joints[rows], data["posenet"], data["size"])
    return out


def tagger(folder: Path, ctx: Context) -> dict:
    from models.tagger.baseline import LinearTagger
    from models.tagger.evaluate import report
    from models.tagger.net import TaggerNet, predict_proba

    config = _config(folder)
    if config.get("kind") == "hog-colour-logreg":
        model = LinearTagger.load(folder)
        size = ctx.params.tagger.size
        probs: Callable = model.probabilities
    else:
        net = TaggerNet.load(folder)
        size = int(config["size"])
        probs = functools.partial(predict_proba, net)
    thresholds = config.get("thresholds", {})
    out: dict = {"size": size}
    for s in ("val", "test"):
        x, y = ctx.tagger_split(size, s)
        rep = report(probs(x), y, thresholds)
        out[s] = {
            "macro_f1": rep["macro_f1"],
            **{f"macro_f1_by_group/{g}": v for g, v in rep["macro_f1_by_group"].items()},
        }
    return out


def posenet(folder: Path, ctx: Context) -> dict:
    """pck_0_05 over the kinds this run's params ask posenet to read (`pose.kinds`, the render stage's poses), and
    per kind: the candidate and the champion on the same images, whatever kinds each was trained on (a champion
    that never saw drawn figures is scored on them too)."""
    from models.pose.net import PoseNet, predict

    net = PoseNet.load(folder)
    config = _config(folder)
    size = int(config["size"])
    ps = ctx.poses
    if ps.size != size:
        raise BadInput(f"posenet of {size} px, pose set of {ps.size} px: not comparable")
    out: dict = {"size": size}
    for s in ("val", "test"):
        per_kind = {}
        for kind in ctx.params.pose.kinds:
            x, y = ps.split(s, kind)
            per_kind[kind] = metrics.get("pck_0_05").fn(predict(net, x), y, size)
        out[s] = {
            "pck_0_05": float(np.mean(list(per_kind.values()))),
            **{f"pck_0_05/{k}": v for k, v in per_kind.items()},
        }
    return out


SCORERS: dict[str, Callable[[Path, Context], dict]] = {
    "anime-tagger": tagger,
    "anime-posenet": posenet,
    "anime-dcgan": dcgan,
    "anime-stylegan": stylegan,
    "anime-sr": _sr,
    "anime-srgan": _sr,
    "anime-pose2sketch": pose2sketch,
}


def score(model: str, folder: str | Path, ctx: Context) -> dict:
    """{"val": {...}, "test": {...}, "size": int} of the bundle in `folder`, a version of `model`."""
    if model not in SCORERS:
        raise BadInput(f"no scorer for {model!r}; expected one of {', '.join(SCORERS)}")
    return SCORERS[model](Path(folder), ctx)
