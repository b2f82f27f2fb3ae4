"""The one params loader: `params.yaml` -> typed, validated objects, with profiles chosen in one place.

The top-level values of params.yaml are the `cpu` profile (the default of `make pipeline`); `profiles.smoke` and
`profiles.gpu` override some of them. `profile:` picks the active one. Every profile is validated on every load, so
a typo in the gpu overrides fails on a laptop too. A wrong key or value stops with the key path, the value and what
was expected, e.g.

    params.yaml: ingest.sizes[1]: got 300, expected a value <= 256

Values are cast the lax way on purpose: `dvc exp run -S train.lr=0.00005` writes `5e-05`, which YAML reads as a
string; it becomes the float it means here.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import BadInput
from core.names import ATTRIBUTES, GROUPS, POSE_FAMILIES
from core.source_spec import parse_spec

PROFILES = ("smoke", "cpu", "gpu")


def group_weights(weights: dict[str, float]) -> dict[str, float]:
    """A loss weight per attribute group (1 where not given): known groups, weights in (0, 100]."""
    for g, w in weights.items():
        if g not in GROUPS or not 0 < w <= 100:
            raise ValueError(f"group_weights[{g!r}] = {w}: expected a group of {list(GROUPS)} and a weight in (0, 100]")
    return weights


class ParamsError(BadInput):
    pass


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(Section):
    lo: float
    hi: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.lo > self.hi:
            raise ValueError(f"lo ({self.lo}) must be <= hi ({self.hi})")
        return self


class NuisanceParams(Section):
    """Variation that is not an attribute: what makes the generated set hard."""

    tilt_deg: float = Field(ge=0, le=90)  # head roll, uniform in [-tilt, +tilt]
    scale: Range  # head size relative to the canonical layout
    jitter: float = Field(ge=0, le=0.3)  # centre shift, fraction of the image side
    brightness: Range  # multiplies the whole image
    clutter: float = Field(ge=0, le=1)  # probability of a cluttered (shapes, stripes) background
    occluder: float = Field(ge=0, le=1)  # probability of a hand or stray hair strands over the face
    line_width_jitter: float = Field(ge=0, le=1)  # relative spread of outline widths
    color_jitter: float = Field(ge=0, le=0.5)  # hue/saturation/value spread around each named colour


class GeneratedParams(Section):
    """The built-in generated face set (the default source)."""

    count: int = Field(ge=8, le=5_000_000)  # images
    views_per_character: int = Field(ge=1, le=32)  # same attributes/style, new pose, background, expression
    render_size: int = Field(ge=32, le=1024)  # px of the saved images
    supersample: int = Field(ge=1, le=4)  # drawn this many times larger, then downsampled (anti-aliasing)
    nuisance: NuisanceParams


class StyleParams(Section):
    """A drawing style over the rendered faces (synth/faces/style.py), for a `generated:<name>` source."""

    line_weight: int = Field(0, ge=0, le=4)  # px: dark lines thickened this much
    saturation: float = Field(1.0, ge=0, le=2)  # colour saturation scale
    levels: int = Field(0, ge=0, le=32)  # cel shading: levels per channel (0: off; else at least 2)
    tint: list[float] = Field([255.0, 240.0, 215.0], min_length=3, max_length=3)  # RGB paper tint
    tint_amount: float = Field(0.0, ge=0, le=1)

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels: int) -> int:
        if levels == 1:
            raise ValueError("levels = 1 would paint one flat colour: 0 (off) or at least 2")
        return levels

    @field_validator("tint")
    @classmethod
    def _tint(cls, tint: list[float]) -> list[float]:
        if not all(0 <= c <= 255 for c in tint):
            raise ValueError(f"{tint}: RGB values from 0 to 255")
        return tint


class SplitParams(Section):
    val: float = Field(ge=0, lt=0.5)
    test: float = Field(ge=0, lt=0.5)

    @model_validator(mode="after")
    def _room_for_train(self) -> SplitParams:
        if self.val + self.test >= 0.9:
            raise ValueError(f"val + test = {self.val + self.test:g} leaves too little for train (expected < 0.9)")
        return self


class CascadeParams(Section):
    """OpenCV cascade face cropping (lbpcascade_animeface by nagadomi; MIT; not shipped, see docs/data.md)."""

    path: str = "lbpcascade_animeface.xml"
    scale_factor: float = Field(1.1, gt=1.0, le=2.0)
    min_neighbors: int = Field(5, ge=0, le=50)
    min_size: int = Field(24, ge=8, le=1024)  # px
    margin: float = Field(0.0, ge=0, le=1.0)  # extra context around the y-0.1h..y+0.9h square, fraction of h


# a zip listing more entries than this is refused before its central directory is read: Python holds about 600
# bytes per entry while parsing it, so a million stays near 600 MB, within ingest's memory budget
MAX_ZIP_ENTRIES = 1_000_000


class ArchiveParams(Section):
    """Limits that keep a hostile zip (bombs, floods) from filling the disk; checked while streaming."""

    max_entries: int = Field(MAX_ZIP_ENTRIES, ge=1, le=MAX_ZIP_ENTRIES)  # extracted; the rest reported
    max_entry_bytes: int = Field(256 << 20, ge=1024)
    max_total_bytes: int = Field(50 << 30, ge=1024)
    max_ratio: float = Field(200.0, ge=1.0)  # uncompressed / compressed size of one entry


Layout = Literal["auto", "generic", "crypko", "moeimouto", "danbooru", "tagged", "animeface", "mlds"]
# auto: the layout's own (animeface for danbooru, else none)
Crop = Literal["auto", "none", "center", "animeface", "cascade"]


class SourceParams(Section):
    """One entry of `ingest.sources`: a collection, read in its layout, with the tag groups it carries."""

    spec: str  # generated | dir:<path> | zip:<path> | kaggle:<owner>/<dataset>[/versions/<N>]
    layout: Layout | None = None  # None: ingest.layout
    crop: Crop | None = None  # None: ingest.crop
    # the attribute groups whose tags this source carries (None: ingest.groups; []: none, an untagged source)
    groups: list[str] | None = None
    licence: str = Field("", max_length=500)  # a note for the model cards; "": the source's own or its layout's
    # a `generated:<name>` source only: how many images (None: generated.count) and its drawing style
    count: int | None = Field(None, ge=8, le=5_000_000)
    style: StyleParams | None = None

    @field_validator("spec")
    @classmethod
    def _spec(cls, spec: str) -> str:
        parse_spec(spec)  # the one parser of source specs; its ValueError names the forms expected
        return spec

    @model_validator(mode="after")
    def _generated_only(self) -> SourceParams:
        if (self.count is not None or self.style is not None) and parse_spec(self.spec).kind != "generated":
            raise ValueError(f"{self.spec}: `count` and `style` belong to a generated source (generated:<name>)")
        if self.style is not None and self.spec == "generated":
            raise ValueError("the built-in set is drawn as it is: give a styled set its own name (generated:<name>)")
        return self

    @field_validator("groups")
    @classmethod
    def _groups(cls, groups: list[str] | None) -> list[str] | None:
        return None if groups is None else known_groups(groups)


def known_groups(groups: list[str]) -> list[str]:
    """Distinct attribute groups of core/names.py, in its one order; ValueError otherwise."""
    unknown = [g for g in groups if g not in GROUPS]
    if unknown or len(set(groups)) != len(groups):
        raise ValueError(f"{groups}: expected distinct attribute groups of {list(GROUPS)}")
    return [g for g in GROUPS if g in groups]


class IngestParams(Section):
    # the collections ingested together, in this order (the first of two duplicates is kept); `source: <spec>` is
    # short for `sources: [{spec: <spec>}]` and replaces the list where both are written (`dvc exp run -S
    # ingest.source=dir:/faces` tries one folder alone)
    sources: list[SourceParams] = Field(min_length=1, max_length=64)
    layout: Layout = "auto"  # of each source that names none
    crop: Crop = "auto"  # of each source that names none
    cascade: CascadeParams = CascadeParams()
    archive: ArchiveParams = ArchiveParams()
    danbooru_ratings: list[Literal["s", "q", "e"]] = ["s"]  # safe only by default
    tag_map: dict[str, str] = {}  # extra source tag -> "group=value" entries, over the defaults in dataset/tagmap.py
    # the attribute groups read from a source's tags where it names none; the others are left unknown, for
    # annotators or the tagger (a source whose tags for a group are wrong, or experiments/active_learning.py hiding
    # groups from the generated set)
    groups: list[str] = list(GROUPS)
    executor: Literal["process", "dask"] = "process"
    dask_address: str = ""  # a Dask scheduler (tcp://host:8786); empty: a local cluster of `workers` processes
    cache: bool = True  # content-addressed decode cache in .cache/ingest: re-imports decode only new files
    kaggle_timeout_s: float = Field(10.0, gt=0, le=600)
    sizes: list[int] = Field(min_length=1)  # one packed shard per size, px
    split: SplitParams
    near_duplicate_bits: int = Field(ge=-1, le=32)  # perceptual-hash distance counted as a duplicate; -1: off
    workers: int = Field(ge=0, le=256)  # processes; 0 = one per core
    max_pixels: int = Field(ge=1024)  # larger images are rejected before decoding (bombs)

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, sizes: list[int]) -> list[int]:
        for i, s in enumerate(sizes):
            if not 32 <= s <= 256:
                raise ValueError(f"sizes[{i}] = {s}: expected a size from 32 to 256 px")
        if len(set(sizes)) != len(sizes):
            raise ValueError(f"{sizes}: expected each size once")
        return sorted(sizes)

    @model_validator(mode="before")
    @classmethod
    def _one_source(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "source" in raw:
            raw = dict(raw)
            raw["sources"] = [{"spec": raw.pop("source")}]
        return raw

    @field_validator("groups")
    @classmethod
    def _groups(cls, groups: list[str]) -> list[str]:
        return known_groups(groups)

    @field_validator("sources")
    @classmethod
    def _distinct(cls, sources: list[SourceParams]) -> list[SourceParams]:
        specs = [s.spec for s in sources]
        twice = sorted({s for s in specs if specs.count(s) > 1})
        if twice:
            raise ValueError(f"{twice}: each source once (a duplicate spec would import the same files twice)")
        return sources

    def groups_of(self, source: SourceParams) -> list[str]:
        """The groups whose tags `source` carries (its own list, else ingest.groups)."""
        return self.groups if source.groups is None else source.groups

    def layout_of(self, source: SourceParams) -> str:
        return source.layout or self.layout

    def crop_of(self, source: SourceParams) -> str:
        return source.crop or self.crop

    @field_validator("tag_map")
    @classmethod
    def _tag_map(cls, tag_map: dict[str, str]) -> dict[str, str]:
        for tag, target in tag_map.items():
            group, _, value = target.partition("=")
            if group not in ATTRIBUTES or value not in ATTRIBUTES[group]:
                raise ValueError(
                    f"tag_map[{tag!r}] = {target!r}: expected '<group>=<value>' with a group of "
                    f"{list(ATTRIBUTES)} and one of its values"
                )
        return tag_map


class RulerParams(Section):
    """The second ruler (models/ruler/): a self-supervised encoder trained on the training split, whose features are
    a second space for every generator figure (`fd_ssl`, `kid_ssl`, `precision_ssl`, `recall_ssl`)."""

    size: int = Field(ge=16, le=256)  # px it reads (images of other sizes are resized): the generators' first size
    width: int = Field(ge=2, le=256)  # channels of the first stage; 8x that is the feature dimension
    dim: int = Field(ge=2, le=1024)  # the projection the loss compares (not a feature)
    epochs: int = Field(ge=1, le=10_000)
    batch: int = Field(ge=4, le=8192)  # images per step: each gives two views, and every other view is a negative
    lr: float = Field(gt=0, le=1)
    weight_decay: float = Field(ge=0, le=1)
    temperature: float = Field(gt=0, le=10)
    min_scale: float = Field(gt=0, le=1)  # a view is a crop of this much of the side, or more
    jitter: float = Field(ge=0, le=1)  # brightness and contrast move by up to this much
    max_minutes: float = Field(gt=0)  # a guard against runaway runs (stops after the epoch that passes it)


class PixelBaselineParams(Section):
    """A linear model on raw pixels: the measure that the data set is not trivial."""

    size: int = Field(ge=16, le=128)  # which shard it reads
    C: list[float] = Field(min_length=1)  # inverse L2 strengths tried; the val split picks
    widen: int = Field(ge=0, le=6)  # decades added a side while the best C is at an end (models/tagger/grid.py)
    max_iter: int = Field(ge=10, le=100_000)
    max_train: int = Field(ge=10)  # subsample train for speed on big sets

    @field_validator("C")
    @classmethod
    def _positive(cls, cs: list[float]) -> list[float]:
        for i, c in enumerate(cs):
            if c <= 0:
                raise ValueError(f"C[{i}] = {c}: expected a positive inverse regularisation strength")
        return cs


class TaggerBaselineParams(Section):
    """HOG + colour-histogram features, one class-weighted logistic regression per group."""

    C: list[float] = Field(min_length=1)
    widen: int = Field(ge=0, le=6)  # as the pixel baseline's
    max_iter: int = Field(ge=10, le=100_000)
    max_train: int = Field(ge=10)

    @field_validator("C")
    @classmethod
    def _positive(cls, cs: list[float]) -> list[float]:
        if any(c <= 0 for c in cs):
            raise ValueError(f"{cs}: expected positive inverse regularisation strengths")
        return cs


class TaggerParams(Section):
    """The tagger CNN (and its judge twin, trained with seed + judge_seed_offset) and the baseline."""

    size: int = Field(ge=32, le=256)  # which shard the CNN reads
    width: int = Field(ge=4, le=256)  # channels of the first stage; 8x that is the feature dimension
    epochs: int = Field(ge=1, le=10_000)
    batch: int = Field(ge=2, le=4096)
    lr: float = Field(gt=0, le=1)
    weight_decay: float = Field(ge=0, le=1)
    label_smoothing: float = Field(ge=0, lt=1)
    shift: int = Field(ge=0, le=32)  # px: one random translation per batch, up to this far (edges replicated)
    max_minutes: float = Field(gt=0)  # per CNN: a guard against runaway runs (stops after the epoch that passes it)
    group_weights: dict[str, float]  # loss weight per attribute group (1 where not given)
    judge: bool  # train the independent judge CNN (another seed) for the slider test
    judge_seed_offset: int = Field(ge=1)
    # the share of the judge's training rows shown at judge_low_size px (area-averaged, enlarged back by repetition,
    # as it reads a generator's smaller images; models/tagger/train.py); 0: the judge learns as the CNN does
    judge_low_res: float = Field(ge=0, lt=1)
    judge_low_size: int = Field(ge=8, le=256)
    # the judge reads each image and its mirror and averages their probabilities, its thresholds calibrated on that
    # read (models/tagger/net.predict_proba `flip`); the CNN, the extractor, reads as before
    judge_read_flip: bool
    # an auto-tag counts (for the generators' conditions) only at a confidence whose auto-tags were right this often
    # on the labelled validation images of its group; below it, the group is unknown for that image
    auto_min_accuracy: float = Field(gt=0, le=1)
    # a source's own floor per group once it has this many labelled validation images of the group (its own tags or
    # annotations); until then it borrows the floor chosen on every source's validation images (models/tagger/trust.py)
    auto_min_labels: int = Field(ge=1, le=100_000)
    # an annotators' extra group (label.extra_groups) gets a tagger head from this many labelled training images
    # (models/tagger/extra.py); until then the metrics say how many it still needs
    extra_min_labels: int = Field(ge=2, le=100_000)
    baseline: TaggerBaselineParams

    @field_validator("group_weights")
    @classmethod
    def _group_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        return group_weights(weights)

    @model_validator(mode="after")
    def _judge_low_size(self) -> TaggerParams:
        if self.judge_low_res and self.judge_low_size >= self.size:
            raise ValueError(
                f"tagger.judge_low_size {self.judge_low_size} must be below tagger.size {self.size} "
                "(or judge_low_res 0)"
            )
        return self


class RenderCounts(Section):
    train: int = Field(ge=2)
    val: int = Field(ge=2)
    test: int = Field(ge=2)


class DrawnStyle(Section):
    """How the hand-drawn-style figures are drawn (synth/pose/drawn.py); pixels of a 64 px image."""

    wobble: float = Field(ge=0, le=4)  # px: the largest sideways drift of a stroke (low-frequency noise)
    width: Range  # px: the stroke width of a figure, uniform in [lo, hi]
    ends: float = Field(ge=0, le=4)  # px: a stroke's end stops short of its joint or runs past it by up to this
    elbows: float = Field(ge=0, le=1)  # share of figures whose arms bend at the elbow
    no_neck: float = Field(ge=0, le=1)  # share of figures whose head sits on the neck (no neck stroke)

    @field_validator("width")
    @classmethod
    def _width(cls, width: Range) -> Range:
        if not 0.3 <= width.lo <= width.hi <= 6:
            raise ValueError("a stroke width range within [0.3, 6] px")
        return width


class DrawnParams(Section):
    """The `drawn` kind: the training split's style is chosen on validation; validation and test keep theirs."""

    train: DrawnStyle
    held_out: DrawnStyle  # val and test: the figures posenet is judged on


