"""The DCGAN family as a task of the adversarial engine (models/engine/gan.py): data, conditions and extra losses.

Training images live in memory as uint8 [N, 3, S, S] (a few MB at 32-64 px) with their conditions [N, groups] (the
`label` stage's tags, the tagger's auto-tags where an image has none; -1 where neither knows). A step's real images
are its rows; G is asked for the same rows' conditions, all of them dropped to null with probability `cond_dropout`
(unconditional training), else each group with probability `group_dropout` (partial conditions), and always where
unknown; D is given the same conditions: real and generated images are judged under the same
conditions, so D's projection term cannot tell them apart by their labels.

D's reader (models/dcgan/net.py) learns the rows' own labels (none dropped; unknown ones ignored) the way the tagger
learns them (models/tagger/train.py): horizontal flips, a random shift, label smoothing (and, in `build`, weight
decay). Without them it memorises the training images (0.99 on them, smile at chance on validation) and G learns
to satisfy a classifier that does not generalise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.names import FIXED
from models.dcgan.net import Discriminator, Generator
from models.engine import batchnorm
from models.engine.gan import Batch

NULL = torch.tensor(FIXED.sizes)  # the null index of each fixed group (a task's own: `DcganTask.null`)


@dataclass(frozen=True)
class ReaderRecipe:
    """How D's reader learns and guides G (params `dcgan.reader`; its weight decay is the optimizer's)."""

    weight: float = 0.0  # its cross-entropy in G's loss; 0: no reader
    flip: bool = False  # horizontal flips per image (every attribute is left-right symmetric)
    shift: int = 0  # px: one random shift per batch, up to this far, edges replicated
    label_smoothing: float = 0.0
    group_weights: tuple[float, ...] = ()  # per group (the schema's order), a factor on its cross-entropy in G's loss
    pair_weight: float = 0.0  # moved pairs (`DcganTask.g_extra`) in G's loss; 0: none


@dataclass
class ReaderBatch(Batch):
    """A batch with the reader's view of the real rows and their own labels (-1 unknown, nothing dropped)."""

    reader_real: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    pair: torch.Tensor | None = None  # the condition with one group moved to another value (a slider's end)
    moved: torch.Tensor | None = None  # which group, per row


def reader_view(
    real: torch.Tensor, recipe: ReaderRecipe, gen: torch.Generator, rows: slice, global_batch: int
) -> torch.Tensor:
    """The tagger's augmentation (models/tagger/train.py), its randomness drawn for the whole global batch."""
    if recipe.flip:
        flip = (torch.rand(global_batch, generator=gen)[rows] < 0.5).to(real.device)
        real = torch.where(flip[:, None, None, None], real.flip(3), real)
    if recipe.shift:
        s = recipe.shift
        dy, dx = (int(v) for v in torch.randint(-s, s + 1, (2,), generator=gen))
        side = real.shape[-1]
        real = F.pad(real, (s, s, s, s), mode="replicate")[:, :, s + dy : s + dy + side, s + dx : s + dx + side]
    return real


def moved_pair(
    cond: torch.Tensor, gen: torch.Generator, rows: slice, global_batch: int, null: torch.Tensor = NULL
) -> tuple[torch.Tensor, torch.Tensor]:
    """(group moved [B], the condition with it moved [B, groups]): per row one group, uniformly, set to another of
    its values (any value where it was null), as a slider's end does; the randomness is drawn for the global batch.
    `null`: each group's null index (its value count)."""
    which = torch.randint(len(null), (global_batch,), generator=gen)[rows]
    u = torch.rand(global_batch, generator=gen)[rows]
    n = null[which]  # values in the moved group
    current = cond.gather(1, which[:, None]).squeeze(1).cpu()
    other = (current + 1 + (u * (n - 1)).long().clamp(max=n - 2)) % n  # one of the n - 1 other values
    value = torch.where(current == n, (u * n).long().clamp(max=n - 1), other)
    pair = cond.clone()
    pair[torch.arange(len(which)), which.to(cond.device)] = value.to(cond.device)
    return which, pair


