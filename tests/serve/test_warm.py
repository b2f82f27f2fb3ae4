"""The service's passes run at a dozen padded batch sizes, each warmed before the first request: after the warm-up,
requests of any count bring no input shape a network has not seen (oneDNN builds its kernels per shape, and a new
shape is memory taken for good), and padding never changes an image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from serve.app import MAX_COUNT
from serve.bundles import Models, batch_size_for, batch_sizes
from tests.serve.tiny import make_deploy


def test_padded_sizes_are_few_and_waste_at_most_half():
    for n in range(1, 200):
        b = batch_size_for(n)
        assert n <= b <= max(2, 1.5 * n), n
    assert batch_sizes(64) == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]
    assert batch_sizes(16) == [1, 2, 3, 4, 6, 8, 12, 16] and batch_sizes(1) == [1]


def _record_shapes(models: Models) -> set[tuple]:
    """Every (network, input shape) a forward pass sees from now on."""
    seen: set[tuple] = set()
    nets = {f"gen-{f}": g.net for f, g in models.generators.items()}
    nets |= {f"up-{f}": n for f, n in models.upscalers.items()}
    nets |= {"tagger": models.tagger, "posenet": models.posenet, "pose2sketch": models.pose2sketch}
    for name, net in nets.items():
        if isinstance(net, torch.nn.Module):
            net.register_forward_pre_hook(lambda _m, args, name=name: seen.add((name, tuple(args[0].shape))))
    return seen


@pytest.mark.parametrize("stylegan", ["conditional", "unconditional"])
def test_after_the_warm_up_no_request_brings_a_new_shape(tmp_path, stylegan):
    models = Models.load(make_deploy(tmp_path / "d", stylegan=stylegan))
    seen = _record_shapes(models)
    models.warm(24, MAX_COUNT)
    warmed = set(seen)
    rng = np.random.default_rng(0)
    for n in rng.integers(1, 25, size=12):
        models.generate(list(range(int(n))), "dcgan")
        models.generate(list(range(int(n))), "stylegan", 0.7)
    for n in range(1, MAX_COUNT + 1):
        models.upscale(np.zeros((n, 32, 32, 3), np.uint8))
    models.read_tags(np.zeros((40, 50, 3), np.uint8))
    models.sketch(np.full((11, 2), 20.0, np.float32))
    assert seen == warmed, sorted(seen - warmed)
    # the warm-up ran every generator's pass at each padded size, and nothing else is new after it
    assert {s[1][0] for s in warmed if s[0] == "gen-dcgan"} == set(batch_sizes(24))
    assert {s[1][0] for s in warmed if s[0] == "up-sr"} == set(batch_sizes(MAX_COUNT))


def test_padding_never_changes_an_image(tmp_path):
    models = Models.load(make_deploy(tmp_path / "d"))
    seeds = [3, 9, 4, 11, 7]  # 5 images: a pass of 6
    g = models.generators["dcgan"]
    alone = np.concatenate([g.sample([s], 0.8, {"smile=yes": 0.5}) for s in seeds])
    assert np.array_equal(models.generate(seeds, "dcgan", 0.8, {"smile=yes": 0.5}), alone)
    ups = models.upscale(alone)
    assert ups.shape == (5, 128, 128, 3)
    assert np.array_equal(ups[2:3], models.upscale(alone[2:3]))


def test_the_app_warms_its_models_at_start_unless_told_not_to(tmp_path, monkeypatch):
    """`create_app` (what `python -m serve` runs) warms the models it loads before it answers; `warm=False`, which
    the tests of the API's answers pass, leaves that to the first requests."""
    from serve.app import create_app

    calls = []
    real = Models.warm
    monkeypatch.setattr(Models, "warm", lambda self, *a: calls.append(a) or real(self, *a))
    deploy = make_deploy(tmp_path / "d")
    app = create_app(deploy, window_ms=0, max_images=8)
    assert calls == [(8, MAX_COUNT)] and app.state.warm_seconds > 0
    cold = create_app(deploy, window_ms=0, max_images=8, warm=False)
    assert len(calls) == 1 and cold.state.warm_seconds is None