class RenderParams(Section):
    """The OpenCV pose sets (synth/pose/skeleton.py, synth/pose/figure.py, synth/pose/drawn.py)."""

    size: int = Field(ge=32, le=512)  # px of every saved image
    supersample: int = Field(ge=1, le=8)  # drawn this many times larger, then area-averaged down
    count: RenderCounts  # poses (each: a stick figure, a projection and a sketch) per split
    families: list[str]
    max_yaw: float = Field(ge=0, le=90)  # degrees either side of the front (or of the back)
    back_view: float = Field(ge=0, le=1)  # share of cameras behind the character
    workers: int = Field(ge=0, le=256)  # processes; 0 = one per core
    drawn: DrawnParams

    @field_validator("families")
    @classmethod
    def _families(cls, families: list[str]) -> list[str]:
        bad = [f for f in families if f not in POSE_FAMILIES]
        if bad or not families or len(set(families)) != len(families):
            raise ValueError(f"a non-empty list of distinct families from {list(POSE_FAMILIES)}")
        return families


class RetrievalParams(Section):
    """How the retrieval index returns a reference (models/pose/retrieval.py `rerank`), chosen on validation
    (experiments/retrieval_rerank.py)."""

    k: int = Field(ge=1, le=1000)  # the embedding's nearest projections put in order by joints (1: the nearest alone)
    weight: float = Field(ge=0, le=1e6)  # of the joint distance, beside the embedding distance
    joints: Literal["predicted", "rendered"]  # the projections': posenet's reading of each image, or the render's


