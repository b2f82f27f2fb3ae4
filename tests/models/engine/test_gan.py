"""The adversarial engine (models/engine/gan.py), driven by a tiny DCGAN task: data order, augmentation, EMA,
checkpoints (kill -9 and resume from the checkpoint, bit-identical), torchrun with 2 gloo processes, the failure
watchdog, the MLflow callbacks."""

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
from torch import nn

from core import checkpoint
from core.names import FIXED, GROUPS
from models.dcgan.net import Discriminator, Generator
from models.dcgan.task import DcganTask
from models.engine import ema, gan
from models.engine.augment import diff_augment
from models.engine.watchdog import WatchdogConfig
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


def test_engine_trains_logs_and_samples():
    logged, grids = [], []
    res = gan.train(_task(), _config(), log=lambda m, s: logged.append(s), grid=lambda g, s: grids.append((s, g.shape)))
    assert res.steps_done == 8 and [h["step"] for h in res.history] == [2, 4, 6, 8] and logged == [2, 4, 6, 8]
    assert {"loss_d", "loss_g", "r1", "d_accuracy", "ac_d", "ac_g"} <= set(res.history[-1])
    assert [s for s, _ in grids] == [4, 8] and grids[0][1] == (8 * 32, 8 * 32, 3)
    assert res.watchdog is None and not res.g_ema.training


def test_amp_native_autocasts_where_the_hardware_computes_bf16(monkeypatch):
    """`native` follows core/machine.bf16_native (asked about the device the run is on); `off` never autocasts,
    `bf16` always does; the result says which ran. bf16 changes the weights, and is itself deterministic."""
    asked = []

    def native(dev, answer):
        asked.append(str(dev))
        return answer

    runs = {}
    for amp, answer in (("off", True), ("native", False), ("native", True), ("bf16", False)):
        monkeypatch.setattr(gan, "bf16_native", lambda dev, a=answer: native(dev, a))
        runs[amp, answer] = gan.train(_task(), _config(steps=2, amp=amp))
    assert [runs[k].train_dtype for k in runs] == ["fp32", "fp32", "bf16", "bf16"]
    assert asked == ["cpu", "cpu"]  # only `native` asks
    w = {k: r.g_ema.state_dict() for k, r in runs.items()}
    assert all(torch.equal(w[("off", True)][k], w[("native", False)][k]) for k in w[("off", True)])
    assert not all(torch.equal(w[("off", True)][k], w[("native", True)][k]) for k in w[("off", True)])
    assert all(torch.equal(w[("native", True)][k], w[("bf16", False)][k]) for k in w[("bf16", False)])


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
    task, updates, logged = _task(), [], []
    task.opt_g.register_step_post_hook(lambda *_: updates.append(1))
    resumed = gan.train(task, _config(steps=8), folder=tmp_path, log=lambda m, s: logged.append(s))
    # it started from the checkpoint: only steps 5..8 ran (a run from step 0 ends with the same weights too)
    assert len(updates) == 4 and logged == [6, 8]
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
    killed_at = checkpoint.load_latest(ckpts)[1]["step"]  # where a resumed run must start
    assert 0 < killed_at < steps and not (tmp_path / "b" / "generator").exists()
    # the same command again, under a probe that records which steps this process runs
    probe = [sys.executable, "-m", "tests.models.engine.steps_probe", str(tmp_path / "probe.json")]
    cmd = _train_cmd(smoke_ingest, tmp_path / "b", steps)
    subprocess.run([*probe, *cmd[2:]], cwd=REPO, env=_env(), check=True, capture_output=True)
    (ran,) = json.loads((tmp_path / "probe.json").read_text())
    # it started from the checkpoint (a run from step 0 ends with the same bytes too)
    assert ran["steps"] == list(range(killed_at, steps)) and ran["g_updates"] == steps - killed_at
    assert ran["steps_done"] == steps
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
        self.schema = FIXED  # conditioned on the six fixed groups, as DCGAN's task asks of a generator

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
    assert tracking.image_steps(client, run.info.run_id, "samples") == [4]  # a grid with its step, for the UI

    images = np.random.default_rng(1).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    dog = WatchdogConfig(True, 5, 0.99, collapse_ratio=0.0, warmup=0)
    with tracking.start_run("unit", smoke_params, "unit", [], [], run_name="nan") as run:
        res = tracked.train(_task(images, G=_Nan(32, 8, 4, 2)), _config(steps=8, watchdog=dog), desc="unit")
    assert res.watchdog == "nonfinite" and client.get_run(run.info.run_id).data.tags["watchdog"] == "nonfinite"
    assert tracking.image_steps(client, run.info.run_id, "samples") == [res.steps_done]  # the last grid, at the stop
    assert tracked.callbacks(main=False) == {}  # other ranks are not inside a run
