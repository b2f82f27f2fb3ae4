"""experiments/sliders_on_page.py scores the bundles' sliders with the train stage's own latents, conditions and
seeds: without an upscale it gives exactly the train stage's figures (so the page's figure differs from the stage's
in what the judge is shown only), and with one the judge reads the upscales. Over seeds, each seed's generator is
the one the seed study kept (params' seed: the pipeline's bundle), scored with the same latents and prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.names import ATTRIBUTES, GROUPS
from experiments import seeds as seed_study
from experiments.sliders_on_page import PAGE_PSI, dcgan, dcgan_seeds, stylegan
from models.dcgan import family as dcgan_family
from models.dcgan import sliders as dcgan_sliders
from models.dcgan.conditions import ConditionPrior
from models.dcgan.net import Generator as DcganGenerator
from models.stylegan.conditional import ConditionalGenerator


class PixelJudge:
    """Reads each group from the brightness of its own strip of the image: untrained generators' images then read
    differently latent by latent and move by move, so a figure depends on which latents and seeds were used."""

    def read(self, images: np.ndarray):
        x = images.astype(np.float64) / 255.0
        strips = np.array_split(np.arange(x.shape[1]), len(GROUPS))
        reads = {}
        for i, g in enumerate(GROUPS):
            level = x[:, strips[i]].mean(axis=(1, 2, 3))
            reads[g] = (np.floor(level * 8).astype(np.int64)) % len(ATTRIBUTES[g])
        return np.zeros((len(images), 1)), reads


def _judge() -> PixelJudge:
    return PixelJudge()


def _params(smoke_params, seed_offset: int = 0):
    """The smoke profile with 40 latents per split for the sliders (8 leave too few moves to tell seeds apart)."""
    d = smoke_params.dcgan.model_copy(
        update={"sliders": smoke_params.dcgan.sliders.model_copy(update={"val": 40, "test": 40})}
    )
    s = smoke_params.stylegan.model_copy(
        update={"sliders": smoke_params.stylegan.sliders.model_copy(update={"val": 40, "test": 40})}
    )
    return smoke_params.model_copy(update={"dcgan": d, "stylegan": s, "seed": smoke_params.seed + seed_offset})


def _lively(figures: dict) -> None:
    values = list(figures["control_success_by_tag"].values()) + list(figures["val_control_success_by_tag"].values())
    assert len(set(values)) > 2, values  # not a degenerate case where every way of scoring gives zeros


def test_dcgan_without_upscale_is_the_train_stage_figure(tmp_path, smoke_params):
    smoke_params, other = _params(smoke_params), _params(smoke_params, 1)
    torch.manual_seed(0)
    G = DcganGenerator(32, nz=16, ngf=8, embed=4).eval()
    G.save(tmp_path, {"role": "dcgan"})
    prior = ConditionPrior.fit(np.random.default_rng(0).integers(0, 2, (50, len(GROUPS))))
    prior.save(tmp_path / "conditions.safetensors")
    judge = _judge()
    stage = dcgan_family.slider_scores(smoke_params.dcgan.sliders, smoke_params.seed, G, prior, judge)
    got = dcgan(tmp_path, smoke_params, judge, None)
    _lively(got)
    assert dcgan(tmp_path, other, judge, None) != got  # the seed decides the latents: these are the stage's
    assert got["control_success_by_tag"] == {k: round(v, 4) for k, v in stage["control_success_by_tag"].items()}
    assert got["val_control_success_by_tag"] == {k: round(v, 4) for k, v in stage["val_control_success_by_tag"].items()}
    shown = []
    dcgan(tmp_path, smoke_params, judge, lambda x: shown.append(x.shape) or np.repeat(np.repeat(x, 4, 1), 4, 2))
    assert shown and {s[1:] for s in shown} == {(32, 32, 3)}


def test_stylegan_without_upscale_is_the_train_stage_figure(tmp_path, smoke_params):
    """The conditional StyleGAN's sliders (the family's route) with the stage's latents, conditions and seeds."""
    smoke_params = _params(smoke_params)
    torch.manual_seed(0)
    G = ConditionalGenerator(32, z_dim=16, w_dim=16, mapping=2, base=8, cap=16, embed=4).eval()
    G.save(tmp_path, {"role": "stylegan"})
    prior = ConditionPrior.fit(np.random.default_rng(0).integers(0, 2, (50, len(GROUPS))))
    prior.save(tmp_path / "conditions.safetensors")
    judge = _judge()
    stage = dcgan_family.slider_scores(smoke_params.stylegan.sliders, smoke_params.seed, G, prior, judge)
    got = stylegan(tmp_path, smoke_params, judge, None)
    _lively(got)
    assert got["control_success_by_tag"] == {k: round(v, 4) for k, v in stage["control_success_by_tag"].items()}
    assert got["val_control_success_by_tag"] == {k: round(v, 4) for k, v in stage["val_control_success_by_tag"].items()}