class PoseParams(Section):
    """posenet and the retrieval index (stages/pose.py)."""

    width: int = Field(ge=4, le=256)  # channels of the first stage
    epochs: int = Field(ge=1, le=10000)
    batch: int = Field(ge=6, le=4096)  # images per step: batch // len(kinds) poses, every kind of each
    lr: float = Field(gt=0, le=1)
    weight_decay: float = Field(ge=0, le=1)
    heatmap_weight: float = Field(ge=0, le=100)
    sigma: float = Field(gt=0, le=8)  # of the Gaussian heatmap target, in heatmap cells
    place: float = Field(ge=0, le=1)  # share of training images placed anew (random scale and translation)
    scale: Range
    embed_weight: float = Field(ge=0, le=100)  # the contrastive loss of the retrieval embedding
    embed_detached: bool  # true: that loss trains the embedding branch only, never the shared trunk
    temperature: float = Field(gt=0, le=10)
    kinds: list[Literal["stick", "sketch", "projection", "drawn"]]  # trained on
    label_weight: float = Field(ge=0, le=100)  # the joint loss of annotated sketches (data/label/joints.json)
    max_minutes: float = Field(gt=0)  # a guard against runaway runs (stops after the epoch that passes it)
    retrieval: RetrievalParams  # scoring and serving alone: posenet trains the same whatever it says

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, kinds: list[str]) -> list[str]:
        if "projection" not in kinds or len(set(kinds)) != len(kinds):
            raise ValueError("distinct kinds including projection (the retrieval index embeds projections)")
        return kinds


