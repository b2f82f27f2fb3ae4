"""The conditional StyleGAN generator (models/stylegan/conditional.py): the condition enters the mapping network, an
image is a function of (z, condition) alone, DCGAN's sliders steer it, its bundle round-trips, and the DCGAN task
trains it on the engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.names import ATTRIBUTES, GROUPS
from core.params import load_params
from models.dcgan import sliders
from models.engine import gan
from models.stylegan import conditional
from models.stylegan.conditional import ConditionalGenerator
from tests.conftest import REPO


def _small(size: int = 16) -> ConditionalGenerator:
    torch.manual_seed(0)
    return ConditionalGenerator(size, z_dim=16, w_dim=16, mapping=2, base=8, cap=16, embed=4)


def _cond(n: int, **values: str) -> torch.Tensor:
    c = torch.tensor([len(ATTRIBUTES[g]) for g in GROUPS]).expand(n, -1).clone()
    for g, v in values.items():
        c[:, GROUPS.index(g)] = ATTRIBUTES[g].index(v)
    return c


def test_the_condition_moves_w_and_the_image_and_nothing_else_does():
    G = _small().eval()
    z = torch.randn(3, 16)
    with torch.no_grad():
        a, b = G(z, _cond(3, smile="no")), G(z, _cond(3, smile="no"))
        assert a.shape == (3, 3, 16, 16) and torch.equal(
            a, b
        )  # no noise inputs: the same (z, condition), the same image
        w_no, w_yes = G.map(z, cond=_cond(3, smile="no")), G.map(z, cond=_cond(3, smile="yes"))
        assert (w_no - w_yes).abs().mean() > 1e-3
        assert not torch.allclose(G(z, _cond(3, smile="yes")), a)
        assert G(z).shape == a.shape  # no condition at all: every group's null row
    with pytest.raises(ValueError, match="embedding"):
        ConditionalGenerator(16, 16, 16, 2, 8, 16, embed=0)


def test_dcgan_sliders_blend_the_embeddings_and_their_end_is_the_condition():
    G = _small().eval()
    z, cond = torch.randn(4, 16), _cond(4, glasses="yes", smile="no")
    with torch.no_grad():
        assert torch.allclose(G(z, cond), G(z, cond, sliders.soft_condition(cond, {})), atol=1e-5)
        half = G(z, cond, sliders.soft_condition(cond, {"smile=yes": 0.5}))
        end = G(z, cond, sliders.soft_condition(cond, {"smile=yes": 1.0}))
        asked = G(z, _cond(4, glasses="yes", smile="yes"))
    assert torch.allclose(end, asked, atol=1e-5)
    assert not torch.allclose(half, end, atol=1e-3) and not torch.allclose(half, G(z, cond), atol=1e-3)


def test_truncation_pulls_towards_the_mean_w():
    G = _small()
    G.train()
    for _ in range(30):
        G(torch.randn(8, 16), _cond(8))
    G.eval()
    z = torch.randn(4, 16)
    w = G.map(z, cond=_cond(4))
    assert torch.allclose(G.map(z, 0.0, _cond(4)), G.w_avg.expand(4, -1), atol=1e-6)
    assert torch.allclose(G.map(z, 0.5, _cond(4)), G.w_avg + 0.5 * (w - G.w_avg), atol=1e-5)


def test_bundle_round_trip(tmp_path):
    G = _small().eval()
    G.save(tmp_path / "g", {"role": "stylegan"})
    H = ConditionalGenerator.load(tmp_path / "g").eval()
    z, cond = torch.randn(2, 16), _cond(2, hair_color="red")
    with torch.no_grad():
        assert torch.equal(H(z, cond), G(z, cond))


def test_the_dcgan_task_trains_it_on_the_engine(tmp_path):
    """A few steps of the DCGAN task (D's projection, AC heads and reader) with this generator in place of DCGAN's,
    the smoke profile's `stylegan` section: G's weights move, the EMA generator samples under a condition, and the
    run is deterministic."""
    p = load_params(REPO / "params.yaml", "smoke").stylegan
    images, labels = _data()

    def run():
        task = conditional.build(p, 16, images, labels, seed=5)
        before = [q.detach().clone() for q in task.G.parameters()]
        result = gan.train(task, gan.config(p, 5, 4), folder=None)
        return task, before, result

    task, before, result = run()
    assert isinstance(task.G, ConditionalGenerator) and task.D.reader is not None
    assert task.G.config["base"] == p.base and task.D.config["ndf"] == p.discriminator.ndf
    moved = [not torch.equal(a, q) for a, q in zip(before, task.G.parameters()) if q.requires_grad]
    assert all(moved), "every trained weight of G should have moved"
    assert result.steps_done == 4
    z = torch.randn(2, p.z_dim, generator=torch.Generator().manual_seed(0))
    second = run()[2].g_ema.eval()
    with torch.no_grad():
        out = result.g_ema.eval()(z, _cond(2, glasses="yes"))
        again = second(z, _cond(2, glasses="yes"))
    assert out.shape == (2, 3, 16, 16) and torch.equal(out, again)


def _data(n: int = 32, size: int = 16):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    labels = np.stack([rng.integers(-1, len(ATTRIBUTES[g]), n) for g in GROUPS], axis=1)
    return images, labels


def test_training_resumes_bit_identically_from_a_checkpoint(tmp_path):
    """The family's training (the smoke `stylegan` section) stopped after 3 of 6 steps and run again continues from
    the checkpoint: only the missing steps run, and it ends with the weights of an uninterrupted run."""
    p = load_params(REPO / "params.yaml", "smoke").stylegan.model_copy(update={"steps": 6, "batch": 4})
    images, labels = _data(16, 32)
    config = gan.config(p, seed=2)
    whole = gan.train(conditional.build(p, 32, images, labels, 2), config)
    gan.train(conditional.build(p, 32, images, labels, 2), gan.GanConfig(**{**config.__dict__, "steps": 3}),
              folder=tmp_path)  # fmt: skip
    task, updates, logged = conditional.build(p, 32, images, labels, 2), [], []
    task.opt_g.register_step_post_hook(lambda *_: updates.append(1))
    resumed = gan.train(task, config, folder=tmp_path, log=lambda m, s: logged.append(s))
    assert len(updates) == 3 and logged == [4, 5, 6] and resumed.steps_done == 6
    for a, b in zip(whole.g_ema.state_dict().values(), resumed.g_ema.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_bundle_of_either_route_loads_as_what_it_is(tmp_path):
    from models.stylegan.net import Generator

    _small().save(tmp_path / "cond")
    torch.manual_seed(0)
    Generator(16, z_dim=16, w_dim=16, mapping=2, base=8, cap=16).save(tmp_path / "plain")
    assert conditional.load_generator(tmp_path / "cond").conditional
    plain = conditional.load_generator(tmp_path / "plain")
    assert type(plain) is Generator and not plain.conditional
    with pytest.raises(ValueError, match="not a generator bundle"):
        conditional.load_generator(tmp_path / "missing")
