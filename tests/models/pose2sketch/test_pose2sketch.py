"""Pose -> sketch (models/pose2sketch/, models/metrics/l1.py): network shapes, a D that judges the pair, training on
the engine, and the retrieval baseline picking the training sketch of the nearest pose."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from core.params import load_params
from models import metrics
from models.engine import gan
from models.metrics.l1 import l1
from models.pose.retrieval import RetrievalIndex
from models.pose2sketch import family
from models.pose2sketch.net import PatchD, UNet
from models.pose2sketch.task import Pose2sketchTask, draw
from tests.conftest import REPO


def _pairs(n: int, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stick figures (coloured lines) and their 'sketches' (the same lines, thicker, grey): a learnable mapping."""
    rng = np.random.default_rng(seed)
    sticks = np.zeros((n, size, size, 3), np.uint8)
    sketches = np.full((n, size, size), 255, np.uint8)
    for i in range(n):
        for _ in range(3):
            a, b = (tuple(int(v) for v in rng.integers(2, size - 2, 2)) for _ in range(2))
            cv2.line(sticks[i], a, b, (255, 80, 80), 1)
            cv2.line(sketches[i], a, b, 0, 2)
    return sticks, sketches


def test_l1_of_a_known_difference_and_its_guards():
    a = np.zeros((2, 4, 4), np.uint8)
    assert l1(a, a) == 0.0
    assert l1(a + 51, a) == pytest.approx(0.2)
    assert metrics.get("l1").lower_is_better
    with pytest.raises(ValueError, match="one non-empty"):
        l1(a, a[:, :2])
    with pytest.raises(ValueError, match="uint8"):
        l1(a.astype(np.float32), a)


@pytest.mark.parametrize("size", [16, 64, 128])
def test_unet_maps_a_stick_figure_to_a_one_channel_sketch(size):
    out = UNet(size, 8)(torch.zeros(2, 3, size, size))
    assert out.shape == (2, 1, size, size) and out.abs().max() <= 1
    with pytest.raises(ValueError, match="power of two"):
        UNet(48, 8)


def test_patch_discriminator_judges_the_pair():
    D = PatchD(8).eval()
    sketch, stick = torch.randn(2, 1, 64, 64), torch.randn(2, 3, 64, 64)
    logits, aux = D(sketch, stick)
    assert logits.shape == (2, 64) and aux == {}  # an 8x8 map of patch logits at 64 px
    assert not torch.allclose(logits, D(sketch, torch.randn(2, 3, 64, 64))[0])  # the condition matters


def test_training_on_the_engine_lowers_l1_and_resumes(tmp_path):
    p = load_params(REPO / "params.yaml", "smoke").pose2sketch.model_copy(update={"steps": 30, "batch": 8})
    sticks, sketches = _pairs(32)
    config = gan.config(p, seed=1)
    whole = gan.train(Pose2sketchTask(sticks, sketches, p, 32, seed=1), config)
    assert whole.history[-1]["l1"] < whole.history[0]["l1"]
    assert draw(whole.g_ema, sticks[:3]).shape == (3, 32, 32)
    half = gan.GanConfig(**{**config.__dict__, "steps": 15})
    gan.train(Pose2sketchTask(sticks, sketches, p, 32, seed=1), half, folder=tmp_path)
    task, updates, logged = Pose2sketchTask(sticks, sketches, p, 32, seed=1), [], []
    task.opt_g.register_step_post_hook(lambda *_: updates.append(1))
    resumed = gan.train(task, config, folder=tmp_path, log=lambda m, s: logged.append(s))
    # it started from the checkpoint of step 15 (a run from step 0 ends with the same weights too); smoke logs every step
    assert len(updates) == 15 and logged == list(range(16, 31))
    for a, b in zip(whole.g_ema.state_dict().values(), resumed.g_ema.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="expected sticks"):
        Pose2sketchTask(sticks, sketches[:, :16], p, 32, seed=1)


def test_retrieval_baseline_returns_the_training_sketch_of_the_nearest_pose(monkeypatch):
    _, sketches = _pairs(3)
    emb = np.eye(3, dtype=np.float32)
    data = {"index": RetrievalIndex(emb, ["a", "b", "c"]), "posenet": None, "splits": {"train": (None, sketches)}}
    # posenet's embedding of the queries: near rows 2, 0 and 2 of the index
    monkeypatch.setattr(
        family, "embed_images", lambda net, x: np.array([[0, 0.1, 0.9], [1, 0, 0], [0, 0, 1]], np.float32)
    )
    got = family.retrieve(data, np.zeros((3, 32, 32, 3), np.uint8))
    assert np.array_equal(got, sketches[[2, 0, 2]])
    # with each projection's joints the index re-ranks its 2 nearest by the input's joints: the first query's pose
    # is row 1's, which its embedding had second
    poses = np.random.default_rng(0).uniform(4, 28, (3, 11, 2))
    data["index"] = RetrievalIndex(emb, ["a", "b", "c"], poses, k=2, weight=10.0)
    got = family.retrieve(data, np.zeros((3, 32, 32, 3), np.uint8), poses[[1, 0, 2]] * 0.5 + 3)
    assert np.array_equal(got, sketches[[1, 0, 2]])
