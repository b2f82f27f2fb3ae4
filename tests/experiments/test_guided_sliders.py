"""experiments/guided_sliders.py: a reader-guided slider keeps what a plain one drags along where the reader sees
it (a toy world whose generator leaks glasses into smile and whose latent can undo it); the plain variant is the
train stage's validation figure; the reader loads from a generator bundle's discriminator."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.names import ATTRIBUTES, FIXED, GROUPS
from experiments.guided_sliders import Guide, guided, load_reader, readings, score, variants
from models.dcgan import family as dcgan_family
from models.dcgan import sliders
from models.dcgan.conditions import ConditionPrior
from models.dcgan.net import Discriminator
from models.dcgan.net import Generator as DcganGenerator
from models.engine import bundle
from tests.experiments.test_sliders_on_page import PixelJudge, _params
from tests.models.dcgan.test_sliders import _World

G_IDX, S_IDX = GROUPS.index("glasses"), GROUPS.index("smile")


class Leaky(_World):
    """_World (its judge reads two pixels of uint8 [N, S, S, 3]) whose smile also follows z[:, 0], so a nudged latent
    can undo the leak, and which is its own reader too: the same pixels, softly, of [B, 3, S, S] in [-1, 1]."""

    def forward(self, z, cond=None, soft=None):
        soft = soft or sliders.soft_condition(cond, {})
        g = soft[G_IDX][:, ATTRIBUTES["glasses"].index("yes")]
        s = soft[S_IDX][:, ATTRIBUTES["smile"].index("yes")] + self.leak * g + 0.3 * z[:, 0]
        plane = torch.ones(len(z), 32, 32)
        return torch.stack([(g * 2 - 1)[:, None, None] * plane, (s * 2 - 1)[:, None, None] * plane, 0 * plane], 1)

    def read(self, images):
        if not isinstance(images, torch.Tensor):  # the judge
            return super().read(images)
        out = []  # the reader: logits per group
        for g, n in zip(GROUPS, FIXED.sizes, strict=True):
            if g in ("glasses", "smile"):
                v = images[:, 0 if g == "glasses" else 1].mean(dim=(1, 2))
                out.append(torch.stack([-4 * v, 4 * v], 1))  # [no, yes]
            else:
                out.append(torch.zeros(len(images), n))
        return out


def test_a_guided_slider_keeps_what_the_plain_one_drags_along():
    assert tuple(ATTRIBUTES["glasses"]) == tuple(ATTRIBUTES["smile"]) == ("no", "yes")
    labels = np.zeros((2, len(GROUPS)), np.int64)
    labels[1, S_IDX] = 1
    prior = ConditionPrior.fit(labels)
    world = Leaky(leak=0.6)
    guide = Guide(steps=20, lr=0.15)
    plain = sliders.control_success(world, prior, world, 64, seed=5)
    steered = sliders.control_success(
        world, prior, world, 64, seed=5, nudge=lambda z, c, m: guided(world, world, z, c, m, guide)
    )
    assert plain["glasses=yes"] < 0.75 and steered["glasses=yes"] > 0.95, (plain, steered)
    z, cond = torch.randn(8, 2), sliders.conditions_for(prior, 8, 0)
    assert torch.equal(guided(world, world, z, cond, {"glasses=yes": 1.0}, Guide()), z)  # no steps: the plain move
    assert torch.equal(guided(world, world, z, cond, {}, guide), z)  # nothing moved: nothing to keep
    nudged = guided(world, world, z, cond, {"glasses=yes": 1.0}, guide)
    assert not nudged.requires_grad and torch.equal(nudged[:, 1], z[:, 1])  # only what the reader sees moves


def _bundle(folder, smoke_params) -> DcganGenerator:
    torch.manual_seed(0)
    G = DcganGenerator(32, nz=16, ngf=8, embed=4).eval()
    G.save(folder, {"role": "dcgan"})
    ConditionPrior.fit(np.random.default_rng(0).integers(0, 2, (50, len(GROUPS)))).save(
        folder / "conditions.safetensors"
    )
    D = Discriminator(32, 8, True, True, reader=4)
    bundle.save_tensors(D, folder / "discriminator.safetensors")
    (folder / "discriminator.json").write_text(json.dumps(D.config))
    return G


def test_the_plain_variant_is_the_stage_figure_and_the_reader_loads(tmp_path, smoke_params):
    smoke_params = _params(smoke_params)
    G = _bundle(tmp_path, smoke_params)
    judge = PixelJudge()
    prior = ConditionPrior.load(tmp_path / "conditions.safetensors")
    stage = dcgan_family.slider_scores(smoke_params.dcgan.sliders, smoke_params.seed, G, prior, judge)
    plain = score(tmp_path, "dcgan", smoke_params, judge, Guide())
    assert plain["val_control_success_by_tag"] == {
        k: round(v, 4) for k, v in stage["val_control_success_by_tag"].items()
    }
    z, cond = torch.randn(4, 16), sliders.conditions_for(prior, 4, 0)
    nudged = guided(G, load_reader(tmp_path), z, cond, {"smile=yes": 1.0}, Guide(steps=2, lr=0.5))
    assert not torch.equal(nudged, z)  # the bundle's own discriminator guides its generator
    read = readings(tmp_path, "dcgan", smoke_params, judge, Guide())
    assert set(read["unmoved_kept"]["reader"]) == set(GROUPS) and set(read["condition_read_at_start"]["judge"]) == set(
        GROUPS
    )
    D = load_reader(tmp_path)
    assert not D.training and not any(p.requires_grad for p in D.parameters())
    (tmp_path / "discriminator.json").write_text(json.dumps({**D.config, "reader": 0}))
    with pytest.raises(SystemExit, match="no reader"):
        load_reader(tmp_path)
    assert variants()["plain"] == Guide() and all(v.steps > 0 for k, v in variants().items() if k != "plain")