class LabelParams(Section):
    """Label Studio projects (labeling/) and the `label` stage."""

    extra_groups: dict[str, list[str]]  # attribute groups to label beyond the pipeline's (tags project only)
    pose_tasks: int = Field(ge=0, le=1_000_000)  # pose-set sketches pushed to the pose project per sync
    tag_tasks: int = Field(ge=0, le=1_000_000)  # ingested images pushed to the tags project per sync
    order: Literal["uncertainty", "random"]  # which new images a push offers first (labeling/candidates.py)
    # images of the pose project besides the render sketches (an illustration folder, an artist's own sketches):
    # dir:<path> | zip:<path> | kaggle:<owner>/<dataset>; "" none. Imported by stage pose_import, locked like ingest's
    pose_source: str
    joint_tolerance: float = Field(gt=0, le=0.5)  # a pose task is disputed beyond this share of the image size
    max_annotations: int = Field(ge=1, le=20)  # a disputed task is sent back until it has this many annotations

    @field_validator("pose_source")
    @classmethod
    def _pose_source(cls, source: str) -> str:
        if source and parse_spec(source).kind == "generated":
            raise ValueError("the generated faces have no bodies to pose; expected dir:, zip: or kaggle: (or '')")
        return source

    @field_validator("extra_groups")
    @classmethod
    def _extra(cls, groups: dict[str, list[str]]) -> dict[str, list[str]]:
        for g, values in groups.items():
            if g in ATTRIBUTES or not g.isidentifier():
                raise ValueError(
                    f"extra_groups[{g!r}]: a new group name (letters, digits, _), not one of the pipeline's"
                )
            if len(values) < 2 or len(set(values)) != len(values):
                raise ValueError(f"extra_groups[{g!r}]: at least two distinct values")
        return groups