class DcganTask:
    def __init__(
        self,
        G: Generator,
        D: Discriminator,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        images: np.ndarray,
        labels: np.ndarray,
        cond_dropout: float,
        group_dropout: float,
        ac_weight: float,
        reader: ReaderRecipe = ReaderRecipe(),
    ):
        assert images.ndim == 4 and images.shape[3] == 3, f"expected uint8 [N, S, S, 3], got {images.shape}"
        self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d
        self.images = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))  # [N, 3, S, S] uint8
        self.labels = torch.from_numpy(labels.astype(np.int64))  # [N, groups], -1 unknown
        self.null = torch.tensor(G.schema.sizes)  # each group's null index, the generator's schema
        assert labels.shape[1] == len(self.null), (
            f"labels {labels.shape}: expected a column per group of {G.schema.names}"
        )
        self.rows = len(images)
        self.cond_dropout = cond_dropout
        self.group_dropout = group_dropout
        self.ac_weight = ac_weight
        self.recipe = reader if D.reader is not None else ReaderRecipe()

    def batch(self, idx: torch.Tensor, gen: torch.Generator, rows: slice, global_batch: int) -> Batch:
        real = self.images[idx].float().div_(127.5).sub_(1.0)
        z = torch.randn(global_batch, self.G.nz, generator=gen)[rows]
        if not self.G.conditional:
            return Batch(real, (z,), None)
        r = torch.rand(global_batch, 1 + len(self.null), generator=gen)[rows].to(real.device)
        # the whole condition dropped (unconditional training), or single groups (partial conditions)
        drop = (r[:, :1] < self.cond_dropout) | (r[:, 1:] < self.group_dropout)
        y = self.labels[idx]
        cond = torch.where(drop | (y < 0), self.null.expand_as(y), y)
        if not self.recipe.weight:
            return Batch(real, (z, cond), cond)
        view = reader_view(real, self.recipe, gen, rows, global_batch)
        if not self.recipe.pair_weight:
            return ReaderBatch(real, (z, cond), cond, view, y)
        moved, pair = moved_pair(cond, gen, rows, global_batch, self.null)
        return ReaderBatch(real, (z, cond), cond, view, y, pair, moved)

    def fixed_inputs(self, n: int, gen: torch.Generator) -> tuple:
        """Fixed latents and, for a conditional G, the conditions of fixed training rows (the data's prior)."""
        z = torch.randn(n, self.G.nz, generator=gen)
        if not self.G.conditional:
            return (z,)
        y = self.labels[torch.randint(self.rows, (n,), generator=gen)]
        return (z, torch.where(y < 0, self.null.expand_as(y), y))

    @staticmethod
    def _ce(
        classes: list[torch.Tensor],
        cond: torch.Tensor | None,
        weight: float,
        groups: tuple[float, ...] = (),
        null: torch.Tensor = NULL,
    ) -> tuple[torch.Tensor, float]:
        """Mean cross-entropy over the groups, each over the rows whose condition is not null (`null`: each group's
        null index) and times its factor in `groups` (1 where empty); times `weight`. The figure logged is the plain
        mean."""
        if not classes or cond is None or weight == 0:
            return torch.zeros(()), 0.0
        losses, factors = [], []
        for i, logits in enumerate(classes):
            known = cond[:, i] != null[i]
            if known.any():
                losses.append(F.cross_entropy(logits[known].float(), cond[known, i]))
                factors.append(groups[i] if groups else 1.0)
        if not losses:
            return torch.zeros(()), 0.0
        stacked = torch.stack(losses)
        loss = (stacked * torch.tensor(factors, dtype=stacked.dtype, device=stacked.device)).mean()
        return weight * loss, float(stacked.detach().mean())

    def d_extra(self, batch: Batch, aux_real: dict, aux_fake: dict) -> tuple[torch.Tensor, dict[str, float]]:
        # D learns the classes on real images only
        loss, value = self._ce(aux_real.get("classes", []), batch.cond, self.ac_weight, null=self.null)
        figs = {"ac_d": value} if aux_real else {}
        if self.recipe.weight:  # the reader learns the rows' own labels on real images (its own augmentation)
            read = self.D.read(batch.reader_real.to(batch.real.device))
            labels = batch.labels.to(batch.real.device)
            losses = [
                F.cross_entropy(
                    logits.float(), labels[:, i], ignore_index=-1, label_smoothing=self.recipe.label_smoothing
                )
                for i, logits in enumerate(read)
                if (labels[:, i] >= 0).any()
            ]
            if losses:
                read_loss = torch.stack(losses).mean()
                loss, figs["reader_d"] = loss + read_loss, float(read_loss.detach())
        return loss, figs

    def g_extra(self, batch: Batch, fake: torch.Tensor, aux_fake: dict) -> tuple[torch.Tensor, dict[str, float]]:
        # G makes D read the requested values
        loss, value = self._ce(aux_fake.get("classes", []), batch.cond, self.ac_weight, null=self.null)
        figs = {"ac_g": value} if aux_fake else {}
        if self.recipe.weight:  # and the reader, with the batch statistics of real images (eval mode): D is frozen
            reader = self.D.reader
            reader.eval()
            reads = self.D.read(fake)
            read, figs["reader_g"] = self._ce(
                reads, batch.cond, self.recipe.weight, self.recipe.group_weights, self.null
            )
            if self.recipe.pair_weight:
                pair, figs["pair_move"], figs["pair_keep"] = self._pair(batch, reads)
                read = read + self.recipe.pair_weight * pair
            reader.train()
            loss = loss + read
        return loss, figs

    def _pair(self, batch: ReaderBatch, reads: list[torch.Tensor]) -> tuple[torch.Tensor, float, float]:
        """A slider's move trained as the sliders are scored: the same z drawn again with one group's condition
        moved (`batch.pair`); the reader reads the moved value there (cross-entropy, the groups' factors), and every
        other group as it reads it on the first image (KL divergence both ways, both images learn)."""
        z = batch.g_in[0]
        moved = self.D.read(self.G(z, batch.pair.to(z.device)))
        ce, ce_value = self._ce(moved, batch.pair.to(z.device), 1.0, self.recipe.group_weights, self.null)
        which = batch.moved.to(z.device)
        keeps = []
        for i, (a, b) in enumerate(zip(reads, moved, strict=True)):
            rows = which != i
            if rows.any():
                la, lb = F.log_softmax(a[rows].float(), dim=1), F.log_softmax(b[rows].float(), dim=1)
                kl = (la.exp() * (la - lb)).sum(dim=1) + (lb.exp() * (lb - la)).sum(dim=1)
                keeps.append(kl.mean() / 2)
        keep = torch.stack(keeps).mean() if keeps else torch.zeros((), device=z.device)
        return ce + keep, ce_value, float(keep.detach())

    def finish(self, g_ema: nn.Module, gen: torch.Generator) -> None:
        """Exact batch-norm statistics of the EMA generator's own weights over 16 batches of latents, conditioned
        like training (so conditional and unconditional sampling both see the statistics they were trained with)."""
        device = next(g_ema.parameters()).device  # the latents are drawn on the CPU (one random stream anywhere)
        zs, conds = [], []
        for _ in range(16):
            idx = torch.randint(self.rows, (64,), generator=gen)
            g_in = self.batch(idx, gen, slice(None), 64).g_in
            zs.append(g_in[0].to(device))
            conds.append(g_in[1].to(device) if len(g_in) > 1 else None)
        it = iter(conds)
        batchnorm.recalibrate(g_ema, zs, lambda z: g_ema(z, next(it)) if self.G.conditional else g_ema(z))
