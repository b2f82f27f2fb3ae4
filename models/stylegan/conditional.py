"""A conditional StyleGAN2-style generator: StyleGAN2-ADA's conditional mapping over the project's attribute groups.

The mapping network takes z and the condition together (Karras et al. 2020, StyleGAN2-ADA): each attribute group has
an embedding table (one row per value and a last row for "not conditioned", as DCGAN's generator has); the groups'
rows are concatenated, mapped by one fully connected layer to w_dim and normalised to unit RMS, then concatenated
with the normalised z and passed through the mapping layers. Synthesis is the unconditional generator's
(models/stylegan/net.py), without noise inputs: an image is a function of (z, condition) alone, so a slider's start
and end differ only by the move (the noise's few pixels of stochastic detail are not worth an image that flickers).

Its interface is DCGAN's generator's: `nz`, `conditional`, `G(z, cond, soft)` with `soft` (per group, weights over
the embedding rows) for the sliders, so the DCGAN task (D's projection term, AC heads and reader, models/dcgan/task.py)
trains it and DCGAN's continuous sliders (models/dcgan/sliders.py) steer it: a slider moves the condition's
embedding from the character's value towards the tag, and with it w, along the class embeddings.
"""

from __future__ import annotations

import json
import os

import torch
import torch.nn.functional as F
from torch import nn

from core.names import FIXED, AttributeSchema
from core.params import StyleganParams
from models.dcgan.net import null_condition
from models.engine import bundle
from models.stylegan.net import EqLinear, Generator, _act

MODEL = "anime-stylegan"


def _unit_rms(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class ConditionalGenerator(Generator):
    def __init__(
        self,
        size: int = 32,
        z_dim: int = 128,
        w_dim: int = 128,
        mapping: int = 4,
        base: int = 128,
        cap: int = 256,
        embed: int = 16,
        schema: AttributeSchema = FIXED,
    ):
        super().__init__(size, z_dim, w_dim, mapping, base, cap)
        if embed < 1:
            raise ValueError(f"a conditional generator needs an embedding (embed >= 1); got {embed}")
        self.config.update({"embed": embed, "groups": schema.as_config(), "conditional": True})
        self.nz = z_dim
        self.schema = schema  # the attribute groups it is conditioned on (core/names.py), recorded in its config
        self.embeds = nn.ModuleList([nn.Embedding(n + 1, embed) for n in schema.sizes])
        self.embed_fc = EqLinear(embed * len(schema), w_dim)
        self.mapping[0] = EqLinear(z_dim + w_dim, w_dim, lr_mul=0.01)
        for layer in self.layers:  # no noise inputs (module docstring)
            layer.noise_strength.requires_grad_(False)

    @property
    def conditional(self) -> bool:
        return True

    def condition(self, cond: torch.Tensor | None, soft: list[torch.Tensor] | None, n: int) -> torch.Tensor:
        """The condition's vector [n, w_dim] (unit RMS): from class indices `cond` [n, groups] (None: no condition),
        or from `soft` weights over each group's embedding rows (the sliders)."""
        if soft is not None:
            rows = [w.to(e.weight.dtype) @ e.weight for w, e in zip(soft, self.embeds, strict=True)]
        else:
            cond = null_condition(n, self.schema).to(self.const.device) if cond is None else cond
            rows = [e(cond[:, i]) for i, e in enumerate(self.embeds)]
        return _unit_rms(self.embed_fc(torch.cat(rows, dim=1)))

    def map(
        self,
        z: torch.Tensor,
        psi: float = 1.0,
        cond: torch.Tensor | None = None,
        soft: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        x = torch.cat([_unit_rms(z), self.condition(cond, soft, len(z))], dim=1)
        for layer in self.mapping:
            x = _act(layer(x))
        return x if psi == 1.0 else self.w_avg + psi * (x - self.w_avg)

    def synthesis(self, ws: torch.Tensor, noise_gen: torch.Generator | None = None) -> torch.Tensor:
        x = self.const.expand(len(ws), -1, -1, -1)
        x = _quiet(self.layers[0], x, ws[:, 0])
        rgb = self.to_rgb[0](x, ws[:, 1]) + self.rgb_bias[0].view(1, -1, 1, 1)
        i = 1
        for k in range(1, len(self.to_rgb)):
            x = _quiet(self.layers[i], x, ws[:, i])
            x = _quiet(self.layers[i + 1], x, ws[:, i + 1])
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False)
            rgb = rgb + self.to_rgb[k](x, ws[:, i + 2]) + self.rgb_bias[k].view(1, -1, 1, 1)
            i += 2
        return rgb

    def forward(
        self,
        z: torch.Tensor,
        cond: torch.Tensor | None = None,
        soft: list[torch.Tensor] | None = None,
        psi: float = 1.0,
    ) -> torch.Tensor:
        """z [B, z_dim], cond [B, groups] (class indices, the null row where unconditioned; None: none) or `soft`
        -> images [B, 3, S, S] (about [-1, 1]). Truncation pulls w towards the mean w of training."""
        w = self.map(z, psi, cond, soft)
        if self.training:
            with torch.no_grad():
                self.w_avg.lerp_(w.detach().mean(dim=0).to(self.w_avg.dtype), 0.005)
        return self.synthesis(self.broadcast(w))

    def save(self, folder: str | os.PathLike[str], extra: dict | None = None) -> None:
        bundle.save(self, folder, {**self.config, **(extra or {})})

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> ConditionalGenerator:
        keys = ("size", "z_dim", "w_dim", "mapping", "base", "cap", "embed")

        def build(config: dict) -> ConditionalGenerator:
            return cls(*(config[k] for k in keys), schema=AttributeSchema.recorded(config.get("groups")))

        return bundle.load(folder, build, "conditional StyleGAN generator")[0]


def load_generator(folder: str | os.PathLike[str]) -> Generator:
    """The generator of an `anime-stylegan` bundle: conditional (its config says so), or the unconditional one that
    versions registered before the conditional route hold (models/stylegan/net.py)."""
    from pathlib import Path

    try:
        config = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{folder}: not a generator bundle ({err})") from None
    return (ConditionalGenerator if config.get("conditional") else Generator).load(folder)


def _quiet(layer: nn.Module, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """A style layer without its noise input."""
    return _act(layer.conv(x, w) + layer.bias.view(1, -1, 1, 1))


def build(p: StyleganParams, size: int, images, labels, seed: int, schema: AttributeSchema = FIXED):
    """The generator of the `stylegan` section (initialised from `seed` + 1), its Adam (`lr_g`, `betas_g`: StyleGAN2's
    0.002 and (0, 0.99) suit its equalised learning rate), and the DCGAN task around it (models/dcgan/train.task_with:
    D of `p.discriminator`, initialised from `seed`, with its projection term, AC heads and reader; the conditions
    [N, groups of `schema`])."""
    from models.dcgan.train import task_with

    torch.manual_seed(seed + 1)
    G = ConditionalGenerator(size, p.z_dim, p.w_dim, p.mapping, p.base, p.cap, p.embed, schema)
    fused = {"fused": True} if torch.cuda.is_available() else {}
    opt_g = torch.optim.Adam(G.parameters(), lr=p.lr_g, betas=tuple(p.betas_g), **fused)
    torch.manual_seed(seed)
    task = task_with(G, opt_g, p.discriminator, True, p.lr_d, tuple(p.betas), size, images, labels)
    task.finish = lambda g_ema, gen: None  # no batch norm to recalibrate; w_avg followed training
    return task