class WatchdogParams(Section):
    """The GAN failure watchdog (models/engine/watchdog.py)."""

    stop: bool  # stop training early when a condition fires (else: tag the run and go on)
    window: int = Field(ge=1)  # steps in a row of D accuracy >= d_accuracy: `discriminator_wins`
    d_accuracy: float = Field(gt=0.5, le=1)
    collapse_ratio: float = Field(ge=0, lt=1)  # sample diversity below this share of the real images': collapse
    warmup: int = Field(ge=0)  # steps before the collapse check starts: an untrained G is near-constant


class TransferParams(Section):
    """Fine-tune a registered generator on the images of one tag, beside a from-scratch run of the same steps."""

    tag: str  # "<group>=<value>", e.g. hair_color=red; "" : no transfer run
    source: str  # "run": the version this stage just trained; a version number; or an alias (champion)
    steps: int = Field(ge=1)
    samples: int = Field(ge=8)  # images each model generates for its KID against the tag's held-out images

    @field_validator("tag")
    @classmethod
    def _tag(cls, tag: str) -> str:
        group, _, value = tag.partition("=")
        if tag and (group not in ATTRIBUTES or value not in ATTRIBUTES[group]):
            raise ValueError(f"'<group>=<value>' with a group of {list(ATTRIBUTES)} and one of its values, or ''")
        return tag


