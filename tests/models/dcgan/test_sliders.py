"""DCGAN's sliders (models/dcgan/sliders.py): blends between condition embeddings, and control_success's counting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from core.names import ATTRIBUTES, FIXED, GROUPS
from models.dcgan import sliders
from models.dcgan.conditions import ConditionPrior
from models.dcgan.net import Generator
from models.metrics.generators import slider_tags

G_IDX, S_IDX, H_IDX = GROUPS.index("glasses"), GROUPS.index("smile"), GROUPS.index("hair_color")


def _cond(n: int, **values: str) -> torch.Tensor:
    """[n, groups] with the null row everywhere but the groups given."""
    c = torch.tensor([len(ATTRIBUTES[g]) for g in GROUPS]).expand(n, -1).clone()
    for g, v in values.items():
        c[:, GROUPS.index(g)] = ATTRIBUTES[g].index(v)
    return c


def test_one_slider_per_tag_and_the_ranges():
    names = [t for t, _, _ in slider_tags()]
    assert "glasses=yes" in names and "glasses=no" not in names and "hair_color=red" in names
    r = sliders.ranges()
    assert set(r) == set(names) and r["glasses=yes"] == (-1.0, 1.0) and r["hair_color=red"] == (0.0, 1.0)


def test_soft_condition_blends_from_the_current_value_towards_the_tag():
    cond = _cond(3, glasses="no", hair_color="black")
    same = sliders.soft_condition(cond, {})
    for i, g in enumerate(GROUPS):
        assert torch.equal(same[i], nn.functional.one_hot(cond[:, i], len(ATTRIBUTES[g]) + 1).float())
    w = sliders.soft_condition(cond, {"glasses=yes": 0.25, "hair_color=red": 1.0})
    yes, no = ATTRIBUTES["glasses"].index("yes"), ATTRIBUTES["glasses"].index("no")
    assert w[G_IDX][0, yes] == 0.25 and w[G_IDX][0, no] == 0.75
    assert w[H_IDX][0, ATTRIBUTES["hair_color"].index("red")] == 1.0 and w[H_IDX].sum(1).eq(1).all()
    towards_no = sliders.soft_condition(_cond(1, glasses="yes"), {"glasses=yes": -1.0})[G_IDX]
    assert towards_no[0, no] == 1.0
    shared = sliders.soft_condition(cond, {"hair_color=red": 0.8, "hair_color=blue": 0.8})[H_IDX][0]
    assert shared.sum() == pytest.approx(1.0) and shared[ATTRIBUTES["hair_color"].index("black")] == 0
    for bad in ({"hair_color=red": -0.5}, {"glasses=yes": 1.5}, {"glasses=no": 1.0}, {"wings=yes": 1.0}):
        with pytest.raises(ValueError, match="within their ranges"):
            sliders.soft_condition(cond, bad)


def test_one_hot_weights_give_exactly_the_conditioned_image():
    torch.manual_seed(0)
    G = Generator(size=32, nz=8, ngf=8, embed=4).eval()
    z, cond = torch.randn(4, 8), _cond(4, glasses="yes", smile="no")
    with torch.no_grad():
        assert torch.allclose(G(z, cond), G(z, cond, sliders.soft_condition(cond, {})), atol=1e-6)
        moved = G(z, cond, sliders.soft_condition(cond, {"smile=yes": 1.0}))
        asked = G(z, _cond(4, glasses="yes", smile="yes"))
    assert torch.allclose(moved, asked, atol=1e-6)  # the end of the slider is the condition itself


class _World(nn.Module):
    """A 'generator' whose image shows its glasses and smile weights (the 'yes' share) as two pixel values, and a
    'judge' that reads them back; `leak` drags smile along with glasses."""

    def __init__(self, leak: float):
        super().__init__()
        self.nz, self.conditional, self.leak, self.schema = 2, True, leak, FIXED

    def forward(self, z, cond=None, soft=None):
        soft = soft or sliders.soft_condition(cond, {})
        g = soft[G_IDX][:, ATTRIBUTES["glasses"].index("yes")]
        s = (soft[S_IDX][:, ATTRIBUTES["smile"].index("yes")] + self.leak * g).clamp(0, 1)
        img = torch.zeros(len(z), 3, 32, 32)
        img[:, 0], img[:, 1] = g[:, None, None] * 2 - 1, s[:, None, None] * 2 - 1
        return img

    def read(self, images):
        reads = {g: np.zeros(len(images), np.int64) for g in GROUPS}
        reads["glasses"] = (images[:, 0, 0, 0] > 127).astype(np.int64) * ATTRIBUTES["glasses"].index("yes")
        reads["smile"] = (images[:, 0, 0, 1] > 127).astype(np.int64) * ATTRIBUTES["smile"].index("yes")
        return None, reads


def test_control_success_counts_crossings_that_leave_other_groups_alone():
    labels = np.full((4, len(GROUPS)), 0)
    for row, (g, s) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):  # every glasses x smile combination
        labels[row, G_IDX], labels[row, S_IDX] = g, s
    prior = ConditionPrior.fit(labels)
    clean = _World(leak=0.0)
    got = sliders.control_success(clean, prior, clean, 200, seed=3)
    assert got["glasses=yes"] == 1.0 and got["smile=yes"] == 1.0
    tangled = _World(leak=0.6)  # glasses make every character smile: a move flips smile where it was not
    assert 0.2 < sliders.control_success(tangled, prior, tangled, 200, seed=3)["glasses=yes"] < 0.8


def test_control_success_reads_what_show_makes_of_the_images():
    """`show` (the page's upscale in the evaluate stage) stands between the generator and the judge."""
    labels = np.zeros((2, len(GROUPS)), np.int64)
    labels[1, G_IDX] = 1
    prior = ConditionPrior.fit(labels)
    world = _World(leak=0.0)
    plain = sliders.control_success(world, prior, world, 100, seed=4)
    assert sliders.control_success(world, prior, world, 100, seed=4, show=lambda x: x.copy()) == plain
    seen = []

    def blank(images: np.ndarray) -> np.ndarray:
        seen.append(images.shape)
        return np.zeros_like(images)  # nothing left to read: no move crosses

    got = sliders.control_success(world, prior, world, 100, seed=4, show=blank)
    assert plain["glasses=yes"] == 1.0 and got["glasses=yes"] == 0.0 and got["smile=yes"] == 0.0
    assert seen and all(shape[1:] == (32, 32, 3) for shape in seen)


def test_psi_shrinks_z_towards_zero_and_one_is_no_truncation():
    """The truncation trick for a Gaussian prior, as the service draws a DCGAN character at the page's psi."""
    torch.manual_seed(0)
    G = Generator(size=32, nz=8, ngf=8, embed=4).eval()
    z, cond = torch.randn(4, 8), _cond(4, glasses="yes")
    soft = sliders.soft_condition(cond, {"smile=yes": 0.5})
    with torch.no_grad():
        assert torch.equal(G(z, cond, soft, 1.0), G(z, cond, soft))
        assert torch.equal(G(z, cond, soft, 0.7), G(z * 0.7, cond, soft))
        assert not torch.allclose(G(z, cond, soft, 0.7), G(z, cond, soft))


class _Shrunk(nn.Module):
    """A generator whose glasses drag smile along where z is far from 0: the judge reads smile on a character with
    glasses whose |z| is large, so psi < 1 (z nearer 0) untangles the glasses slider."""

    def __init__(self):
        super().__init__()
        self.nz, self.schema, self.seen = 4, FIXED, []

    def forward(self, z, cond=None, soft=None, psi=1.0):
        self.seen.append(psi)
        z = z * psi
        yes = ATTRIBUTES["glasses"].index("yes")
        glasses = soft[G_IDX][:, yes] if soft is not None else (cond[:, G_IDX] == yes).float()
        x = torch.zeros(len(z), 3, 32, 32)
        x[:, 1] = glasses[:, None, None] * 2 - 1
        x[:, 0] = ((z.abs().mean(dim=1) > 0.6).float() * glasses)[:, None, None] * 2 - 1
        return x


class _ReadsTwo:
    def read(self, images: np.ndarray):
        reads = {g: np.zeros(len(images), np.int64) for g in GROUPS}
        reads["smile"] = (images[:, 0, 0, 0] > 127).astype(np.int64) * ATTRIBUTES["smile"].index("yes")
        reads["glasses"] = (images[:, 0, 0, 1] > 127).astype(np.int64) * ATTRIBUTES["glasses"].index("yes")
        return None, reads


def test_control_success_draws_every_image_at_psi():
    """psi reaches every image the judge reads (the starts and the moved ones), with the same latents: a smaller
    psi changes which starts count and what the moves read, and psi 1 passes nothing (plain generators)."""
    labels = np.zeros((2, len(GROUPS)), np.int64)
    labels[1, G_IDX] = 1
    prior = ConditionPrior.fit(labels)
    G = _Shrunk()
    plain = sliders.control_success(G, prior, _ReadsTwo(), 100, seed=4)
    assert G.seen == [1.0] * len(G.seen)  # psi 1: the generator's own default, as before
    G.seen.clear()
    shrunk = sliders.control_success(G, prior, _ReadsTwo(), 100, seed=4, psi=0.5)
    moves = [t for t, _, _ in slider_tags()] + [t for t, _, _ in slider_tags() if sliders.two_sided(t)]  # and -1
    assert set(G.seen) == {0.5} and len(G.seen) == 1 + len(moves)  # the starts, then every move
    assert plain["glasses=yes"] < 0.8 and shrunk["glasses=yes"] > plain["glasses=yes"] + 0.2, (plain, shrunk)
