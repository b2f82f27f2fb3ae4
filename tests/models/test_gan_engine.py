"""The adversarial engine (models/engine/gan.py) and the DCGAN family's pieces: data order, augmentation, EMA,
checkpoints (kill -9 and resume, bit-identical), torchrun with 2 gloo processes, the failure watchdog, the networks
built from the resolution, the PCA-Gaussian baseline, and the scores catching a collapsed generator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from torch import nn

from core import checkpoint
from core.names import ATTRIBUTES, GROUPS
from core.params import load_params
from models.dcgan.conditions import conditions
from models.dcgan.net import Discriminator, Generator, layout, null_condition
from models.dcgan.pca import PcaGaussian
from models.dcgan.task import NULL, DcganTask, ReaderBatch, ReaderRecipe, moved_pair, reader_view
from models.engine import ema, gan
from models.engine.augment import diff_augment
from models.engine.watchdog import WatchdogConfig
from models.metrics import generators
from tests.conftest import REPO, VENV_BIN

DOG = WatchdogConfig(stop=True, window=5, d_accuracy=0.99, collapse_ratio=0.15, warmup=0)


def _config(**kw) -> gan.GanConfig:
    base = dict(
        steps=8,
        batch=8,
        seed=0,
        r1_gamma=0.1,
        r1_every=2,
        ema_beta=0.9,
        augment=("translation", "color", "cutout"),
        amp="off",
        channels_last=True,
        checkpoint_every=4,
        keep=2,
        sample_every=4,
        log_every=2,
        max_minutes=10.0,
        watchdog=WatchdogConfig(stop=False, window=1000, d_accuracy=1.0, collapse_ratio=0.0, warmup=0),
    )
    return gan.GanConfig(**{**base, **kw})


def _task(images: np.ndarray | None = None, lr_g: float = 2e-4, lr_d: float = 2e-4, G: nn.Module | None = None):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8) if images is None else images
    labels = rng.integers(0, 2, (len(images), len(GROUPS)))
    G = G or Generator(32, 8, 4, 2)
    D = Discriminator(32, 4, conditional=True)
    return DcganTask(
        G,
        D,
        torch.optim.Adam(G.parameters(), lr_g, betas=(0.5, 0.999)),
        torch.optim.Adam(D.parameters(), lr_d, betas=(0.5, 0.999)),
        images,
        labels,
        0.2,
        0.1,
        1.0,
    )


def test_data_order_is_a_function_of_the_step_and_covers_each_epoch():
    rows, batch = 10, 4
    seen = torch.cat([gan.data_order(rows, 3, s, batch) for s in range(5)])  # 20 rows: two epochs exactly
    assert sorted(seen[:10].tolist()) == list(range(10)) and sorted(seen[10:].tolist()) == list(range(10))
    assert seen[:10].tolist() != seen[10:].tolist()
    assert torch.equal(gan.data_order(rows, 3, 2, batch), seen[8:12])  # straddles the epochs, same as unbroken


def test_diff_augment_keeps_gradients_and_shards_rows_like_one_process():
    x = torch.randn(6, 3, 16, 16, requires_grad=True)
    policy = ["color", "translation", "cutout"]
    y = diff_augment(x, policy, torch.Generator().manual_seed(1), slice(None), 6)
    y.sum().backward()
    assert y.shape == x.shape and x.grad is not None and x.grad.abs().sum() > 0
    # rank 1 of 2 draws the same global numbers and keeps its rows: its result equals those rows of the whole
    part = diff_augment(x.detach()[1::2], policy, torch.Generator().manual_seed(1), slice(1, 6, 2), 6)
    assert torch.allclose(part, y.detach()[1::2])


def test_ema_follows_the_live_network():
    net = nn.Linear(3, 3)
    avg = ema.make(net)
    with torch.no_grad():
        net.weight.add_(1.0)
    before = avg.weight.clone()
    ema.update(avg, net, 0.75)
    assert torch.allclose(avg.weight, 0.75 * before + 0.25 * net.weight)
    assert not any(p.requires_grad for p in avg.parameters())


@pytest.mark.parametrize("size", [32, 64, 96, 128])
def test_networks_follow_the_resolution(size):
    base, k = layout(size)
    assert base * 2**k == size
    G, D = Generator(size, 16, 4, 3), Discriminator(size, 4, conditional=True)
    x = G(torch.randn(2, 16), null_condition(2))
    logits, aux = D(x, null_condition(2))
    assert x.shape == (2, 3, size, size) and logits.shape == (2,) and len(aux["classes"]) == len(GROUPS)
    with pytest.raises(ValueError, match="size 80"):
        layout(80)


def test_at_64_px_the_networks_are_the_pytorch_examples():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # the example's netG / netD (ngf = ndf = 64, nz = 100, no biases): 3,576,704 and 2,765,568 parameters
    assert count(Generator(64, 100, 64, 0)) == 3_576_704
    assert count(Discriminator(64, 64, conditional=False)) == 2_765_568


def test_a_null_condition_is_unconditional_sampling_and_the_bundle_round_trips(tmp_path):
    G = Generator(32, 8, 4, 2).eval()
    z = torch.randn(3, 8)
    assert torch.equal(G(z), G(z, null_condition(3)))
    G.save(tmp_path / "g")
    again = Generator.load(tmp_path / "g")
    assert torch.equal(again(z), G(z))


def test_conditional_batch_norm_reaches_every_layer_and_round_trips(tmp_path):
    torch.manual_seed(0)
    G = Generator(32, 8, 4, 2, cond_bn=True)
    assert len(G.norms) == 3 and not hasattr(G, "main")
    for norm in G.norms:  # the condition moves every norm's gain and bias, not only G's input
        c = torch.randn(2, 2 * len(GROUPS))
        x = torch.randn(2, norm.bn.num_features, 4, 4)
        assert not torch.allclose(norm(x, c[:1].expand(2, -1)), norm(x, c[1:].expand(2, -1)))
    gan.train(_task(G=G), _config(steps=2))  # trains (batch norm in train mode, the condition's gradients)
    G.eval()
    z, cond = torch.randn(3, 8), null_condition(3)
    cond[:, 0] = 1
    assert not torch.equal(G(z, cond), G(z))
    G.save(tmp_path / "g")
    again = Generator.load(tmp_path / "g")
    # G trained channels-last, the loaded one is contiguous: the same numbers up to the convolution's summation order
    assert again.config["cond_bn"] and torch.allclose(again(z, cond), G(z, cond), atol=1e-6)
    with pytest.raises(ValueError, match="cond_bn"):
        Generator(32, 8, 4, 0, cond_bn=True)


def test_the_reader_learns_on_real_images_and_guides_g_with_real_statistics():
    torch.manual_seed(0)
    G = Generator(32, 8, 4, 2)
    D = Discriminator(32, 4, conditional=True, reader=4)
    rng = np.random.default_rng(0)
    task = DcganTask(
        G,
        D,
        torch.optim.Adam(G.parameters()),
        torch.optim.Adam(D.parameters()),
        rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 2, (16, len(GROUPS))),
        1.0,  # every condition dropped: G and D train unconditionally, the reader still learns the rows' labels
        0.0,
        ac_weight=0.0,
        reader=ReaderRecipe(1.0, flip=True, shift=2, label_smoothing=0.05),
    )
    b = task.batch(torch.arange(8), torch.Generator().manual_seed(0), slice(None), 8)
    assert (b.cond == NULL).all() and torch.equal(b.labels, task.labels[:8])
    assert b.reader_real.shape == b.real.shape and not torch.equal(b.reader_real, b.real)  # its own augmentation
    loss, figs = task.d_extra(b, {}, {})  # D's step: the reader's cross-entropy on its view of the real images
    loss.backward()
    assert figs["reader_d"] > 0 and all(q.grad is not None for q in D.reader.parameters())
    assert all(q.grad is None for n, q in D.named_parameters() if not n.startswith("reader."))
    D.zero_grad(set_to_none=True)
    before = {k: v.clone() for k, v in D.reader.named_buffers()}
    D.requires_grad_(False)  # as the engine freezes D in G's step
    b.cond = task.labels[:8]  # G asked for the rows' values
    loss, figs = task.g_extra(b, G(b.g_in[0], b.cond), {})
    loss.backward()
    assert figs["reader_g"] > 0 and all(q.grad is not None and q.grad.abs().sum() > 0 for q in G.parameters())
    assert D.reader.training  # read in eval mode (real images' running statistics), then back to training
    assert all(torch.equal(v, before[k]) for k, v in D.reader.named_buffers())  # fakes never move its statistics


def test_group_factors_weigh_each_groups_cross_entropy_in_gs_reader_loss():
    torch.manual_seed(0)
    classes = [torch.randn(6, len(ATTRIBUTES[g]) + 1) for g in GROUPS]
    cond = torch.stack([torch.randint(len(ATTRIBUTES[g]), (6,)) for g in GROUPS], dim=1)
    cond[:3, 0] = NULL[0]  # rows without that group's condition are left out of its cross-entropy
    per = torch.stack(
        [F.cross_entropy(c[cond[:, i] != NULL[i]], cond[cond[:, i] != NULL[i], i]) for i, c in enumerate(classes)]
    )
    plain, logged = DcganTask._ce(classes, cond, 2.0)
    assert torch.allclose(plain, 2.0 * per.mean()) and logged == pytest.approx(float(per.mean()))
    factors = tuple(3.0 if g == "glasses" else 1.0 for g in GROUPS)
    weighted, logged_w = DcganTask._ce(classes, cond, 2.0, factors)
    k = GROUPS.index("glasses")
    assert torch.allclose(weighted, 2.0 * (per.sum() + 2.0 * per[k]) / len(GROUPS))
    assert logged_w == pytest.approx(logged)  # the logged figure stays the plain mean, comparable across settings
    assert torch.equal(DcganTask._ce(classes, cond, 2.0, (1.0,) * len(GROUPS))[0], plain)  # all ones: the same bits


def test_a_moved_pair_changes_exactly_one_group_to_another_value():
    n = 400
    cond = torch.stack([torch.randint(len(ATTRIBUTES[g]) + 1, (n,)) for g in GROUPS], dim=1)  # some null
    which, pair = moved_pair(cond, torch.Generator().manual_seed(3), slice(None), n)
    changed = pair != cond
    assert torch.equal(changed.sum(dim=1), torch.ones(n, dtype=torch.long))  # one group per row, always moved
    assert torch.equal(changed.float().argmax(dim=1), which)
    assert bool((pair.gather(1, which[:, None]).squeeze(1) < NULL[which]).all())  # to a value, never to null
    assert set(which.tolist()) == set(range(len(GROUPS)))  # every group gets moved
    # drawn for the global batch: two ranks' halves are the whole batch's rows
    halves = [moved_pair(cond[r], torch.Generator().manual_seed(3), r, n) for r in (slice(0, 200), slice(200, n))]
    assert torch.equal(torch.cat([h[1] for h in halves]), pair)


def test_the_pair_loss_teaches_g_the_moved_reading_and_keeps_the_others():
    torch.manual_seed(0)
    G = Generator(32, 8, 4, embed=4)
    D = Discriminator(32, 4, conditional=True, reader=4)
    images = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    labels = np.stack([np.random.default_rng(i).integers(0, len(ATTRIBUTES[g]), 16) for i, g in enumerate(GROUPS)], 1)
    opt = lambda m: torch.optim.Adam(m.parameters())  # noqa: E731
    task = DcganTask(G, D, opt(G), opt(D), images, labels, 0.0, 0.0, 1.0, ReaderRecipe(1.0, pair_weight=2.0))
    b = task.batch(torch.arange(8), torch.Generator().manual_seed(1), slice(None), 8)
    assert b.pair is not None and int((b.pair != b.cond).sum()) == 8
    fake = G(*b.g_in)
    _, plain_figs = DcganTask(G, D, opt(G), opt(D), images, labels, 0.0, 0.0, 1.0, ReaderRecipe(1.0)).g_extra(
        b, fake, {}
    )
    loss, figs = task.g_extra(b, fake, {})
    assert figs["pair_move"] > 0 and figs["pair_keep"] >= 0 and figs["reader_g"] == plain_figs["reader_g"]
    loss.backward()
    assert all(q.grad is not None and q.grad.abs().sum() > 0 for q in G.parameters())
    # the same image twice keeps every reading: no divergence
    same = ReaderBatch(b.real, b.g_in, b.cond, b.reader_real, b.labels, b.cond.clone(), b.moved)
    assert task._pair(same, D.read(G(*b.g_in)))[2] == pytest.approx(0.0, abs=1e-6)


def test_reader_group_weights_name_known_groups():
    params = load_params(REPO / "params.yaml", "smoke")
    section = params.dcgan.reader.model_dump()
    for bad in ({"hair": 2.0}, {"glasses": 0.0}, {"glasses": 101.0}):
        with pytest.raises(ValidationError, match="group_weights"):
            type(params.dcgan.reader).model_validate({**section, "group_weights": bad})
    ok = type(params.dcgan.reader).model_validate({**section, "group_weights": {"glasses": 3.0}})
    assert ok.group_weights == {"glasses": 3.0}


def test_the_readers_view_draws_its_randomness_for_the_global_batch():
    """Under torchrun each rank keeps its rows of one global draw: two ranks' views are the single process's halves."""
    real = torch.rand(8, 3, 32, 32) * 2 - 1
    recipe = ReaderRecipe(1.0, flip=True, shift=3)
    whole = reader_view(real, recipe, torch.Generator().manual_seed(5), slice(None), 8)
    halves = [reader_view(real[r], recipe, torch.Generator().manual_seed(5), r, 8) for r in (slice(0, 4), slice(4, 8))]
    assert torch.equal(torch.cat(halves), whole)
    assert not torch.equal(whole, real) and whole.abs().max() <= 1  # edges replicated: still images in [-1, 1]
    flips = reader_view(real, ReaderRecipe(1.0, flip=True), torch.Generator().manual_seed(5), slice(None), 8)
    flipped = [torch.equal(flips[i], real[i].flip(2)) for i in range(8)]
    assert all(f or torch.equal(flips[i], real[i]) for i, f in enumerate(flipped)) and 0 < sum(flipped) < 8
    assert torch.equal(reader_view(real, ReaderRecipe(1.0), torch.Generator(), slice(None), 8), real)  # no recipe


def test_fine_tuning_a_version_with_other_network_settings_is_a_clear_error(tmp_path, smoke_params):
    from core.errors import BadInput
    from models.dcgan.family import SplitData, _train_one
    from models.engine import distributed

    p = smoke_params.dcgan
    old = tmp_path / "old"  # a version trained before the reader: its D has none
    Generator(32, p.nz, p.ngf, p.embed).save(old)
    D = Discriminator(32, p.ndf, conditional=True, batchnorm=p.d_batchnorm)
    bundle_json = {k: v for k, v in D.config.items() if k != "reader"}
    (old / "discriminator.json").write_text(json.dumps(bundle_json))
    params = smoke_params.model_copy(
        update={"dcgan": p.model_copy(update={"reader": p.reader.model_copy(update={"width": 4})})}
    )
    rng = np.random.default_rng(0)
    data = SplitData(rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8), rng.integers(0, 2, (16, len(GROUPS))))
    world = distributed.World(0, 1, torch.device("cpu"))
    with pytest.raises(BadInput, match="Discriminator differs from these params in reader"):
        _train_one(params, 32, data, world, tmp_path / "ckpt", "transfer", 1, old)


def test_a_bundle_saved_before_cond_bn_existed_still_loads(tmp_path):
    G = Generator(32, 8, 4, 2).eval()
    G.save(tmp_path / "g")
    cfg = json.loads((tmp_path / "g" / "config.json").read_text())
    del cfg["cond_bn"]
    (tmp_path / "g" / "config.json").write_text(json.dumps(cfg))
    z = torch.randn(2, 8)
    assert torch.equal(Generator.load(tmp_path / "g")(z), G(z))


def test_engine_trains_logs_and_samples():
    logged, grids = [], []
    res = gan.train(_task(), _config(), log=lambda m, s: logged.append(s), grid=lambda g, s: grids.append((s, g.shape)))
    assert res.steps_done == 8 and [h["step"] for h in res.history] == [2, 4, 6, 8] and logged == [2, 4, 6, 8]
    assert {"loss_d", "loss_g", "r1", "d_accuracy", "ac_d", "ac_g"} <= set(res.history[-1])
    assert [s for s, _ in grids] == [4, 8] and grids[0][1] == (8 * 32, 8 * 32, 3)
    assert res.watchdog is None and not res.g_ema.training


def test_same_seed_same_weights():
    a = gan.train(_task(), _config(steps=4)).g_ema.state_dict()
    b = gan.train(_task(), _config(steps=4)).g_ema.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoints_keep_the_last_k_and_a_damaged_newest_falls_back(tmp_path):
    gan.train(_task(), _config(steps=12, checkpoint_every=2, keep=3), folder=tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [f"step-{s:09d}.json" for s in (8, 10, 12)]
    (tmp_path / "step-000000012.safetensors").write_bytes(b"torn")
    tensors, doc = checkpoint.load_latest(tmp_path)
    assert doc["step"] == 10
    checkpoint.clear_states(tmp_path)
    assert not tmp_path.exists()


def test_resume_in_process_is_bit_identical(tmp_path):
    unbroken = gan.train(_task(), _config(steps=8)).g_ema.state_dict()
    gan.train(_task(), _config(steps=4), folder=tmp_path)  # "crashes" after step 4's checkpoint
    resumed = gan.train(_task(), _config(steps=8), folder=tmp_path)
    assert resumed.steps_done == 8 and [h["step"] for h in resumed.history] == [2, 4, 6, 8]
    assert all(torch.equal(unbroken[k], resumed.g_ema.state_dict()[k]) for k in unbroken)


def _env() -> dict:
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
    }


def _train_cmd(data: Path, out: Path, steps: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "models.dcgan.train",
        "--data",
        str(data),
        "--size",
        "32",
        "--steps",
        str(steps),
        "--profile",
        "smoke",
        "--out",
        str(out),
    ]


def test_kill_9_mid_run_then_resume_ends_bit_identical(smoke_ingest, tmp_path):
    steps = 120
    subprocess.run(
        _train_cmd(smoke_ingest, tmp_path / "a", steps), cwd=REPO, env=_env(), check=True, capture_output=True
    )
    proc = subprocess.Popen(
        _train_cmd(smoke_ingest, tmp_path / "b", steps),
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpts = tmp_path / "b" / "checkpoints"
    deadline = time.monotonic() + 120
    while not list(ckpts.glob("step-*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed; make it longer"
    killed_at = max(int(p.stem.split("-")[1]) for p in ckpts.glob("step-*.json"))
    assert 0 < killed_at < steps and not (tmp_path / "b" / "generator").exists()
    subprocess.run(
        _train_cmd(smoke_ingest, tmp_path / "b", steps), cwd=REPO, env=_env(), check=True, capture_output=True
    )
    a = (tmp_path / "a" / "generator" / "model.safetensors").read_bytes()
    b = (tmp_path / "b" / "generator" / "model.safetensors").read_bytes()
    assert a == b


@pytest.mark.slow
def test_torchrun_two_gloo_processes_stay_identical_and_are_deterministic(smoke_ingest, tmp_path):
    def launch(out: Path) -> None:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            *_train_cmd(smoke_ingest, out, 6)[1:],
            "--every-rank",
        ]
        done = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]

    launch(tmp_path / "a")
    launch(tmp_path / "b")
    r0 = (tmp_path / "a" / "generator" / "model.safetensors").read_bytes()
    assert r0 == (tmp_path / "a" / "generator-rank1" / "model.safetensors").read_bytes()  # ranks agree
    assert r0 == (tmp_path / "b" / "generator" / "model.safetensors").read_bytes()  # fixed seed, same weights


class _Constant(nn.Module):
    """A collapsed generator: the same image whatever z."""

    def __init__(self):
        super().__init__()
        self.image = nn.Parameter(torch.zeros(1, 3, 32, 32))
        self.nz, self.conditional, self.config = 8, True, {"size": 32}

    def forward(self, z, cond=None):
        return torch.tanh(self.image).expand(len(z), -1, -1, -1) + 0 * z.sum()


class _Nan(Generator):
    def forward(self, z, cond=None):
        return super().forward(z, cond) * float("nan")


@pytest.mark.parametrize(
    ("case", "reason"),
    [("nan", "nonfinite"), ("frozen_g", "discriminator_wins"), ("constant", "mode_collapse")],
)
def test_watchdog_catches_each_failure_tags_the_run_and_stops(case, reason):
    images = np.random.default_rng(1).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    if case == "nan":
        task = _task(images, G=_Nan(32, 8, 4, 2))
    elif case == "frozen_g":  # G never learns, D learns fast: D wins outright
        task = _task(images, lr_g=1e-12, lr_d=5e-3)
    else:
        task = _task(images, G=_Constant())
    tags, grids = [], []
    # an untrained G's near-constant output is what `warmup` skips; here only the provoked condition may fire
    dog = DOG if case == "constant" else WatchdogConfig(True, 5, 0.99, collapse_ratio=0.0, warmup=0)
    cfg = _config(steps=300, sample_every=5, r1_gamma=0.0, augment=(), watchdog=dog)
    res = gan.train(task, cfg, tag=tags.append, grid=lambda g, s: grids.append(s))
    assert res.watchdog == reason and res.stopped_by_watchdog and res.steps_done < 300
    assert tags and tags[0]["watchdog"] == reason
    assert grids and grids[-1] == res.steps_done  # a last grid at the stop


def test_tracked_training_logs_losses_grids_and_the_watchdog_into_the_open_run(store, smoke_params):
    import mlflow

    from core import tracking
    from models.engine import tracked

    with tracking.start_run("unit", smoke_params, "unit", [], [], run_name="ok") as run:
        res = tracked.train(_task(), _config(steps=4), desc="unit")
    client = mlflow.MlflowClient()  # the store start_run connected to
    assert res.watchdog is None and "watchdog" not in client.get_run(run.info.run_id).data.tags
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss_d")] == [2, 4]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "samples")] == ["samples/step_0000004.png"]

    images = np.random.default_rng(1).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    dog = WatchdogConfig(True, 5, 0.99, collapse_ratio=0.0, warmup=0)
    with tracking.start_run("unit", smoke_params, "unit", [], [], run_name="nan") as run:
        res = tracked.train(_task(images, G=_Nan(32, 8, 4, 2)), _config(steps=8, watchdog=dog), desc="unit")
    assert res.watchdog == "nonfinite" and client.get_run(run.info.run_id).data.tags["watchdog"] == "nonfinite"
    grids = [a.path for a in client.list_artifacts(run.info.run_id, "samples")]
    assert grids == [f"samples/step_{res.steps_done:07d}.png"]  # the last grid, at the stop
    assert tracked.callbacks(main=False) == {}  # other ranks are not inside a run


def _extractor():
    from models.tagger.extractor import Tagger
    from models.tagger.net import TaggerNet

    torch.manual_seed(0)
    return Tagger(TaggerNet(width=4, size=32).eval(), {}, "test")


def test_a_collapsed_generator_is_caught_by_ndb_and_diversity():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (8, 32, 32, 3)).astype(np.int16)

    # "real" images: 8 prototypes with noise; "train" the same distribution
    def make(n):
        return np.clip(base[rng.integers(0, 8, n)] + rng.integers(-40, 40, (n, 32, 32, 3)), 0, 255).astype(np.uint8)  # noqa: E731

    train, split = make(600), make(200)
    extractor = _extractor()
    ref = generators.reference(extractor, split, np.full((200, len(GROUPS)), -1), train, 200, seed=0)
    healthy = generators.unconditional_scores(extractor, ref, make(200), seed=0)
    collapsed_imgs = np.clip(base[[0] * 200] + rng.integers(-2, 2, (200, 32, 32, 3)), 0, 255).astype(np.uint8)
    collapsed = generators.unconditional_scores(extractor, ref, collapsed_imgs, seed=0)
    assert collapsed["ndb_ratio"] > 0.3 > 0.15 > healthy["ndb_ratio"]
    assert collapsed["msssim_diversity"] < 0.5 * healthy["msssim_diversity"]
    assert collapsed["recall"] < 0.3 < healthy["recall"]


def test_pca_gaussian_fits_samples_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8)
    model = PcaGaussian.fit(images, 16)
    small = model.truncate(4)
    x = small.sample(10, seed=1)
    assert x.shape == (10, 32, 32, 3) and x.dtype == np.uint8 and len(small.std) == 4
    small.save(tmp_path / "pca")
    assert np.array_equal(PcaGaussian.load(tmp_path / "pca").sample(10, seed=1), x)
    with pytest.raises(ValueError, match="not a PCA-Gaussian bundle"):
        PcaGaussian.load(tmp_path)


def test_conditions_prefer_labels_and_fall_back_to_auto_tags():
    k = len(GROUPS)
    tags = {"a": ("generated", np.array([1] + [-1] * (k - 1)))}
    auto = {"a": np.full(k, 0), "b": np.full(k, 1)}
    y, counts = conditions(["a", "b", "c"], tags, auto)
    assert y[0, 0] == 1 and (y[0, 1:] == 0).all() and (y[1] == 1).all() and (y[2] == -1).all()
    assert counts == {"labels": 1, "auto_tags": 2 * k - 1, "unknown": k}


def test_the_end_of_run_recalibration_feeds_the_generator_on_its_own_device():
    """On a GPU the EMA generator lives on the device while the latents are drawn on the CPU: the recalibration must
    move them there (it did not, and every GPU run failed at its end). A generator whose weights are on `meta`
    stands in for the GPU and records the device of what it is fed."""

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.empty(1, device="meta"))
            self.seen: list[str] = []

        def forward(self, z, cond=None):
            self.seen += [t.device.type for t in (z, cond) if t is not None]

    task, spy = _task(), Spy()
    task.finish(spy, torch.Generator().manual_seed(0))
    assert spy.seen and set(spy.seen) == {"meta"}