class GanEvalParams(Section):
    samples: int = Field(ge=16)  # generated images per split (at most the split's size), the same for the floor
    pca_components: list[int] = Field(min_length=1)  # the PCA-Gaussian baseline's choices (validation picks)


class GanEngineParams(Section):
    """How the adversarial engine (models/engine/gan.py) trains a family's G and D: `gan.config(section)`."""

    steps: int = Field(ge=1)
    batch: int = Field(ge=2, le=4096)  # global: over all torchrun processes
    lr_g: float = Field(gt=0, le=1)
    lr_d: float = Field(gt=0, le=1)
    betas: tuple[float, float]  # Adam's
    r1_gamma: float = Field(ge=0)  # 0: no R1 penalty
    r1_every: int = Field(ge=1)  # lazy regularisation interval
    ema_beta: float = Field(ge=0, lt=1)
    augment: list[Literal["color", "translation", "cutout"]]  # DiffAugment policy
    # auto: bf16 on CUDA; native: bf16 wherever the hardware computes it (CUDA, a CPU with AVX-512 BF16 or AMX), fp32
    # elsewhere; bf16: also where it is emulated (51x slower on an AVX2 CPU). bf16 changes the numbers.
    amp: Literal["auto", "native", "bf16", "off"]
    channels_last: bool
    checkpoint_every: int = Field(ge=1)  # steps
    keep: int = Field(ge=1)  # checkpoints kept
    sample_every: int = Field(ge=1)  # grid from fixed inputs to MLflow, and the collapse check
    log_every: int = Field(ge=1)
    max_minutes: float = Field(gt=0)  # per training: a guard, never the usual stop
    watchdog: WatchdogParams


class ReaderParams(Section):
    """D's own attribute reader (models/dcgan/net.py): a tagger-shaped CNN trained on real training images only."""

    width: int = Field(ge=0, le=256)  # 0: none
    lr: float = Field(gt=0, le=1)
    weight: float = Field(ge=0, le=100)  # its cross-entropy in G's loss
    # how it learns, as the tagger does (models/tagger/train.py): without these it memorises the training images
    flip: bool  # horizontal flips per image
    shift: int = Field(ge=0, le=32)  # px: one random translation per batch, up to this far (edges replicated)
    weight_decay: float = Field(ge=0, le=1)  # decoupled (AdamW), on the reader's weights only
    label_smoothing: float = Field(ge=0, lt=1)
    # per attribute group, a factor on that group's cross-entropy in G's loss (unnamed groups: 1)
    group_weights: dict[str, float]
    # moved pairs: each row drawn again with one group's condition moved, read as moved and otherwise as before
    pair_weight: float = Field(ge=0, le=100)  # 0: none

    @field_validator("group_weights")
    @classmethod
    def _group_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        return group_weights(weights)


class SliderParams(Section):
    """Attribute sliders between the condition embeddings (models/dcgan/sliders.py; DCGAN's and the conditional
    StyleGAN's): latents and conditions scored per split."""

    val: int = Field(ge=1)
    test: int = Field(ge=1)  # control_success reported (500 or more for a steady figure)


class DiscriminatorParams(Section):
    """DCGAN's discriminator (models/dcgan/net.py: projection term, AC heads, reader) as another family's D, with
    the conditioning recipe of the DCGAN task (models/dcgan/task.py); the fields are the `dcgan` section's."""

    ndf: int = Field(ge=4, le=512)
    batchnorm: bool
    cond_dropout: float = Field(ge=0, le=1)
    group_dropout: float = Field(ge=0, le=1)
    ac_weight: float = Field(ge=0, le=100)
    reader: ReaderParams


