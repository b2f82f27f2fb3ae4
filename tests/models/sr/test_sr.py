"""Super-resolution (models/sr/, models/metrics/psnr.py, ssim.py): the metrics on answers known by construction, the
network's bicubic start, the content and adversarial trainings on a tiny set, and the family's figures end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from core.params import load_params
from models import metrics
from models.engine import gan
from models.metrics.psnr import psnr_db
from models.metrics.ssim import ssim
from models.sr.net import SrDiscriminator, SrNet
from models.sr.task import Perceptual, SrganTask
from models.sr.train import bicubic, low_res, signed, to_nchw, train_content, upscale
from models.tagger.net import TaggerNet
from tests.conftest import REPO


def _faces(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """Flat rectangles with sharp edges on the 4-px grid: every low-resolution pixel is one colour, so the true image
    follows from the input (bicubic blurs those edges; a network learns to keep them)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):
        im = np.full((size, size, 3), rng.integers(0, 255, 3), np.uint8)
        for _ in range(2):
            c = tuple(int(v) for v in rng.integers(0, 255, 3))
            x, y = (4 * int(v) for v in rng.integers(0, size // 8, 2))
            w, h = (4 * int(v) for v in rng.integers(size // 16, size // 8, 2))
            im[y : y + h, x : x + w] = c
        out[i] = im
    return out


# metrics


def test_psnr_of_a_known_error_and_its_guards():
    truth = np.full((2, 16, 16, 3), 100, np.uint8)
    off = truth + 1  # MSE 1 everywhere: 10 log10(255^2)
    assert psnr_db(off, truth) == pytest.approx(20 * np.log10(255), abs=1e-9)
    assert psnr_db(truth, truth) == 100.0  # capped, finite
    worse = off.copy()
    worse[:, 0, :] = 200  # an error only in the border row: cropped away, the figure is the clean one
    assert psnr_db(worse, truth, crop=1) == pytest.approx(20 * np.log10(255))
    assert psnr_db(worse, truth) < psnr_db(off, truth)
    with pytest.raises(ValueError, match="must both be"):
        psnr_db(truth[:, :8], truth)
    with pytest.raises(ValueError, match="uint8"):
        psnr_db(truth.astype(np.float32), truth)
    with pytest.raises(ValueError, match="crop"):
        psnr_db(truth, truth, crop=8)
    assert metrics.get("psnr_db").lower_is_better is False and metrics.get("ssim").lower_is_better is False


def _ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s SSIM per channel with an 11-px Gaussian window (sigma 1.5), every pixel, the image mirrored
    at its borders (how torchmetrics pads)."""
    c1, c2 = 0.01**2, 0.03**2
    vals = []
    for x, y in zip(a.astype(np.float64) / 255, b.astype(np.float64) / 255, strict=True):
        for ch in range(3):
            f = lambda z: gaussian_filter(z, 1.5, truncate=3.5, mode="mirror")  # noqa: E731
            u, v = x[..., ch], y[..., ch]
            mu, mv = f(u), f(v)
            su, sv, suv = f(u * u) - mu * mu, f(v * v) - mv * mv, f(u * v) - mu * mv
            m = ((2 * mu * mv + c1) * (2 * suv + c2)) / ((mu * mu + mv * mv + c1) * (su + sv + c2))
            vals.append(m.mean())
    return float(np.mean(np.reshape(vals, (len(a), 3)).mean(axis=1)))


def test_ssim_is_one_on_itself_and_matches_the_definition():
    a = _faces(3, 32)
    noisy = np.clip(a + np.random.default_rng(1).normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, a) == pytest.approx(1.0, abs=5e-4)  # float32 convolutions (models/metrics/ssim.py)
    assert ssim(noisy, a) == pytest.approx(_ssim_reference(noisy, a), abs=2e-3)
    assert ssim(noisy, a) < 0.9
    with pytest.raises(ValueError, match="11 px"):
        ssim(a[:, :12, :12], a[:, :12, :12], crop=1)


# networks


def test_an_untrained_network_is_bicubic_and_the_baseline_is_opencv():
    hi = _faces(4)
    lo = low_res(hi, 4)
    assert lo.shape == (4, 16, 16, 3) and lo.dtype == np.uint8
    net = SrNet(8, 1, 4).eval()
    out = upscale(net, lo)
    # the tail starts at zero: the output is torch's bicubic, within a grey level of OpenCV's INTER_CUBIC
    assert np.abs(out.astype(int) - bicubic(lo, 4).astype(int)).max() <= 1
    assert psnr_db(out, hi, crop=4) == pytest.approx(psnr_db(bicubic(lo, 4), hi, crop=4), abs=0.05)
    with pytest.raises(ValueError, match="power of two"):
        SrNet(8, 1, 3)
    logits, aux = SrDiscriminator(64, 8)(signed(to_nchw(hi)))
    assert logits.shape == (4,) and aux == {}


def test_content_training_beats_bicubic_on_held_out_images():
    p = load_params(REPO / "params.yaml", "smoke").sr
    p = p.model_copy(
        update={"channels": 16, "blocks": 2, "content": p.content.model_copy(update={"epochs": 30, "lr": 0.002})}
    )
    train, held = _faces(96, seed=0), _faces(16, seed=1)
    result = train_content(p, train, seed=0)
    assert result.history[-1]["l1"] < result.history[0]["l1"]
    lo = low_res(held, 4)
    gain = psnr_db(upscale(result.net, lo), held, crop=4) - psnr_db(bicubic(lo, 4), held, crop=4)
    assert gain > 1.0, gain  # bicubic blurs edges the input fixes exactly: several dB once the tail has grown


def test_perceptual_loss_gives_the_generator_gradients_and_the_judge_none():
    judge = TaggerNet(width=4, size=64).eval()
    before = {k: v.clone() for k, v in judge.state_dict().items()}
    perc = Perceptual(judge)
    real = signed(to_nchw(_faces(2)))
    fake = real.clone().requires_grad_(True)
    assert float(perc(fake, real).detach()) == 0.0
    moved = (real + 0.3 * torch.randn_like(real)).requires_grad_(True)
    loss = perc(moved, real)
    loss.backward()
    assert float(loss) > 0 and moved.grad is not None and moved.grad.abs().sum() > 0
    assert all(p.grad is None for p in judge.parameters())
    assert all(torch.equal(before[k], v) for k, v in judge.state_dict().items())


def test_srgan_task_trains_on_the_engine_and_resumes(tmp_path):
    p = load_params(REPO / "params.yaml", "smoke").sr
    hi = _faces(24)
    perc = Perceptual(TaggerNet(width=4, size=64).eval())
    config = gan.config(p.gan, seed=3)

    def fresh():
        torch.manual_seed(0)
        return SrganTask(SrNet(p.channels, p.blocks, p.scale), hi, p, perc, 1.0, seed=3)

    whole = gan.train(fresh(), config)
    assert whole.steps_done == p.gan.steps and whole.watchdog is None
    assert {"l1", "perceptual"} <= set(whole.history[-1])
    half = gan.train(fresh(), gan.GanConfig(**{**config.__dict__, "steps": p.gan.steps // 2}), folder=tmp_path)
    assert half.steps_done == p.gan.steps // 2
    task, updates, logged = fresh(), [], []
    task.opt_g.register_step_post_hook(lambda *_: updates.append(1))
    resumed = gan.train(task, config, folder=tmp_path, log=lambda m, s: logged.append(s))
    # it started from the checkpoint of the half run (a run from step 0 ends with the same weights too)
    rest = list(range(p.gan.steps // 2 + 1, p.gan.steps + 1))
    assert len(updates) == len(rest) > 0 and logged == rest[p.gan.log_every - 1 :: p.gan.log_every]
    for a, b in zip(whole.g_ema.state_dict().values(), resumed.g_ema.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_crops_are_aligned_and_the_input_crop_is_the_crop_of_the_input():
    from models.sr.train import crop

    rng = np.random.default_rng(0)
    hi = rng.integers(0, 256, (6, 128, 128, 3), dtype=np.uint8)
    H, L = to_nchw(hi), to_nchw(low_res(hi, 4))
    lo_c, hi_c = crop(L, H, 64, torch.Generator().manual_seed(1))
    assert lo_c.shape == (6, 3, 16, 16) and hi_c.shape == (6, 3, 64, 64)
    again = to_nchw(low_res(np.ascontiguousarray(hi_c.numpy().transpose(0, 2, 3, 1)), 4))
    assert torch.equal(again, lo_c)  # area averaging in 4 x 4 blocks: the crop of the input is the input of the crop
    offsets = set()
    for i in range(6):  # each crop is a 64 px window of its own image at a multiple of 4
        at = [
            (y, x)
            for y in range(0, 65, 4)
            for x in range(0, 65, 4)
            if torch.equal(H[i, :, y : y + 64, x : x + 64], hi_c[i])
        ]
        assert len(at) == 1
        offsets.add(at[0])
    assert len(offsets) > 1  # not one place for every image
    whole = crop(L, H, 0, torch.Generator())
    assert whole[0] is L and whole[1] is H


def test_patch_must_fit_the_scale_and_the_sizes(smoke_params):
    from pydantic import ValidationError

    from core.params import SrParams

    doc = smoke_params.sr.model_dump()
    with pytest.raises(ValidationError, match="multiple of 16"):
        SrParams(**{**doc, "patch": 40})
    with pytest.raises(ValidationError, match="up to the smallest size"):
        SrParams(**{**doc, "sizes": [64], "patch": 128})
    assert SrParams(**{**doc, "sizes": [128], "patch": 64}).patch == 64