def test_dcgan_over_seeds_reads_each_seeds_generator_with_the_stages_latents(tmp_path, smoke_params, monkeypatch):
    params = _params(smoke_params)
    size = params.dcgan.sizes[0]
    data = tmp_path / "data"
    (data / "ingest").mkdir(parents=True)
    (data / "ingest" / "manifest.csv").write_text("id,split\n")  # what the seed study's key hashes
    monkeypatch.setattr(seed_study, "CACHE", tmp_path / "cache")
    bundle = data / "train" / "dcgan" / f"dcgan-{size}"
    prior = ConditionPrior.fit(np.random.default_rng(0).integers(0, 2, (50, len(GROUPS))))
    nets = {}
    for i, seed in enumerate((params.seed, params.seed + 1)):
        torch.manual_seed(i)
        nets[seed] = DcganGenerator(size, nz=16, ngf=8, embed=4).eval()
        folder = bundle if seed == params.seed else seed_study.kept_dcgan(params, seed, data / "ingest")
        nets[seed].save(folder, {"role": "dcgan"})
    prior.save(bundle / "conditions.safetensors")  # only the bundle has one: every seed is scored with it
    judge = _judge()
    got = dcgan_seeds([params.seed, params.seed + 1], params, data, judge, None)
    assert [r["seed"] for r in got["runs"]] == [params.seed, params.seed + 1]
    for run in got["runs"]:
        stage = dcgan_family.slider_scores(params.dcgan.sliders, params.seed, nets[run["seed"]], prior, judge)
        assert run["control_success_by_tag"] == {k: round(v, 4) for k, v in stage["control_success_by_tag"].items()}
        assert run["val_control_success"] == round(stage["val_control_success"], 4)
    means = [r["control_success"] for r in got["runs"]]
    assert means[0] != means[1]  # two generators, two figures: the kept one was read, not the bundle twice
    assert got["spread"]["control_success"]["mean"] == round(float(np.mean(means)), 4)
    lowest = [min(r["control_success_by_tag"].values()) for r in got["runs"]]
    assert got["spread"]["control_success_min"]["min"] == round(min(lowest), 4)
    with pytest.raises(SystemExit, match="seed 99"):
        dcgan_seeds([99], params, data, judge, None)


def test_at_the_pages_truncation_every_image_is_drawn_at_psi(tmp_path, smoke_params):
    """--truncation: the same latents and conditions drawn at psi (as the service draws them), the 32 px reading at
    that psi beside the page's in the seeds' figures; PAGE_PSI is the page's own default."""
    import re

    from tests.conftest import REPO

    html = (REPO / "serve" / "static" / "index.html").read_text()
    (default,) = re.findall(r'<input id="truncation"[^>]*value="([0-9.]+)"', html)
    assert float(default) == PAGE_PSI

    params = _params(smoke_params)
    size = params.dcgan.sizes[0]
    data = tmp_path / "data"
    bundle = data / "train" / "dcgan" / f"dcgan-{size}"
    torch.manual_seed(0)
    G = DcganGenerator(size, nz=16, ngf=8, embed=4).eval()
    G.save(bundle, {"role": "dcgan"})
    prior = ConditionPrior.fit(np.random.default_rng(0).integers(0, 2, (50, len(GROUPS))))
    prior.save(bundle / "conditions.safetensors")
    judge = _judge()
    got = dcgan(bundle, params, judge, None, PAGE_PSI)
    _lively(got)
    p = params.dcgan.sliders
    direct = dcgan_sliders.control_success(G, prior, judge, p.test, params.seed + 12, psi=PAGE_PSI)
    assert got["control_success_by_tag"] == {k: round(v, 4) for k, v in direct.items()}
    assert got != dcgan(bundle, params, judge, None)  # psi reached the images

    def double(x: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(x, 2, 1), 2, 2)

    seeds = dcgan_seeds([params.seed], params, data, judge, double, PAGE_PSI)
    (run,) = seeds["runs"]
    assert run["size_32"] == got  # the 32 px reading at psi, beside the page's
    assert run["control_success"] == dcgan(bundle, params, judge, double, PAGE_PSI)["control_success"]
    assert seeds["spread_32"]["control_success"]["mean"] == got["control_success"]
    assert "size_32" not in dcgan_seeds([params.seed], params, data, judge, double)["runs"][0]
