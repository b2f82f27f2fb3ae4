"""The serving bundles the `deploy` stage writes (data/deploy/<family>/), loaded without unpickling anything.

A bundle is what the registry holds for the champion version: `model.safetensors` + `config.json` (every network),
plus arrays: `conditions.safetensors` (the conditional generators' training combinations), `sliders.json` (their
sliders' test figures; with `sliders.safetensors`, the W directions of an unconditional StyleGAN version),
`index.npz` + `index.json` + `references.npy` (posenet's retrieval index and the 3D-model projections it points at;
posenet also reads the joints of a drawn stick figure, `read_drawing`), `arrays.npz` (the linear tagger). `card.json` is the model card. Loading reads safetensors, JSON and
`np.load(..., allow_pickle=False)` only.

    models = Models.load(Path("data/deploy"))     # what the service serves
    models.generate([7, 8, 9, 10], "stylegan", psi=0.7, sliders={"smile=yes": 0.5})   # uint8 [4, S, S, 3]
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.names import ATTRIBUTES, FIXED, GROUPS, JOINTS, AttributeSchema

FAMILIES = ("dcgan", "stylegan", "sr", "srgan", "pose2sketch", "posenet", "tagger")
DEPLOYED = "deployed.json"


def batch_size_for(n: int) -> int:
    """The batch a forward pass of `n` images is padded to: 1, 2, 3, 4, 6, 8, 12, 16, ... (each step about 1.5x).

    oneDNN builds and caches its kernels per input shape, a few MB each: a service that ran every batch size the
    micro-batcher happens to form (1 to 64) kept growing for minutes as new sizes came up. A dozen sizes, each
    warmed at start (`Models.warm`), bound that at a fixed cost; padding computes at most half as much again."""
    size = 1
    while size < n:  # a power of two p -> 1.5 p; 1.5 p -> 2 p
        size = size + 1 if size < 2 else size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return size


def batch_sizes(most: int) -> list[int]:
    """Every padded batch size a pass of 1 to `most` images uses."""
    return sorted({batch_size_for(n) for n in range(1, most + 1)})


def _padded(rows: list, n: int) -> list:
    return rows + [rows[-1]] * (batch_size_for(n) - n)


class BundleError(ValueError):
    """A bundle that is missing, incomplete or not what its config says."""


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise BundleError(f"{path}: {err}") from None


@dataclass
class Generator:
    """DCGAN or StyleGAN behind one interface: sample(count, seed, psi, sliders, conditions) -> uint8 [n, S, S, 3].

    Both have one slider per tag. DCGAN's and the conditional StyleGAN's blend a group's condition embedding from the
    character's value towards the tag (models/dcgan/sliders.py); a StyleGAN version of the unconditional route
    (registered before the conditional one) moves w along a direction (+-1 = +-step_sigmas standard deviations).
    `ranges` and `control_success` (the bundle's test figure per slider) are what the page shows beside each.
    A conditional generator's groups are its `schema` (its bundle's record: the six, then any annotators' extra
    group it was trained on); conditions and sliders are checked against it."""

    family: str
    net: torch.nn.Module
    size: int
    prior: object | None = None  # DCGAN: ConditionPrior
    directions: dict[str, np.ndarray] = field(default_factory=dict)  # StyleGAN: unit directions in W
    sigma: dict[str, float] = field(default_factory=dict)
    step_sigmas: float = 3.0
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    control_success: dict[str, float] = field(default_factory=dict)

    @property
    def sliders(self) -> list[str]:
        return list(self.ranges)

    @property
    def conditional(self) -> bool:
        return bool(getattr(self.net, "conditional", False))

    @property
    def schema(self) -> AttributeSchema:
        """The attribute groups it takes (an unconditional StyleGAN version: the six its sliders are named after)."""
        return getattr(self.net, "schema", FIXED)

    def check(self, sliders: dict[str, float], conditions: dict[str, str]) -> None:
        """A ValueError that says what is wrong with a request's sliders or conditions, if anything is."""
        unknown = sorted(set(sliders) - set(self.sliders))
        if unknown:
            raise ValueError(f"{self.family} has no slider {unknown[0]!r}; it has: {', '.join(self.sliders) or 'none'}")
        for name, v in sliders.items():
            lo, hi = self.ranges[name]
            if not lo <= v <= hi:
                raise ValueError(f"slider {name} of {self.family} goes from {lo:g} to {hi:g}, not {v}")
        if conditions and not self.conditional:
            raise ValueError(f"{self.family} does not take conditions; use sliders")
        groups = self.schema.groups
        for group, value in conditions.items():
            if group not in groups:
                raise ValueError(f"{self.family} has no attribute group {group!r}; its groups: {', '.join(groups)}")
            if not isinstance(value, str) or value not in groups[group]:
                raise ValueError(f"condition {group}={value!r}: expected {', '.join(groups[group])}")

    @torch.no_grad()
    def sample(
        self,
        seeds: list[int],
        psi: float = 1.0,
        sliders: dict[str, float] | None = None,
        conditions: dict[str, str] | None = None,
    ) -> np.ndarray:
        """One image per seed (the same seed gives the same character, whatever else is in the batch)."""
        from models.engine.gan import to_uint8

        self.net.eval()
        if self.family == "stylegan" and not self.conditional:  # a version of the unconditional route
            from models.stylegan.task import render

            z = torch.cat(
                [torch.randn(1, self.net.z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
            )
            w = self.net.map(z, psi)
            for name, value in (sliders or {}).items():  # +-1 on a slider is +-step_sigmas standard deviations
                n = torch.from_numpy(self.directions[name])
                w = w + float(value) * self.step_sigmas * self.sigma[name] * n
            # the noise inputs are drawn per image from its own seed, so a batch-mate never changes a character
            return np.concatenate([render(self.net, w[i : i + 1], int(s)) for i, s in enumerate(seeds)])
        cond = None
        schema = self.schema
        if self.conditional:
            null = torch.tensor(schema.sizes)
            rows = []
            for s in seeds:
                req = np.full((1, len(schema)), -1)
                for g, v in (conditions or {}).items():
                    req[0, schema.names.index(g)] = schema.index_of(g, v)
                rows.append(self.prior.sample(1, np.random.default_rng(int(s)), req) if self.prior is not None else req)
            y = torch.from_numpy(np.concatenate(rows))
            cond = torch.where(y < 0, null.expand_as(y), y)
        z = torch.cat([torch.randn(1, self.net.nz, generator=torch.Generator().manual_seed(int(s))) for s in seeds])
        soft = None
        if sliders and cond is not None:
            from models.dcgan.sliders import soft_condition

            soft = soft_condition(cond, sliders, schema)
        # truncation: the conditional StyleGAN pulls w towards its mean w, DCGAN shrinks z towards 0
        return to_uint8(self.net(z, cond, soft, psi))


def _conditioned(family: str, net: torch.nn.Module, folder: Path) -> Generator:
    """A generator with DCGAN's interface (DCGAN's, the conditional StyleGAN's): its training conditions and, when
    conditional, one slider per tag between the condition embeddings with its test control_success."""
    from models.dcgan.conditions import ConditionPrior

    cond = folder / "conditions.safetensors"
    prior = ConditionPrior.load(cond) if cond.exists() else None
    ranges, success = {}, {}
    if net.conditional:
        from models.dcgan.sliders import ranges as slider_ranges

        ranges = slider_ranges(net.schema)
        doc = _json(folder / "sliders.json") if (folder / "sliders.json").exists() else {}
        success = _figures(doc.get("control_success_by_tag"), ranges)
    return Generator(family, net, int(net.config["size"]), prior, ranges=ranges, control_success=success)


def _directed(folder: Path) -> Generator:
    """A StyleGAN version of the unconditional route: its sliders are unit directions in W (sliders.safetensors)."""
    from safetensors.torch import load_file

    from models.stylegan.net import Generator as StyleG

    net = _load(StyleG, folder)
    doc = _json(folder / "sliders.json")
    arrays = load_file(str(folder / "sliders.safetensors"))
    names = list(doc.get("tags", []))
    if len(names) != len(arrays["sigma"]):
        raise BundleError(f"{folder}: sliders.json names {len(names)} sliders, the arrays {len(arrays['sigma'])}")
    directions = {n: arrays["directions"][i].numpy().astype(np.float32) for i, n in enumerate(names)}
    sigma = {n: float(arrays["sigma"][i]) for i, n in enumerate(names)}
    return Generator(
        "stylegan",
        net,
        int(_json(folder / "config.json")["size"]),
        None,
        directions,
        sigma,
        float(doc.get("step_sigmas", 3.0)),
        {n: (-1.0, 1.0) for n in names},
        _figures(doc.get("control_success_by_tag"), directions),
    )


@dataclass(eq=False)  # compared and hashed by identity: a request is answered by the models it started with
class Models:
    """Every deployed bundle, loaded; `generator` is the one evaluate chose (or the only one deployed)."""

    root: Path
    deployed: dict
    generators: dict[str, Generator]
    default_generator: str
    upscalers: dict[str, torch.nn.Module]
    pose2sketch: torch.nn.Module | None
    posenet: torch.nn.Module | None
    index: object | None
    references: np.ndarray | None
    tagger: object | None
    tagger_thresholds: dict[str, float]
    cards: dict[str, dict]
    lock: threading.Lock = field(default_factory=threading.Lock)  # torch modules shared by request threads

    @classmethod
    def load(cls, root: str | Path) -> Models:
        root = Path(root)
        deployed = _json(root / DEPLOYED)
        families = deployed.get("families") if isinstance(deployed, dict) else None
        if not isinstance(families, dict) or not families:
            raise BundleError(f"{root / DEPLOYED}: no family deployed")
        for f in families:
            if f not in FAMILIES:
                raise BundleError(f"{root / DEPLOYED}: unknown family {f!r}")
            check_files(root / f)
        cards = {f: _json(root / f / "card.json") for f in families}
        models = cls._guarded(root, deployed, {f: root / f for f in families}, cards)
        if not models.generators:
            raise BundleError(f"{root}: no generator deployed (dcgan or stylegan)")
        return models

    @classmethod
    def from_bundle(cls, family: str, folder: str | Path) -> Models:
        """One family's bundle as the registry holds it (no card, no deploy record), loaded as `load` loads it: what
        a registered version's MLflow pyfunc model answers with (serve/pyfunc.py). Its card holds the bundle's size,
        which the deploy stage's card falls back to."""
        folder = Path(folder)
        if family not in FAMILIES:
            raise BundleError(f"{folder}: unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
        check_files(folder)
        size = bundle_size(folder)
        deployed = {"families": {family: {"model": f"anime-{family}", "size": size}}, "generator": None}
        return cls._guarded(folder, deployed, {family: folder}, {family: {"size": size}})

    @classmethod
    def _guarded(cls, root: Path, deployed: dict, folders: dict[str, Path], cards: dict) -> Models:
        try:
            return cls._load(root, deployed, folders, cards)
        except BundleError:
            raise
        except Exception as err:  # noqa: BLE001 (any loader's failure on a file that passed the checks before)
            raise BundleError(f"{root}: a bundle did not load ({type(err).__name__}: {err})") from None

    @classmethod
    def _load(cls, root: Path, deployed: dict, folders: dict[str, Path], cards: dict) -> Models:
        """The bundles of `folders` (family -> its folder) loaded."""
        gens: dict[str, Generator] = {}
        if "dcgan" in folders:
            from models.dcgan.net import Generator as DcganG

            gens["dcgan"] = _conditioned("dcgan", _load(DcganG, folders["dcgan"]), folders["dcgan"])
        if "stylegan" in folders and _json(folders["stylegan"] / "config.json").get("conditional"):
            from models.stylegan.conditional import ConditionalGenerator

            net = _load(ConditionalGenerator, folders["stylegan"])
            gens["stylegan"] = _conditioned("stylegan", net, folders["stylegan"])
        elif "stylegan" in folders:  # a version registered before the conditional route: sliders are directions in W
            gens["stylegan"] = _directed(folders["stylegan"])
        ups = {}
        for f in ("sr", "srgan"):
            if f in folders:
                from models.sr.net import SrNet

                ups[f] = _load(SrNet, folders[f])
        p2s = posenet = index = refs = None
        if "pose2sketch" in folders:
            from models.pose2sketch.net import UNet

            p2s = _load(UNet, folders["pose2sketch"])
        if "posenet" in folders:
            from models.pose.net import PoseNet
            from models.pose.retrieval import RetrievalIndex

            posenet = _load(PoseNet, folders["posenet"])
            index = RetrievalIndex.load(folders["posenet"])
            ref_path = folders["posenet"] / "references.npy"
            if ref_path.exists():
                refs = np.load(ref_path, allow_pickle=False)
                if len(refs) != len(index.ids):
                    raise BundleError(f"{ref_path}: {len(refs)} references for {len(index.ids)} index entries")
        tagger, thresholds = None, {}
        if "tagger" in folders:
            folder = folders["tagger"]
            cfg = _json(folder / "config.json")
            thresholds = cfg.get("thresholds", {})
            if cfg.get("kind") == "hog-colour-logreg":
                from models.tagger.baseline import LinearTagger

                tagger = LinearTagger.load(folder)
            else:
                from models.tagger.net import TaggerNet

                tagger = _load(TaggerNet, folder)
        default = deployed.get("generator") or next(iter(gens), "")
        if gens and default not in gens:
            default = next(iter(gens))
        return cls(root, deployed, gens, default, ups, p2s, posenet, index, refs, tagger, thresholds, cards)

    # --- the operations of the API --------------------------------------------------------------------------------

    def generate(self, seeds: list[int], family: str | None = None, psi: float = 1.0, sliders=None, conditions=None):
        """uint8 [len(seeds), S, S, 3]; the pass is padded to `batch_size_for(len(seeds))` with copies of the last
        seed (each image depends on its own seed only), except on the unconditional StyleGAN route, which renders
        one image at a time."""
        g = self.generators[family or self.default_generator]
        n = len(seeds)
        batched = n > 0 and not (g.family == "stylegan" and not g.conditional)
        with self.lock:
            return g.sample(_padded(list(seeds), n) if batched else seeds, psi, sliders, conditions)[:n]

    def upscale(self, images: np.ndarray, family: str = "sr") -> np.ndarray:
        """uint8 [N, s, s, 3] -> [N, 4s, 4s, 3], the pass padded like generate's."""
        from models.sr.train import upscale

        n = len(images)
        if n:
            images = np.concatenate([images, np.repeat(images[-1:], batch_size_for(n) - n, axis=0)])
        with self.lock:
            return upscale(self.upscalers[family], images)[:n]

    def warm(self, most_generated: int, most_upscaled: int) -> float:
        """Run every network once at each padded batch size the service asks of it, so that oneDNN's kernels for
        them are built before the first request (its latency is not the warm-up's) and the memory they take is
        taken at start; seconds spent. Generators: 1 to `most_generated` images (the micro-batcher's largest
        pass); upscalers: 1 to `most_upscaled` (one request's images) at each generator's size (an upload of
        another size is a shape of its own, at most the upload limit's side); the tagger, posenet and pose2sketch:
        one image."""
        import time

        start = time.perf_counter()
        for family, g in self.generators.items():
            for b in batch_sizes(most_generated) if g.family != "stylegan" or g.conditional else [1]:
                self.generate(list(range(b)), family)
        for family in self.upscalers:
            for size in sorted({g.size for g in self.generators.values()}):
                for b in batch_sizes(most_upscaled):
                    self.upscale(np.zeros((b, size, size, 3), np.uint8), family)
        if self.tagger is not None:
            self.read_tags(np.zeros((64, 64, 3), np.uint8))
        if self.pose2sketch is not None:
            self.sketch(np.zeros((len(JOINTS), 2), np.float32) + 8)
        return time.perf_counter() - start

    def sketch(self, joints: np.ndarray) -> dict:
        """joints [11, 2] in pixels of the pose size -> the stick figure, the sketch, and the closest reference."""
        from models.pose.net import embed_images
        from models.pose2sketch.task import draw
        from synth.pose.figure import draw_stick

        size = int(self.pose2sketch.config["size"]) if hasattr(self.pose2sketch, "config") else 64
        stick = draw_stick(np.asarray(joints, np.float32), size, 4, np.random.default_rng(0))  # fixed: deterministic
        with self.lock:
            sketch = draw(self.pose2sketch, stick[None])[0]
            out = {"stick": stick, "sketch": sketch, "reference": None, "reference_id": None}
            if self.posenet is not None and self.index is not None:
                joints_in = np.asarray(joints, np.float32)[None]  # the artist's own: no need to read them back
                r = int(self.index.nearest(embed_images(self.posenet, stick[None]), joints_in)[0])
                out["reference_id"] = self.index.ids[r]
                if self.references is not None:
                    out["reference"] = self.references[r]
        return out

    def read_drawing(self, image: np.ndarray) -> np.ndarray:
        """A picture of a stick figure (uint8 [H, W, 3]) -> posenet's 11 joints [11, 2] in pixels of the pose size
        over the picture padded to a square (models/pose/drawing.py); NoDrawing when it holds no figure."""
        from models.pose.drawing import read_drawing

        with self.lock:
            return read_drawing(self.posenet, image)

    def read_tags(self, image: np.ndarray) -> dict[str, tuple[str, np.ndarray]]:
        """uint8 [H, W, 3] -> per group the value read (the version's thresholds) and the probability of each of the
        group's values, in ATTRIBUTES' order; the image is first resized to the tagger's own size."""
        import cv2

        from models.tagger.evaluate import predict_groups

        size = int(self.cards["tagger"].get("size") or 64)  # a card without a size: the tagger's usual 64 px
        x = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)[None]
        with self.lock:
            if hasattr(self.tagger, "probabilities_from_features"):
                probs = self.tagger.probabilities(x)
            else:
                from models.tagger.net import predict_proba

                probs = predict_proba(self.tagger, x)
        pred = predict_groups(probs, self.tagger_thresholds)[0]
        return {g: (ATTRIBUTES[g][int(pred[k])], np.asarray(probs[g][0])) for k, g in enumerate(GROUPS)}

    def tag(self, image: np.ndarray) -> dict:
        """uint8 [H, W, 3] -> per group the read value and its probability (the tagger's own size)."""
        return {
            g: {"value": value, "p": round(float(p[ATTRIBUTES[g].index(value)]), 4)}
            for g, (value, p) in self.read_tags(image).items()
        }

    def info(self) -> dict:
        gens = {
            f: {
                "size": g.size,
                "sliders": g.sliders,
                "slider_ranges": {n: list(r) for n, r in g.ranges.items()},
                "control_success_by_tag": g.control_success,
                "conditional": g.conditional,
                "conditions": g.schema.as_config() if g.conditional else {},
                "extra_groups": list(g.schema.extra) if g.conditional else [],
            }
            for f, g in self.generators.items()
        }
        return {
            "generator": self.default_generator,
            "generators": gens,
            "upscalers": list(self.upscalers),
            "pose2sketch": self.pose2sketch is not None,
            "posenet": self.posenet is not None,
            "joints": list(JOINTS),
            "pose_size": int(self.pose2sketch.config["size"]) if self.pose2sketch is not None else None,
            "tagger": self.tagger is not None,
            "cards": self.cards,
            "deployed": self.deployed,
        }


def _figures(doc: object, names) -> dict[str, float]:
    """A bundle's control_success per slider (sliders.json), the finite numbers in [0, 1] of known sliders only."""
    if not isinstance(doc, dict):
        return {}
    return {
        k: float(v)
        for k, v in doc.items()
        if k in names and isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0
    }


def check_files(folder: Path) -> None:
    """Every safetensors and numpy file of a bundle whole and readable without pickles (else BundleError naming it)."""
    for path in sorted(folder.glob("*.safetensors")):
        check_safetensors(path)
    for path in sorted(folder.glob("*.np[yz]")):
        check_numpy(path)


def bundle_size(folder: Path) -> int | None:
    """The px a bundle's network reads or writes, from its config.json (`size`); None where it says none."""
    try:
        size = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("size")
    except (OSError, ValueError, AttributeError):
        return None
    return int(size) if isinstance(size, int | float) and not isinstance(size, bool) and size > 0 else None


def check_safetensors(path: Path) -> None:
    """A safetensors file whose header parses and whose tensors end exactly at the end of the file: a truncated
    or corrupt one is named here, before a loader fails on it with a message that does not say which file."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if size < 8 or n > min(size - 8, 1 << 26):
                raise BundleError(f"{path}: truncated or not a safetensors file ({size} bytes)")
            header = json.loads(f.read(n))
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except BundleError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError) as err:
        raise BundleError(f"{path}: not a readable safetensors file ({type(err).__name__}: {err})") from None
    if 8 + n + max(ends, default=0) != size:
        raise BundleError(
            f"{path}: truncated or padded: {size} bytes, its header describes {8 + n + max(ends, default=0)}"
        )


def check_numpy(path: Path) -> None:
    """An .npy or .npz file that numpy reads without pickles, every array whole; else BundleError naming it."""
    import zipfile

    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                for k in z.files:
                    z[k]
        else:
            np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise BundleError(f"{path}: not a readable numpy file ({type(err).__name__}: {err})") from None


def _load(cls, folder: Path):
    _json(folder / "config.json")  # a broken config is named here, file and all
    try:
        return cls.load(folder)
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        raise BundleError(f"{folder}: cannot load {cls.__name__} ({err})") from None
