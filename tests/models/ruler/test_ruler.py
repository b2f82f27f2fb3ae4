"""The second ruler (models/ruler/, stages/ruler.py): its loss, its views, its training and the stage's record."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from core.errors import BadInput
from models.ruler.net import RulerNet, augment, extract, nt_xent
from models.ruler.read import load_ruler


def test_the_loss_is_the_cross_entropy_of_each_view_finding_its_pair():
    a = torch.nn.functional.normalize(torch.randn(3, 5, generator=torch.Generator().manual_seed(0)), dim=1)
    b = torch.nn.functional.normalize(torch.randn(3, 5, generator=torch.Generator().manual_seed(1)), dim=1)
    loss, _ = nt_xent(a, b, 0.5)
    z = torch.cat([a, b])
    by_hand = 0.0
    for i in range(6):
        pair = (i + 3) % 6
        others = [j for j in range(6) if j != i]
        logits = torch.stack([z[i] @ z[j] / 0.5 for j in others])
        by_hand += -(z[i] @ z[pair] / 0.5 - torch.logsumexp(logits, 0))
    assert float(loss) == pytest.approx(float(by_hand) / 6, rel=1e-5)
    same, hit = nt_xent(a, a.clone(), 0.1)  # each view's pair is itself again: found by all
    assert hit == 1.0 and float(same) < float(loss)


def test_a_view_keeps_the_shape_and_range_and_is_a_function_of_the_generator():
    x = torch.rand(4, 3, 16, 16)
    one = augment(x, torch.Generator().manual_seed(3), 0.6, 0.2)
    two = augment(x, torch.Generator().manual_seed(3), 0.6, 0.2)
    assert one.shape == x.shape and torch.equal(one, two) and one.min() >= 0 and one.max() <= 1
    # no crop and no jitter: each view is the image or its mirror, nothing else (colour is never changed)
    plain = augment(x, torch.Generator().manual_seed(4), 1.0, 0.0)
    for v, orig in zip(plain, x):
        assert torch.allclose(v, orig, atol=1e-5) or torch.allclose(v, orig.flip(-1), atol=1e-5)


def test_training_lowers_the_loss_and_the_bundle_reads_back(tmp_path, smoke_params):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    images[::2, 8:24, 8:24] = rng.integers(0, 256, (32, 1, 1, 3), dtype=np.uint8)  # half carry a square of one colour
    from models.ruler.train import train

    p = smoke_params.ruler.model_copy(update={"epochs": 6, "batch": 16, "width": 4, "dim": 8})
    res = train(images, p, seed=0)
    losses = [h["loss"] for h in res.history]
    assert len(losses) == 6 and losses[-1] < losses[0], losses
    again = train(images, p, seed=0)  # same seed, same weights
    assert all(torch.equal(a, b) for a, b in zip(res.net.state_dict().values(), again.net.state_dict().values()))
    res.net.save(tmp_path / "r")
    from core.hashing import file_digest

    (tmp_path / "r" / "ruler.json").write_text(
        json.dumps({"weights_sha256": file_digest(tmp_path / "r" / "model.safetensors")})
    )
    ruler = load_ruler(tmp_path / "r")
    feats = ruler.features(images)
    assert feats.shape == (64, res.net.feature_dim) and np.allclose(feats, extract(res.net, images))
    assert np.isfinite(feats).all() and feats.std(axis=0).max() > 0
    big = np.repeat(np.repeat(images[:4], 2, axis=1), 2, axis=2)  # 64 px images are read at the ruler's size
    assert ruler.features(big).shape == (4, res.net.feature_dim)


def test_weights_that_are_not_the_recorded_ones_are_refused(tmp_path):
    net = RulerNet(4, 32, 8)
    net.save(tmp_path)
    (tmp_path / "ruler.json").write_text(json.dumps({"weights_sha256": "0" * 64}))
    with pytest.raises(ValueError, match="not the ones recorded"):
        load_ruler(tmp_path)
    with pytest.raises(FileNotFoundError, match="run the ruler stage"):
        load_ruler(tmp_path / "missing")


def test_the_stage_on_the_smoke_set(tmp_path, smoke_params, smoke_ingest, store):
    from stages import ruler as stage

    figures = stage.run(smoke_params, smoke_ingest, tmp_path / "ruler")
    record = json.loads((tmp_path / "ruler" / "ruler.json").read_text())
    assert figures["epochs_done"] == smoke_params.ruler.epochs and not figures["stopped_by_budget"]
    assert figures["train_images"] == record["train_images"] > 0 and math.isfinite(figures["loss"])
    assert load_ruler(tmp_path / "ruler").sha256 == figures["weights_sha256"] == record["weights_sha256"]
    assert len(record["history"]) == smoke_params.ruler.epochs
    wrong = smoke_params.model_copy(update={"ruler": smoke_params.ruler.model_copy(update={"size": 48})})
    with pytest.raises(BadInput, match="not an ingested size"):
        stage.run(wrong, smoke_ingest, tmp_path / "other")