class DcganParams(GanEngineParams):
    """The DCGAN family (`anime-dcgan`, models/dcgan/), trained by the adversarial engine (models/engine/gan.py)."""

    sizes: list[int] = Field(min_length=1)  # one model per resolution; the first is the family's headline
    nz: int = Field(ge=1, le=1024)  # latent size
    ngf: int = Field(ge=4, le=512)  # G channels at the last doubling (x 2^(k-1) at the first)
    ndf: int = Field(ge=4, le=512)  # D channels of the first layer
    embed: int = Field(ge=0, le=256)  # condition embedding per attribute group; 0: unconditional only
    cond_bn: bool  # the condition also sets G's batch-norm gains and biases (BigGAN); needs embed > 0
    d_batchnorm: bool
    cond_dropout: float = Field(ge=0, le=1)  # share of images trained without any condition (unconditional)
    group_dropout: float = Field(ge=0, le=1)  # of the others, per group: share trained without it (partial)
    ac_weight: float = Field(ge=0, le=100)  # auxiliary classifier loss (AC-GAN) of D's heads
    reader: ReaderParams
    transfer: TransferParams
    eval: GanEvalParams
    sliders: SliderParams

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, sizes: list[int]) -> list[int]:
        for i, s in enumerate(sizes):
            if s not in (32, 64, 96, 128, 256):
                raise ValueError(f"sizes[{i}] = {s}: expected 32, 64, 96, 128 or 256 (also in ingest.sizes)")
        return sizes

    def discriminator(self) -> DiscriminatorParams:
        """This section's discriminator and conditioning recipe, in the shape another family's D takes."""
        return DiscriminatorParams(
            ndf=self.ndf,
            batchnorm=self.d_batchnorm,
            cond_dropout=self.cond_dropout,
            group_dropout=self.group_dropout,
            ac_weight=self.ac_weight,
            reader=self.reader,
        )


class SrContentParams(Section):
    """`anime-sr`: the super-resolution generator on the content (L1) loss, trained by the one loop."""

    epochs: int = Field(ge=1)
    batch: int = Field(ge=2, le=4096)
    lr: float = Field(gt=0, le=1)
    max_minutes: float = Field(gt=0)  # a guard


class SrganParams(GanEngineParams):
    """`anime-srgan`: `anime-sr` fine-tuned by the adversarial engine with content and perceptual losses."""

    ndf: int = Field(ge=4, le=512)  # D channels of its first layer
    content_weight: float = Field(ge=0)  # L1 to the true image, beside the adversarial loss (weight 1)
    perceptual_weights: list[float] = Field(min_length=1)  # one SRGAN each; validation fd_tagger picks


class SrParams(Section):
    """The super-resolution family (models/sr/): `anime-sr` and `anime-srgan`, 4x."""

    sizes: list[int] = Field(min_length=1)  # high-resolution side, one model each (a shard of ingest.sizes)
    scale: Literal[4]
    channels: int = Field(ge=4, le=512)
    blocks: int = Field(ge=1, le=64)  # residual blocks at the low resolution
    content: SrContentParams
    gan: SrganParams
    samples: int = Field(ge=16)  # images per split scored (at most the split's size)
    patch: int = Field(ge=0)  # high-resolution side of the training crops (0: whole images); scored on whole ones

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, sizes: list[int]) -> list[int]:
        for i, s in enumerate(sizes):
            if s not in (64, 128, 256):
                raise ValueError(f"sizes[{i}] = {s}: expected 64, 128 or 256 (also in ingest.sizes)")
        return sizes

    @model_validator(mode="after")
    def _patch(self) -> SrParams:
        if self.patch and (self.patch % (4 * self.scale) or self.patch > min(self.sizes)):
            raise ValueError(
                f"patch {self.patch}: expected 0 (whole images) or a multiple of {4 * self.scale} up to the smallest "
                f"size ({min(self.sizes)})"
            )
        return self


class Pose2sketchParams(GanEngineParams):
    """The pose -> sketch family (`anime-pose2sketch`, models/pose2sketch/), at the render stage's size."""

    ngf: int = Field(ge=4, le=512)  # U-Net channels of its first layer
    ndf: int = Field(ge=4, le=512)  # PatchGAN channels of its first layer
    l1_weight: float = Field(ge=0)  # L1 to the true sketch beside the adversarial loss (weight 1); pix2pix: 100
    samples: int = Field(ge=8)  # pairs scored per split (at most the split's size)


class StyleganParams(GanEngineParams):
    """The conditional StyleGAN2-style family (`anime-stylegan`, models/stylegan/): its generator, DCGAN's
    discriminator and conditioning, trained by the engine. `lr_g` and `betas_g` are G's Adam, `lr_d` and `betas` D's."""

    sizes: list[int] = Field(min_length=1)  # one model per resolution (a shard of ingest.sizes); the first headlines
    z_dim: int = Field(ge=1, le=1024)
    w_dim: int = Field(ge=1, le=1024)
    mapping: int = Field(ge=1, le=8)  # fully connected layers (z, condition) -> w
    base: int = Field(ge=4, le=1024)  # channels = base * 32 / resolution, at most cap
    cap: int = Field(ge=4, le=1024)
    embed: int = Field(ge=1, le=256)  # condition embedding per attribute group, mapped to w_dim
    betas_g: tuple[float, float]  # G's Adam (StyleGAN2's (0, 0.99) with its equalised learning rate)
    discriminator: DiscriminatorParams
    samples: int = Field(ge=16)  # generated images per split scored (at most the split's size)
    sliders: SliderParams

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, sizes: list[int]) -> list[int]:
        for i, s in enumerate(sizes):
            if s not in (32, 64, 128, 256):
                raise ValueError(f"sizes[{i}] = {s}: expected 32, 64, 128 or 256 (also in ingest.sizes)")
        return sizes


