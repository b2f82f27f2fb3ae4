"""DCGAN networks (`anime-dcgan`) whose layer stack follows the resolution, conditional on the attribute groups.

The PyTorch DCGAN example hard-codes 64 px: G maps z through a 4x4 transposed convolution and four doublings to 64,
D mirrors it. Here `size` = base * 2^k with base 4 (32, 64, 128, 256) or 3 (96): G starts at base x base with
ngf * 2^(k-1) channels and halves them at each of its k doublings; D halves the side k times from ndf channels and
ends in a base x base convolution. At 64 px with ngf = ndf = 64 and nz = 100 these are the example's networks.

One network samples both ways (condition dropout): each attribute group has an embedding with one extra "null"
entry (index = the group's class count) meaning "not conditioned"; training drops each group's condition with
probability `cond_dropout`, so all-null is unconditional sampling and any subset of groups can be asked for.
D is a projection discriminator (Miyato and Koyama 2018; the null entry projects to zero) with an auxiliary classifier
head per group (AC-GAN): G learns to make D read the requested value. D scores nothing that is reported: the metrics
use the pinned tagger, which never gives G gradients.

The groups are an `AttributeSchema` (core/names.py): the six fixed ones, then any annotators' extra group the tagger
has a head for; the generator's config.json records it (`groups`), and a bundle without extra groups is the six.

Layouts: z [B, nz], cond [B, groups] (class indices, null where unconditioned), images [B, 3, S, S] in [-1, 1].
"""

from __future__ import annotations

import math
import os

import torch
from torch import nn

from core.names import FIXED, AttributeSchema
from models.engine import bundle
from models.tagger.net import TaggerNet

MODEL = "anime-dcgan"
SIZES = (32, 64, 96, 128, 256)


def layout(size: int) -> tuple[int, int]:
    """(base, doublings) with size = base * 2 ** doublings, base 3 or 4."""
    for base in (4, 3):
        k = math.log2(size / base)
        if size % base == 0 and k == int(k) and k >= 2:
            return base, int(k)
    raise ValueError(f"size {size}: expected 3 or 4 times a power of two of at least 4 (e.g. {SIZES})")


def null_condition(n: int, schema: AttributeSchema = FIXED) -> torch.Tensor:
    """[n, groups]: every group unconditioned."""
    return torch.tensor(schema.sizes).repeat(n, 1)


def _init(m: nn.Module) -> None:  # the DCGAN paper's initialisation
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d) and m.affine:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class CondBatchNorm(nn.Module):
    """Batch norm whose gain and bias are linear functions of the condition (BigGAN's conditional batch norm):
    the condition reaches every layer of G, not only its input. Starts as the DCGAN paper's batch norm."""

    def __init__(self, ch: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(ch, affine=False)
        self.gain = nn.Linear(cond_dim, ch)
        self.bias = nn.Linear(cond_dim, ch)
        for lin in (self.gain, self.bias):
            nn.init.normal_(lin.weight, 0.0, 0.02)
            nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * (1 + self.gain(c))[:, :, None, None] + self.bias(c)[:, :, None, None]


class Generator(nn.Module):
    def __init__(
        self,
        size: int = 64,
        nz: int = 100,
        ngf: int = 64,
        embed: int = 0,
        cond_bn: bool = False,
        schema: AttributeSchema = FIXED,
    ):
        super().__init__()
        if cond_bn and not embed:
            raise ValueError("cond_bn needs a conditional generator (embed > 0)")
        self.config = {
            "size": size,
            "nz": nz,
            "ngf": ngf,
            "embed": embed,
            "cond_bn": cond_bn,
            "groups": schema.as_config(),  # the attribute schema it is conditioned on
        }
        base, k = layout(size)
        self.nz = nz
        self.schema = schema
        # one embedding per group, the last row the null condition; embed = 0: unconditional only
        self.embeds = nn.ModuleList([nn.Embedding(n + 1, embed) for n in schema.sizes] if embed else [])
        cond_dim = embed * len(self.embeds)
        ch = ngf * 2 ** (k - 1)
        convs = [nn.ConvTranspose2d(nz + cond_dim, ch, base, 1, 0, bias=False)]
        for _ in range(k - 1):
            convs.append(nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False))
            ch //= 2
        convs.append(nn.ConvTranspose2d(ch, 3, 4, 2, 1, bias=False))
        widths = [c.out_channels for c in convs[:-1]]
        if cond_bn:  # the condition (the groups' embeddings, null where unconditioned) scales every norm
            self.convs = nn.ModuleList(convs)
            self.norms = nn.ModuleList([CondBatchNorm(w, cond_dim) for w in widths])
        else:  # the PyTorch example's stack (its state-dict layout: earlier bundles load)
            layers: list[nn.Module] = []
            for conv, w in zip(convs[:-1], widths):
                layers += [conv, nn.BatchNorm2d(w), nn.ReLU(True)]
            self.main = nn.Sequential(*layers, convs[-1], nn.Tanh())
        self.apply(_init)

    @property
    def conditional(self) -> bool:
        return len(self.embeds) > 0

    def forward(
        self,
        z: torch.Tensor,
        cond: torch.Tensor | None = None,
        soft: list[torch.Tensor] | None = None,
        psi: float = 1.0,
    ) -> torch.Tensor:
        """z [B, nz], cond [B, groups] (None: unconditional) -> images [B, 3, S, S] in [-1, 1]. `soft` (the sliders,
        models/dcgan/sliders.py): per group, weights [B, values + 1] over its embedding rows, in place of `cond`.
        `psi` < 1: the truncation trick for a Gaussian prior, z shrunk towards its mean 0 (as the conditional
        StyleGAN's `psi` pulls w towards its mean)."""
        if psi != 1.0:
            z = z * psi
        if self.conditional:
            if soft is not None:
                c = torch.cat([w.to(e.weight.dtype) @ e.weight for w, e in zip(soft, self.embeds, strict=True)], dim=1)
            else:
                if cond is None:
                    cond = null_condition(len(z), self.schema).to(z.device)
                c = torch.cat([e(cond[:, i]) for i, e in enumerate(self.embeds)], dim=1)
            z = torch.cat([z, c], dim=1)
        if not self.config["cond_bn"]:
            return self.main(z[:, :, None, None])
        h = z[:, :, None, None]
        for conv, norm in zip(self.convs, self.norms):
            h = torch.relu(norm(conv(h), c))
        return torch.tanh(self.convs[-1](h))

    def save(self, folder: str | os.PathLike[str], extra: dict | None = None) -> None:
        bundle.save(self, folder, {**self.config, **(extra or {})})

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Generator:
        def build(config: dict) -> Generator:
            schema = AttributeSchema.recorded(config.get("groups"))
            return cls(
                config["size"], config["nz"], config["ngf"], config["embed"], config.get("cond_bn", False), schema
            )

        return bundle.load(folder, build, "DCGAN generator")[0]


