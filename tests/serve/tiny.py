"""A tiny deploy folder in the layout the deploy stage writes (data/deploy/<family>/ + deployed.json), built from
small untrained networks in a second: what the service tests, the browser tests and bench/serve.py serve.

The networks are untrained, so images are noise-like; the tests check behaviour (shapes, determinism, metadata,
limits, batching), not quality. Sizes follow the `cpu` profile: generators at 32 px (64 with `size=64`), the
upscaler 4x, pose -> sketch at 64 px.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from core.names import JOINTS, AttributeSchema

# a standing pose on the tiny pose2sketch's 64 px canvas, [x, y] per joint in JOINTS' order
JOINTS_XY = (
    (32, 8),
    (32, 16),
    (26, 18),
    (38, 18),
    (20, 30),
    (44, 30),
    (32, 34),
    (28, 46),
    (36, 46),
    (27, 58),
    (37, 58),
)


def _card(model: str, size: int) -> dict:
    return {
        "model": model,
        "version": "1",
        "date": "2026-11-24",
        "run_id": "-",
        "metrics": None,
        "primary_metric": None,
        "lineage": {"profile": "test"},
        "size": size,
        "training_data": {
            "images": {"source": "tiny", "licence": "CC0-1.0", "images": 0},
            "poses": {"source": "tiny", "licence": "CC0-1.0"},
        },
    }


def make_deploy(
    root: Path,
    size: int = 32,
    generator: str = "dcgan",
    seed: int = 0,
    stylegan: str = "conditional",
    extra: dict[str, list[str]] | None = None,
) -> Path:
    """Write a tiny deploy folder at `root`; returns it. `stylegan`: "conditional" (the family's route) or
    "unconditional" (a version registered before it, still served). `extra`: annotators' extra groups the
    conditional generators were trained on (e.g. {"hat": ["no", "yes"]})."""
    from models.dcgan.conditions import ConditionPrior
    from models.dcgan.net import Generator as DcganG
    from models.pose.net import PoseNet, embed_images
    from models.pose.retrieval import RetrievalIndex
    from models.pose2sketch.net import UNet
    from models.sr.net import SrNet
    from models.stylegan.conditional import ConditionalGenerator as CondG
    from models.stylegan.net import Generator as StyleG
    from models.tagger.net import TaggerNet
    from synth.pose.figure import draw_stick

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    root = Path(root)
    schema = AttributeSchema.with_extra(extra)
    families: dict[str, dict] = {}

    def done(family: str, folder: Path, s: int) -> None:
        (folder / "card.json").write_text(json.dumps(_card(f"anime-{family}", s)))
        families[family] = {"model": f"anime-{family}", "version": "1", "size": s}

    f = root / "dcgan"
    net = DcganG(size, nz=16, ngf=8, embed=4, schema=schema).eval()
    net.save(f, {"role": "dcgan"})
    ConditionPrior.fit(rng.integers(0, 2, (50, len(schema)))).save(f / "conditions.safetensors")
    (f / "sliders.json").write_text(json.dumps({"control_success_by_tag": {"smile=yes": 0.81, "hair_color=red": 0.5}}))
    done("dcgan", f, size)

    f = root / "stylegan"
    if stylegan == "conditional":  # what the train stage registers
        sg = CondG(size=size, z_dim=16, w_dim=16, mapping=2, base=8, cap=16, embed=4, schema=schema).eval()
        sg.save(f, {"role": "stylegan"})
        ConditionPrior.fit(rng.integers(0, 2, (50, len(schema)))).save(f / "conditions.safetensors")
        doc = {"control_success_by_tag": {"smile=yes": 0.25, "glasses=yes": 0.6}}
    else:  # a version of the unconditional route: sliders are directions in W
        sg = StyleG(size=size, z_dim=16, w_dim=16, mapping=2, base=8, cap=16).eval()
        sg.save(f, {"role": "stylegan"})
        names = ["hair_color=blonde", "smile=yes", "glasses=yes"]
        d = rng.normal(size=(len(names), 16)).astype(np.float32)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        save_file({"directions": torch.from_numpy(d), "sigma": torch.ones(len(names))}, str(f / "sliders.safetensors"))
        doc = {
            "tags": names,
            "variant": {},
            "skipped": [],
            "step_sigmas": 3.0,
            "control_success_by_tag": {"smile=yes": 0.25},
        }
    (f / "sliders.json").write_text(json.dumps(doc))
    done("stylegan", f, size)

    for fam in ("sr", "srgan"):
        f = root / fam
        SrNet(channels=8, blocks=1, scale=4).eval().save(f, {"role": fam, "size": 64})
        done(fam, f, 64)

    f = root / "pose2sketch"
    UNet(size=64, ngf=8).eval().save(f, {"role": "pose2sketch"})
    done("pose2sketch", f, 64)

    f = root / "posenet"
    pn = PoseNet(width=4, size=64).eval()
    pn.save(f, {"kinds": ["stick"]})
    refs, sticks, poses = [], [], []
    for i in range(12):
        poses.append(rng.uniform(12, 52, (len(JOINTS), 2)).astype(np.float32))
        sticks.append(draw_stick(poses[-1], 64, 2, np.random.default_rng(i)))
        refs.append(sticks[-1][..., 0])
    # an untrained posenet's embedding says little: its 12 nearest (every pose) are put in order by their joints
    index = RetrievalIndex(
        embed_images(pn, np.stack(sticks)), [f"pose-{i}" for i in range(12)], np.stack(poses), 12, 100.0
    )
    index.save(f, {"size": 64})
    np.save(f / "references.npy", np.stack(refs), allow_pickle=False)
    done("posenet", f, 64)

    f = root / "tagger"
    TaggerNet(width=4, size=64).eval().save(f, {"role": "cnn", "thresholds": {}})
    done("tagger", f, 64)

    (root / "deployed.json").write_text(
        json.dumps({"families": families, "generator": generator, "profile": "test", "notes": []})
    )
    return root
