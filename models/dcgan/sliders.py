"""DCGAN's attribute sliders: one per tag, as StyleGAN's, each moving a character's condition between embeddings.

A DCGAN character is a latent z and a condition: one value per attribute group, drawn from the training combinations
(models/dcgan/conditions.py) or asked for. The slider of tag `g=v` at a in (0, 1] gives group g the blend
(1 - a) e_g(current value) + a e_g(v) of its embedding rows in place of e_g(current value): at 1 the character is
conditioned on v, in between it moves continuously, and z and the other groups stay as they were. A yes/no group
has one slider, `g=yes`, from -1 to 1: below zero it moves towards `g=no`. Sliders of one group share it: their
shares add up, scaled to 1 when they exceed it. `Generator.forward` takes the blends as `soft` weights.

`control_success` is the rule StyleGAN's sliders are scored by (models/stylegan/sliders.py): latents and conditions
never used for anything else; each slider moved to the end of its range (+1, and -1 for a yes/no group); the judge
tagger reads the start and the moved image. A move counts where the start is on the other side of the tag (for +1
the tag is not read at the start, for -1 it is) and succeeds when the tag's reading crosses while no other group's
reading changes. Success = successes / counted moves, per tag.

The sliders follow the generator's attribute schema (`G.schema`, core/names.py): an annotators' extra group the
generator is conditioned on has its sliders by the same rules (`hat=yes` from -1 to 1), and the judge reads it with
its own head (models/tagger/extractor.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from core.names import FIXED, AttributeSchema
from models.dcgan.conditions import ConditionPrior
from models.dcgan.net import Generator
from models.engine.gan import to_uint8
from models.metrics.generators import Show, slider_moves, slider_tags
from models.tagger.extractor import Tagger


def two_sided(tag: str, schema: AttributeSchema = FIXED) -> bool:
    """A yes/no group's slider (`g=yes`) goes from -1 (towards no) to 1; the others from 0 to 1."""
    group, value = tag.split("=", 1)
    return list(schema.groups[group]) == ["no", "yes"] and value == "yes"


def ranges(schema: AttributeSchema = FIXED) -> dict[str, tuple[float, float]]:
    """Every slider of a generator conditioned on `schema`, with its range."""
    return {name: (-1.0 if two_sided(name, schema) else 0.0, 1.0) for name, _, _ in slider_tags(schema)}


def soft_condition(
    cond: torch.Tensor, sliders: dict[str, float], schema: AttributeSchema = FIXED
) -> list[torch.Tensor]:
    """Per group of `schema`, weights [B, values + 1] over its embedding rows: the condition `cond` [B, groups]
    (class indices, the null row where unconditioned) moved by `sliders` {tag: value in its range}."""
    weights = [F.one_hot(cond[:, i], n + 1).float() for i, n in enumerate(schema.sizes)]
    moves: dict[int, list[tuple[int, float]]] = {}
    lows = ranges(schema)
    for name, a in sliders.items():
        if name not in lows or not lows[name][0] <= a <= 1.0:
            raise ValueError(f"slider {name}={a}: the sliders are {', '.join(lows)} within their ranges")
        if a == 0:
            continue
        group, value = name.split("=", 1)
        target = schema.groups[group].index(value if a > 0 else "no")
        moves.setdefault(schema.names.index(group), []).append((target, abs(float(a))))
    for i, shares in moves.items():
        total = sum(s for _, s in shares)
        scale = 1.0 / total if total > 1 else 1.0
        w = weights[i] * (1.0 - min(total, 1.0))
        for k, s in shares:
            w[:, k] += s * scale
        weights[i] = w
    return weights


def conditions_for(prior: ConditionPrior | None, n: int, seed: int, schema: AttributeSchema = FIXED) -> torch.Tensor:
    """[n, groups of `schema`] class indices, the null row where a group is not conditioned: drawn from the training
    prior."""
    null = torch.tensor(schema.sizes)
    if prior is None:
        return null.expand(n, -1).clone()
    y = torch.from_numpy(prior.sample(n, np.random.default_rng(seed)))
    return torch.where(y < 0, null.expand_as(y), y)


# (latents [B, nz], conditions [B, groups], sliders) -> the latents a moved image is drawn from (a study's guide)
Nudge = Callable[[torch.Tensor, torch.Tensor, dict], torch.Tensor]


@torch.no_grad()
def _reads(
    G: Generator,
    judge: Tagger,
    z: torch.Tensor,
    cond: torch.Tensor,
    sliders: dict,
    show: Show | None,
    batch: int = 256,
    nudge: Nudge | None = None,
    psi: float = 1.0,
):
    out = []
    for i in range(0, len(z), batch):
        c = cond[i : i + batch]
        soft = soft_condition(c, sliders, G.schema) if sliders else None
        zb = nudge(z[i : i + batch], c, sliders) if nudge is not None and sliders else z[i : i + batch]
        images = to_uint8(G(zb, c, soft) if psi == 1.0 else G(zb, c, soft, psi))
        _, r = judge.read(show(images) if show else images)
        unread = [g for g in G.schema.names if g not in r]
        if unread:
            raise ValueError(f"the judge tagger reads no {', '.join(unread)}; the generator's sliders need it to")
        out.append(np.stack([r[g] for g in G.schema.names], axis=1))
    return np.concatenate(out)  # [n, groups]


def control_success(
    G: Generator,
    prior: ConditionPrior | None,
    judge: Tagger,
    n: int,
    seed: int,
    show: Show | None = None,
    nudge: Nudge | None = None,
    psi: float = 1.0,
) -> dict[str, float]:
    """Per tag: the share of counted full-range moves that cross the tag the intended way and change no other
    group's reading (module docstring); n latents and conditions drawn from `seed`, nothing else uses them. The
    judge reads the generator's images, or what `show` makes of them (the page's 4x upscale); `nudge` (a study's)
    gives the latents each moved image is drawn from (None: the drawn ones); `psi` < 1 draws every image at that
    truncation, as the service does (`Generator.forward`'s psi; the page's default is 0.7)."""
    G.eval()
    z = torch.randn(n, G.nz, generator=torch.Generator().manual_seed(seed))
    schema = G.schema
    cond = conditions_for(prior, n, seed, schema)
    start = _reads(G, judge, z, cond, {}, show, psi=psi)
    out = {}
    for name, g, k in slider_tags(schema):
        col = schema.names.index(g)
        ok = counted = 0
        for sign in (1.0, -1.0) if two_sided(name, schema) else (1.0,):
            moved = _reads(G, judge, z, cond, {name: sign}, show, nudge=nudge, psi=psi)
            good, n_moves = slider_moves(start, moved, col, k, sign)
            ok, counted = ok + good, counted + n_moves
        out[name] = ok / counted if counted else 0.0
    return out
