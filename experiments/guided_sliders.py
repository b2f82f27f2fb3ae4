"""Reader-guided sliders: does nudging a slider's latent with the generator's own reader make it move its attribute
and little else? Compared on validation only.

    .venv/bin/python -m experiments.guided_sliders                     # after `make pipeline` (or dvc repro train@dcgan)
    .venv/bin/python -m experiments.guided_sliders --data <clone>/data --family dcgan --only plain,keep_10
    -> experiments/results/guided-sliders-<profile>-<machine kind>.json

A slider moves one group's condition between its embeddings; z and the other groups stay, and yet the judge often
reads another group differently after the move, which is what fails `control_success` (docs/artist.md). A `Guide`
draws the moved image from a latent nudged by a few Adam steps so that the discriminator's reader, trained with the
generator, reads every other group as it read the start (and, with `move`, the moved group as the slider asks). The
judge that scores the sliders (the tagger stage's second seed) never guides them. Each variant of
experiments/guided_sliders.yaml is scored by the train stage's rule on the stage's validation latents and conditions
(seed + 11, `<family>.sliders.val` of them).

Beside the figure, the study reads the start images and the moved ones with both readers, per group: how often the
reader and the judge read the condition the generator was given, and how often each reads a group no slider moved
as it read it before the move. That tells a generator which draws other groups differently (both readers see the
change) from a judge which reads the same drawing differently (only the judge does).

Bundles: the train stage's generator (data/train/<family>/<family>-<size>, with the discriminator it was trained
against) and the judge (data/tagger/judge), from one pipeline run.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from core.names import AttributeSchema
from core.params import load_params
from experiments import ROOT, write_result
from models.dcgan import sliders
from models.dcgan.conditions import ConditionPrior
from models.dcgan.net import Discriminator
from models.dcgan.net import Generator as DcganGenerator
from models.engine import bundle
from models.engine.gan import to_uint8
from models.metrics.generators import slider_tags
from models.stylegan.conditional import load_generator
from models.tagger.extractor import load_judge

SETTINGS = ROOT / "experiments" / "guided_sliders.yaml"
LOADERS = {"dcgan": DcganGenerator.load, "stylegan": load_generator}


@dataclass(frozen=True)
class Guide:
    """`steps` of Adam at `lr` on z minimise, per image, the KL divergence of each unmoved group's reading (the
    reader's) from the start's, plus `move` times |a| the cross-entropy of the moved group's reading against its
    slider's value, plus `anchor` times the mean squared distance of the nudged latent from the drawn one."""

    steps: int = 0
    lr: float = 0.05
    move: float = 0.0
    anchor: float = 0.0


def load_reader(folder: Path) -> Discriminator:
    """The discriminator a generator bundle was trained against, in eval mode, frozen."""
    cfg = json.loads((folder / "discriminator.json").read_text())
    if not cfg.get("reader"):
        raise SystemExit(f"{folder}: its discriminator has no reader; nothing can guide the sliders")
    schema = AttributeSchema.recorded(cfg.get("groups"))
    D = Discriminator(cfg["size"], cfg["ndf"], cfg["conditional"], cfg.get("batchnorm", True), cfg["reader"], schema)
    D.load_state_dict(bundle.load_tensors(folder / "discriminator.safetensors"))
    return D.eval().requires_grad_(False)


def _moved(moves: dict[str, float], schema: AttributeSchema) -> dict[int, tuple[int, float]]:
    """{group column: (the class its sliders move towards, |a|)}, the largest share where a group has several."""
    out: dict[int, tuple[int, float]] = {}
    for name, a in moves.items():
        if a:
            group, value = name.split("=", 1)
            col, k = schema.names.index(group), schema.groups[group].index(value if a > 0 else "no")
            if col not in out or abs(a) > out[col][1]:
                out[col] = (k, abs(float(a)))
    return out


def guided(G, reader, z: torch.Tensor, cond: torch.Tensor, moves: dict[str, float], guide: Guide) -> torch.Tensor:
    """The latents [B, nz] the moved images are drawn from under `guide`: G(z', cond, soft)."""
    if not guide.steps or not moves:
        return z
    soft = sliders.soft_condition(cond, moves, G.schema)
    moved = _moved(moves, G.schema)
    with torch.no_grad():
        start = [F.log_softmax(r.float(), dim=1) for r in reader.read(G(z, cond))]
    kept = [i for i in range(len(start)) if i not in moved]
    zz = z.clone().requires_grad_(True)
    opt = torch.optim.Adam([zz], lr=guide.lr)
    with torch.enable_grad():
        for _ in range(guide.steps):
            reads = [F.log_softmax(r.float(), dim=1) for r in reader.read(G(zz, cond, soft))]
            loss = sum((start[i].exp() * (start[i] - reads[i])).sum() for i in kept)
            for i, (k, a) in moved.items():
                loss = loss - guide.move * a * reads[i][:, k].sum()
            loss = loss + guide.anchor * (zz - z).pow(2).mean(dim=1).sum()
            (zz.grad,) = torch.autograd.grad(loss, [zz])  # z's gradient alone: the networks stay as they are
            opt.step()
    return zz.detach()