class FlowsParams(Section):
    """Prefect (flows/): the schedules `make schedule` serves and how a run treats failures and another run."""

    timezone: str  # IANA name; the cron below is read in it (daylight saving included)
    pipeline_cron: str  # when the scheduled pipeline runs (5 cron fields)
    label_sync_minutes: float = Field(gt=0, le=24 * 60)  # the Label Studio sync's interval
    retries: int = Field(ge=0, le=10)  # retries of a stage that exits 75 (transient); exit 2 is never retried
    retry_delay_seconds: list[float] = Field(min_length=1)  # backoff between those retries (the last repeats)
    on_busy: Literal["wait", "skip"]  # a pipeline run that finds another in progress
    wait_minutes: float = Field(ge=0, le=24 * 60)  # how long `wait` waits before giving up (the run fails)
    workspace: str  # the scheduled run's own clone (relative to the checkout; must lie outside it)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Europe/Berlin or UTC)") from None
        return v

    @field_validator("pipeline_cron")
    @classmethod
    def _five_fields(cls, v: str) -> str:
        if len(v.split()) != 5 or not re.fullmatch(r"[0-9*/,\- A-Za-z]+", v):
            raise ValueError(f"{v!r} is not a 5-field cron expression (minute hour day month weekday)")
        return v

    @field_validator("retry_delay_seconds")
    @classmethod
    def _non_negative(cls, v: list[float]) -> list[float]:
        if any(d < 0 for d in v):
            raise ValueError("delays must be >= 0 seconds")
        return v


class Params(Section):
    profile: Literal["smoke", "cpu", "gpu"]
    seed: int = Field(ge=0, le=2**31 - 1)
    generated: GeneratedParams
    ingest: IngestParams
    pixel_baseline: PixelBaselineParams
    tagger: TaggerParams
    ruler: RulerParams
    render: RenderParams
    pose: PoseParams
    label: LabelParams
    flows: FlowsParams
    dcgan: DcganParams
    sr: SrParams
    pose2sketch: Pose2sketchParams
    stylegan: StyleganParams


def _deep_merge(base: dict[str, Any], over: dict[str, Any], path: str = "") -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value, f"{path}{key}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _explain(err: ValidationError, origin: str) -> str:
    lines = []
    for e in err.errors():
        where = _where(tuple(p for p in e["loc"] if p not in ("function-after",)))
        value = e.get("input")
        if e["type"] == "extra_forbidden":
            lines.append(f"{origin}: {where}: unknown key (value {value!r}); check the spelling")
        elif e["type"] == "missing":
            lines.append(f"{origin}: {where}: missing, expected a value")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{origin}: {where}: got {value!r}, expected: {msg}")
    return "\n".join(lines)


def resolve(raw: dict[str, Any], profile: str | None = None, origin: str = "params.yaml") -> Params:
    """Merge the chosen profile's overrides over the top level and validate; validate every other profile too."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{origin}: expected a mapping at the top level, got {type(raw).__name__}")
    raw = dict(raw)
    profiles = raw.pop("profiles", {}) or {}
    if not isinstance(profiles, dict):
        raise ParamsError(f"{origin}: profiles: expected a mapping of profile name to overrides")
    for name in profiles:
        if name not in PROFILES:
            raise ParamsError(f"{origin}: profiles.{name}: unknown profile, expected one of {', '.join(PROFILES)}")
    chosen = profile or raw.get("profile", "cpu")
    if chosen not in PROFILES:
        raise ParamsError(f"{origin}: profile: got {chosen!r}, expected one of {', '.join(PROFILES)}")
    result = None
    for name in PROFILES:
        overrides = profiles.get(name) or {}
        if not isinstance(overrides, dict):
            raise ParamsError(f"{origin}: profiles.{name}: expected a mapping of overrides")
        merged = _deep_merge(raw, overrides)
        merged["profile"] = name
        try:
            params = Params.model_validate(merged)
        except ValidationError as err:
            label = origin if name == "cpu" else f"{origin} (profile {name})"
            raise ParamsError(_explain(err, label)) from None
        if name == chosen:
            result = params
    assert result is not None
    return result


def load_params(path: str | Path = "params.yaml", profile: str | None = None) -> Params:
    """Read and validate params.yaml; `profile` overrides its `profile:` key (the tests use this)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found (run from the repository root)") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    return resolve(raw or {}, profile=profile, origin=str(path))
