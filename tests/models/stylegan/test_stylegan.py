"""The unconditional StyleGAN2-style generator (models/stylegan/net.py, what versions registered before the
conditional route hold): modulation and demodulation, style mixing, truncation, noise from a seed, and its W sliders
(fit, orthogonalise, control_success) on cases whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.names import ATTRIBUTES, GROUPS
from models.stylegan import sliders
from models.stylegan.net import Generator, ModConv
from models.stylegan.task import latents, render


def _small(size: int = 16) -> Generator:
    torch.manual_seed(0)
    return Generator(size, z_dim=16, w_dim=16, mapping=2, base=8, cap=16)


def test_shapes_and_style_inputs():
    G = _small(32)
    assert G.num_ws == 2 * 3 + 2  # 4x4: one layer; 8, 16, 32: two each; plus the last toRGB
    x = G(torch.randn(3, 16))
    assert x.shape == (3, 3, 32, 32)
    with pytest.raises(ValueError, match="power of two"):
        Generator(24)


def test_demodulation_gives_unit_output_per_channel_whatever_the_style():
    torch.manual_seed(0)
    conv = ModConv(32, 16, 3, w_dim=8)
    x = torch.randn(4, 32, 16, 16)
    for scale in (0.1, 10.0):  # the style scales the weights; demodulation undoes it
        out = conv(x, scale * torch.randn(4, 8))
        assert out[:, :, 2:-2, 2:-2].std().item() == pytest.approx(1.0, rel=0.2)


def test_style_mixing_takes_later_styles_from_the_second_latent():
    G = _small().eval()
    z, z2 = torch.randn(2, 16), torch.randn(2, 16)
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731 - the same noise for every call
    plain = G(z, noise_gen=g())
    assert torch.equal(G(z, z2, torch.tensor([G.num_ws, G.num_ws]), noise_gen=g()), plain)  # mixing at the end: none
    assert torch.allclose(G(z2, noise_gen=g()), G(z, z2, torch.tensor([0, 0]), noise_gen=g()))
    mixed = G(z, z2, torch.tensor([3, 3]), noise_gen=g())
    assert not torch.allclose(mixed, plain) and not torch.allclose(mixed, G(z2, noise_gen=g()))


def test_truncation_pulls_towards_the_mean_w_and_noise_follows_the_seed():
    G = _small()
    G.train()
    for _ in range(50):
        G(torch.randn(8, 16))  # w_avg follows the mapping's output
    assert G.w_avg.abs().sum() > 0
    G.eval()
    for layer in G.layers:  # an untrained G starts with its noise switched off
        layer.noise_strength.data.fill_(0.5)
    w0 = latents(G, 4, seed=3, psi=0.0)
    assert torch.allclose(w0, G.w_avg.expand(4, -1))
    ws = latents(G, 4, seed=3)
    assert np.array_equal(render(G, ws, seed=7), render(G, ws, seed=7))
    assert not np.array_equal(render(G, ws, seed=7), render(G, ws, seed=8))


# sliders


def test_every_group_gets_its_sliders():
    names = [t[0] for t in sliders.tags()]
    assert "glasses=yes" in names and "glasses=no" not in names
    assert {f"hair_color={v}" for v in ATTRIBUTES["hair_color"]} <= set(names)
    assert len(names) == sum(1 if list(ATTRIBUTES[g]) == ["no", "yes"] else len(ATTRIBUTES[g]) for g in GROUPS)


class _LinearWorld:
    """A 'generator' whose image encodes w, and a 'judge' reading glasses from w[0] and smile from w[1]."""

    def __init__(self):
        self.G = _small(16)

    def reads(self, ws: torch.Tensor) -> np.ndarray:
        out = np.zeros((len(ws), len(GROUPS)), np.int64)
        out[:, GROUPS.index("glasses")] = (ws[:, 0] > 0).numpy()
        out[:, GROUPS.index("smile")] = (ws[:, 1] > 0).numpy()
        return out


def test_control_success_counts_crossings_that_leave_other_groups_alone(monkeypatch):
    world = _LinearWorld()
    monkeypatch.setattr(sliders, "_reads", lambda G, judge, ws, seed, show=None: world.reads(ws))
    ws = torch.from_numpy(np.random.default_rng(1).normal(size=(400, 4)).astype(np.float32) * 0.3)
    clean = {"glasses=yes": np.array([1, 0, 0, 0], np.float32)}
    tangled = {"glasses=yes": np.array([1, 1, 0, 0], np.float32) / np.sqrt(2)}
    sigma = {"glasses=yes": 1.0}  # +-3: every latent crosses
    assert sliders.control_success(world.G, None, ws, clean, sigma, 0) == {"glasses=yes": 1.0}
    # along (1, 1): the smile reading changes for every latent whose smile side differs from the move's
    got = sliders.control_success(world.G, None, ws, tangled, sigma, 0)["glasses=yes"]
    assert 0.3 < got < 0.7


def test_the_judge_reads_what_show_makes_of_the_images():
    """`show` (the page's upscale in the evaluate stage) stands between the generator and the judge."""
    G = _small(16)
    shapes = []

    class Judge:
        def read(self, images):
            shapes.append(images.shape)
            return None, {g: np.zeros(len(images), np.int64) for g in GROUPS}

    ws = torch.zeros(3, G.w_dim)
    sliders._reads(G, Judge(), ws, 0)
    sliders._reads(G, Judge(), ws, 0, show=lambda x: np.repeat(np.repeat(x, 4, axis=1), 4, axis=2))
    assert shapes == [(3, 16, 16, 3), (3, 64, 64, 3)]