class Discriminator(nn.Module):
    def __init__(
        self,
        size: int = 64,
        ndf: int = 64,
        conditional: bool = False,
        batchnorm: bool = True,
        reader: int = 0,
        schema: AttributeSchema = FIXED,
    ):
        super().__init__()
        self.config = {
            "size": size,
            "ndf": ndf,
            "conditional": conditional,
            "batchnorm": batchnorm,
            "reader": reader,
            "groups": schema.as_config(),
        }
        self.schema = schema
        base, k = layout(size)
        layers: list[nn.Module] = [nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        ch = ndf
        for _ in range(k - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=not batchnorm)]
            layers += [nn.BatchNorm2d(ch * 2)] if batchnorm else []
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            ch *= 2
        self.features = nn.Sequential(*layers)  # [B, ch, base, base]
        self.out = nn.Conv2d(ch, 1, base, 1, 0, bias=False)
        if conditional:
            self.project = nn.ModuleList([nn.Embedding(n + 1, ch, padding_idx=n) for n in schema.sizes])
            self.classify = nn.ModuleList([nn.Linear(ch, n) for n in schema.sizes])
        self.apply(_init)
        # reader: D's own attribute classifier, a tagger-shaped CNN of this width (stride-1 and stride-2 convolutions
        # per stage: it learns cues of a few pixels that D's strided stack does not), trained on real training
        # images only; G is asked to make it read the requested values. Its weights are D's, never the scoring tagger's.
        self.reader = TaggerNet(reader, size, dropout=0.0, schema=schema) if reader else None
        if conditional:
            for p in self.project:  # small, like the rest of D's weights: the projection starts near zero
                nn.init.normal_(p.weight, 0.0, 0.02)
                with torch.no_grad():
                    p.weight[p.padding_idx].zero_()

    def read(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The reader's logits per group (the schema's order) for images [B, 3, S, S] in [-1, 1]."""
        assert self.reader is not None, "this discriminator has no reader"
        out = self.reader((x + 1) / 2)
        return [out[g] for g in self.schema.names]

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """x [B, 3, S, S] -> (logits [B], {"classes": [logits [B, classes] per group]} when conditional)."""
        h = self.features(x)
        logit = self.out(h).flatten()
        if not self.config["conditional"]:
            return logit, {}
        pooled = h.mean(dim=(2, 3))  # [B, ch]
        if cond is not None:
            logit = logit + sum((p(cond[:, i]) * pooled).sum(dim=1) for i, p in enumerate(self.project))
        return logit, {"classes": [head(pooled) for head in self.classify]}