def variants(path: Path = SETTINGS) -> dict[str, Guide]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {name: Guide(**(v or {})) for name, v in doc["variants"].items()}


def score(folder: Path, family: str, params, judge, guide: Guide, show=None) -> dict:
    """Validation control_success of the bundle's sliders under `guide`, with the train stage's latents."""
    G = LOADERS[family](folder)
    reader = load_reader(folder) if guide.steps else None
    prior = ConditionPrior.load(folder / "conditions.safetensors")
    n = getattr(params, family).sliders.val
    nudge = (lambda z, c, m: guided(G, reader, z, c, m, guide)) if reader is not None else None
    t0 = time.perf_counter()
    val = sliders.control_success(G, prior, judge, n, params.seed + 11, show, nudge)
    seconds = time.perf_counter() - t0
    moves = n * sum(2 if sliders.two_sided(t, G.schema) else 1 for t in val)
    return {
        "val_control_success": round(float(np.mean(list(val.values()))), 4),
        "val_lowest": round(float(min(val.values())), 4),
        "val_control_success_by_tag": {k: round(v, 4) for k, v in val.items()},
        "seconds": round(seconds, 1),
        "ms_per_moved_image": round(1000 * seconds / moves, 2),
    }


@torch.no_grad()
def readings(folder: Path, family: str, params, judge, guide: Guide) -> dict:
    """Per group, on the validation starts: how often the reader and the judge read the condition given; over every
    slider's full move: how often each reads the groups no slider moved as before the move."""
    G = LOADERS[family](folder).eval()
    reader = load_reader(folder)
    prior = ConditionPrior.load(folder / "conditions.safetensors")
    n, seed, schema = getattr(params, family).sliders.val, params.seed + 11, G.schema
    z = torch.randn(n, G.nz, generator=torch.Generator().manual_seed(seed))
    cond = sliders.conditions_for(prior, n, seed, schema)

    def both(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        r = np.stack([logits.argmax(1).numpy() for logits in reader.read(x)], 1)
        _, j = judge.read(to_uint8(x))
        return r, np.stack([j[g] for g in schema.names], 1)

    r0, j0 = both(G(z, cond))
    given = cond.numpy() < np.array(schema.sizes)  # the groups conditioned (not null)
    out = {"condition_read_at_start": {"reader": {}, "judge": {}}, "unmoved_kept": {"reader": {}, "judge": {}}}
    for i, g in enumerate(schema.names):
        for who, r in (("reader", r0), ("judge", j0)):
            out["condition_read_at_start"][who][g] = round(
                float((r[given[:, i], i] == cond[given[:, i], i].numpy()).mean()), 4
            )
    kept: dict[str, dict[str, list]] = {"reader": {g: [] for g in schema.names}, "judge": {g: [] for g in schema.names}}
    for name, g, _ in slider_tags(schema):
        moves = {name: 1.0}
        zz = guided(G, reader, z, cond, moves, guide)
        r1, j1 = both(G(zz, cond, sliders.soft_condition(cond, moves, schema)))
        for i, other in enumerate(schema.names):
            if other != g:
                kept["reader"][other].append(float((r1[:, i] == r0[:, i]).mean()))
                kept["judge"][other].append(float((j1[:, i] == j0[:, i]).mean()))
    for who, by_group in kept.items():
        out["unmoved_kept"][who] = {g: round(float(np.mean(v)), 4) for g, v in by_group.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--data", default=str(ROOT / "data"), help="the pipeline's outputs (train/, tagger/judge)")
    ap.add_argument("--family", action="append", choices=list(LOADERS), help="only these (repeatable)")
    ap.add_argument("--only", help="comma-separated variants of the settings file")
    ap.add_argument("--out", help="result file (default: experiments/results/guided-sliders-<profile>-<machine>.json)")
    args = ap.parse_args()
    params = load_params(ROOT / "params.yaml", args.profile)
    data = Path(args.data)
    judge = load_judge(data / "tagger/judge")
    chosen = variants()
    if args.only:
        chosen = {k: chosen[k] for k in args.only.split(",")}
    doc = {
        "what": "validation control_success of each family's sliders, plain and reader-guided "
        "(experiments/guided_sliders.yaml), and what the reader and the judge read",
        "profile": args.profile,
        "threads": torch.get_num_threads(),
        "families": {},
    }
    for family in args.family or list(LOADERS):
        size = getattr(params, family).sizes[0]
        folder = data / "train" / family / f"{family}-{size}"
        fam = doc["families"].setdefault(family, {"size": size, "variants": {}})
        for name, guide in chosen.items():
            fig = score(folder, family, params, judge, guide)
            fig["readings"] = readings(folder, family, params, judge, guide)
            fam["variants"][name] = {"guide": asdict(guide), **fig}
            print(f"{family} {name}: {fig['val_control_success']} (lowest {fig['val_lowest']}), "
                  f"{fig['ms_per_moved_image']} ms a moved image", flush=True)  # fmt: skip
    write_result(doc, "guided-sliders", args.profile, args.out)


if __name__ == "__main__":
    main()
