"""The `gpu` profile, every stage, on the CPU: what a first GPU run (`make pipeline` with `profile: gpu`) runs, with
only its lengths made small: a shape, a missing key or a guard that would stop that run stops this one first (what
only a GPU shows, bf16 and memory, is docs/gpu.md's).

A copy of the repository is set to `profile: gpu` and runs `python -m stages.source`, then every stage's own command
as dvc.yaml gives it, in DVC's order (the commands `dvc repro` runs: params, ingest, ..., `python -m stages.train
--family <f>` for each family, evaluate, deploy). The overrides touch only steps, epochs, solver iterations, sample
counts and data counts (COUNTS), the GAN families' batches (BATCHES, below) and the transfer's tag (DATA, below), and
the test checks that the resolved params differ from the profile's at those keys alone: every network width and
depth, resolution, shard size, learning rate and loss setting is the gpu profile's (64 and 128 px DCGANs at ngf 64
and StyleGANs at base 256 / cap 512 with an 8-layer 512-wide mapping, 64 -> 256 px super-resolution at 64 channels and 16 blocks on 128 px patches, 128 px
pose sets, posenet at width 32, pose2sketch at 128 px). Each family trains one step (R1, the EMA, the sample grid and
the end-of-run checkpoint included) or one epoch, then is scored, registered, evaluated and deployed. The figures mean
nothing; the stages finishing, and the sizes and networks they record, are what is checked.

BATCHES: at the profile's own batches (DCGAN 128, StyleGAN 64, SRGAN 32, pose2sketch 64) one step of the 128 px
StyleGAN alone takes minutes on two cores and the whole run about twice as long; no network here has a shape that
depends on the batch (StyleGAN's minibatch-stddev group is gcd(4, batch): 4 in both), so the test runs those four
at small batches. `ANIME_GPU_TEST_BATCHES=profile` runs it at the profile's batches instead (COUNTS and DATA alone).
posenet (192) and the tagger (128) keep theirs.

DATA: the transfer's tag (`dcgan.transfer.tag`, hair_color=red in the profile) is set to glasses=no, as the smoke
profile sets it: its held-out images are common, so 240 generated faces (the smoke profile's count) give the transfer
the 4 test images it needs, where hair_color=red needed 960. Every epoch over the data (the tagger, the ruler, the
super-resolution model, the pixel baseline) then reads a quarter of the images; the networks are unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, TOOL_ENV, VENV_BIN, free_port, set_profile

pytestmark = pytest.mark.slow

# dotted (`__`) keys of profiles.gpu: lengths only; every sample and slider-latent count at the lowest core/params.py
# allows (the figures mean nothing here, and each generated image costs the profile's full network)
COUNTS = {
    "generated__count": 240,
    "pixel_baseline__max_iter": 50,
    "pixel_baseline__max_train": 200,
    "render__count__train": 48,
    "render__count__val": 16,
    "render__count__test": 16,
    "tagger__epochs": 1,
    "pose__epochs": 1,
    "ruler__epochs": 1,
    "dcgan__steps": 1,
    "dcgan__transfer__steps": 1,
    "dcgan__transfer__samples": 8,
    "dcgan__eval__samples": 16,
    "dcgan__sliders__val": 1,
    "dcgan__sliders__test": 1,
    "stylegan__steps": 1,
    "stylegan__samples": 16,
    "stylegan__sliders__val": 1,
    "stylegan__sliders__test": 1,
    "sr__content__epochs": 1,
    "sr__gan__steps": 1,
    "sr__samples": 16,
    "pose2sketch__steps": 1,
    "pose2sketch__samples": 8,
}
LENGTHS = {"count", "train", "val", "test", "epochs", "steps", "samples", "max_iter", "max_train"}
BATCHES = {"dcgan__batch": 4, "stylegan__batch": 4, "sr__gan__batch": 4, "pose2sketch__batch": 4}
DATA = {"dcgan__transfer__tag": "glasses=no"}


def _flat(doc, prefix: str = "") -> dict[str, object]:
    if isinstance(doc, dict):
        out: dict[str, object] = {}
        for k, v in doc.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: doc}


def _stages(project: Path) -> list[tuple[str, str]]:
    """(name, command) of every dvc.yaml stage, dependencies first (flows/dvcrun.py's order, foreach items expanded)."""
    from dvc.repo import Repo

    from flows.dvcrun import stage_order

    with Repo(str(project)) as repo:
        cmds = {s.name: s.cmd for s in repo.index.stages}
    return [(name, cmds[name]) for name in stage_order(project)]


def _trained(figures: dict) -> list[tuple[str, dict]]:
    """Every section of a metrics file that records a training run (steps_done or epochs_done)."""
    return [(k, v) for k, v in figures.items() if isinstance(v, dict) and ({"steps_done", "epochs_done"} & set(v))]


def _config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


@pytest.mark.timeout(3600)
def test_the_gpu_profile_runs_every_stage_at_its_sizes(repo_copy):
    from core.params import load_params

    params_file = repo_copy / "params.yaml"
    assert all(k.split("__")[-1] in LENGTHS for k in COUNTS)
    overrides = {**COUNTS, **DATA, **({} if os.environ.get("ANIME_GPU_TEST_BATCHES") == "profile" else BATCHES)}
    set_profile(params_file, "gpu", **overrides)
    p = load_params(params_file)
    profile = load_params(REPO / "params.yaml", profile="gpu")
    ours, theirs = _flat(p.model_dump(mode="json")), _flat(profile.model_dump(mode="json"))
    changed = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
    assert changed == sorted(k.replace("__", ".") for k in overrides), changed  # everything else: the gpu profile's

    env = {
        **{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
        **TOOL_ENV,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "ANIME_SERVE_URL": f"http://127.0.0.1:{free_port()}",  # deploy tells no server of anyone else's to reload
    }
    seconds: dict[str, float] = {}
    for name, cmd in [("source", "python -m stages.source"), *_stages(repo_copy)]:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, shell=True, cwd=repo_copy, env=env, capture_output=True, text=True)
        seconds[name] = round(time.perf_counter() - t0, 1)
        assert done.returncode == 0, f"{name}: {cmd} -> {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    print("seconds per stage:", json.dumps(seconds), file=sys.stderr)
    assert {"train@dcgan", "train@stylegan", "train@sr", "train@pose2sketch", "evaluate", "deploy"} <= set(seconds)
    _check(repo_copy, p)


def _check(repo_copy: Path, p) -> None:
    """What the stages wrote in `repo_copy` on the params `p`: every training ran to its length, at the profile's
    networks and sizes, and evaluate and deploy took them."""
    metrics = {f.stem: json.loads(f.read_text())[f.stem] for f in (repo_copy / "metrics").glob("*.json")}
    ingest = metrics["ingest"]
    assert ingest["images"] > 200 and sorted(p.ingest.sizes) == [64, 128, 256]
    for size in p.ingest.sizes:
        assert (repo_copy / "data" / "ingest" / f"images_{size}.npy").exists(), size

    # every training ran to its (shortened) length, none stopped by its time budget or its watchdog
    runs = [(stage, k, v) for stage, figures in metrics.items() for k, v in _trained(figures)]
    assert {(s, k) for s, k, _ in runs} >= {
        ("dcgan", "dcgan"),
        ("dcgan", "dcgan_128"),
        ("dcgan", "transfer"),
        ("dcgan", "transfer_scratch"),
        ("stylegan", "stylegan"),
        ("stylegan", "stylegan_128"),
        ("sr", "sr"),
        ("pose2sketch", "pose2sketch"),
        ("pose", "posenet"),
    }, runs
    for stage, k, v in runs:
        assert not v.get("stopped_by_budget") and not v.get("stopped_by_watchdog"), (stage, k, v)
        assert v.get("steps_done", 1) == 1 and v.get("epochs_done", 1) == 1, (stage, k, v)

    # the networks are the profile's, at its resolutions
    train = repo_copy / "data" / "train"
    g = p.dcgan
    for size in (64, 128):
        cfg = _config(train / "dcgan" / f"dcgan-{size}")
        assert (cfg["size"], cfg["ngf"], cfg["nz"]) == (size, g.ngf, g.nz), cfg
    s = p.stylegan
    for size in (64, 128):
        cfg = _config(train / "stylegan" / f"stylegan-{size}")
        want = (size, s.z_dim, s.w_dim, s.mapping, s.base, s.cap, s.embed, True)
        keys = ("size", "z_dim", "w_dim", "mapping", "base", "cap", "embed", "conditional")
        assert tuple(cfg[k] for k in keys) == want, cfg
        d = json.loads((train / "stylegan" / f"stylegan-{size}" / "discriminator.json").read_text())
        assert d["ndf"] == s.discriminator.ndf, d
    assert metrics["stylegan"]["stylegan"]["control_success_by_tag"]
    cfg = _config(train / "sr" / "sr-256")
    assert (cfg["scale"], cfg["channels"], cfg["blocks"]) == (4, p.sr.channels, p.sr.blocks) == (4, 64, 16), cfg
    assert (train / "sr" / "srgan-256" / "model.safetensors").exists()
    cfg = _config(train / "pose2sketch" / "pose2sketch-128")
    assert (cfg["size"], cfg["ngf"]) == (128, p.pose2sketch.ngf), cfg
    r = p.ruler  # the second ruler reads the profile's first generator size, at its width
    assert (_config(repo_copy / "data" / "ruler")["size"], metrics["ruler"]["ruler"]["feature_dim"]) == (
        64,
        8 * r.width,
    )
    assert metrics["dcgan"]["dcgan"]["fd_ssl"] >= 0 and metrics["stylegan"]["stylegan"]["val_fd_ssl"] >= 0
    cfg = _config(repo_copy / "data" / "pose")
    assert (cfg["size"], cfg["width"]) == (p.render.size, p.pose.width) == (128, 32), cfg

    # evaluate scored every model and shows the served generator's 64 px characters through anime-sr at 256 px
    ev = metrics["evaluate"]
    for model in ("anime-tagger", "anime-posenet", "anime-dcgan", "anime-stylegan", "anime-sr", "anime-srgan"):
        assert ev[model]["promoted"], model
    assert ev["anime-pose2sketch"]["promoted"]
    up = ev["sr_on_generated"]
    assert (up["size"], up["upscaled_size"]) == (64, 256), up
    deployed = json.loads((repo_copy / "data" / "deploy" / "deployed.json").read_text())
    assert set(deployed["families"]) >= {"dcgan", "stylegan", "sr", "srgan", "pose2sketch", "posenet", "tagger"}
    smoke = deployed["smoke"]  # each served operation ran once on the deployed bundles: the shapes it returned
    assert smoke["generate/dcgan"][1:3] == smoke["generate/stylegan"][1:3] == [64, 64], smoke
    assert smoke["upscale"][1:3] == [256, 256] and smoke["sketch"] == [128, 128], smoke
