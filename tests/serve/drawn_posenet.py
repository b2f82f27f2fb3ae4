"""A small posenet that has learnt to read hand-drawn-style stick figures, for the browser test: the tiny
bundles' untrained posenet (tests/serve/tiny.py) reads nothing, so a test of the joints read from a drawing needs
one that learnt. Trained by the one posenet trainer (models/pose/train.py) on the `drawn` kind alone, drawn the way
the render stage draws it (synth/pose/drawn.py, the params' styles) without the rest of each pose set; its truth
follows the one-colour left/right rule.

    net = small_drawn_posenet()    # 15,000 training images at width 8; 8 min on 2 cores busy with other training
    install_posenet(deploy_root / "posenet", net)     # into a tiny deploy folder: weights, index, references
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.atomic import atomic_path
from core.names import JOINTS
from core.params import load_params
from tests.conftest import REPO

SIZE = 64
CACHE = REPO / ".cache" / "tests" / "drawn-posenet"
CODE = ("synth/pose/drawn.py", "synth/pose/figure.py", "synth/pose/skeleton.py", "models/pose/net.py",
        "models/pose/train.py", "tests/serve/drawn_posenet.py")  # fmt: skip


def drawn_figures(count: int, split: str, seed: int = 0, ss: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(figures uint8 [n, 64, 64, 3], their joints by the one-colour rule [n, 11, 2], the joints as posed) of
    `count` poses of a split (the training style for train, the held-out style otherwise)."""
    from synth.pose.drawn import draw_drawn
    from synth.pose.figure import place
    from synth.pose.poseset import DRAWN_SALT, sample_rng
    from synth.pose.skeleton import canonical_left_right, sample_camera, sample_pose

    p = load_params(REPO / "params.yaml").render
    style = p.drawn.train if split == "train" else p.drawn.held_out
    x = np.empty((count, SIZE, SIZE, 3), np.uint8)
    y = np.empty((count, len(JOINTS), 2), np.float32)
    for i in range(count):
        rng = sample_rng(seed, split, i)
        pose = sample_pose(rng, str(rng.choice(p.families)))
        xy, _, _ = place(pose, sample_camera(rng, p.max_yaw, p.back_view), SIZE, rng)
        x[i] = draw_drawn(xy, SIZE, ss, sample_rng(seed, split, i, DRAWN_SALT), style)
        y[i] = xy[: len(JOINTS)]
    return x, canonical_left_right(y), y


def small_drawn_posenet(count: int = 3000, epochs: int = 5, width: int = 8, seed: int = 0):
    """posenet (models/pose/net.py) trained on `count` drawn figures for `epochs` epochs; kept under
    .cache/tests/ by a digest of its settings and of the code that draws and trains it, so that a second run of
    the tests loads it instead of training it again."""
    import torch

    from core import checkpoint
    from models.pose.net import PoseNet
    from models.pose.train import train_posenet

    params = load_params(REPO / "params.yaml")
    pp = params.pose.model_copy(
        update={"width": width, "epochs": epochs, "batch": 32, "embed_weight": 0.0, "max_minutes": 5}
    )
    code = [(REPO / f).read_bytes().hex() for f in CODE]
    folder = CACHE / checkpoint.key(count, seed, pp.model_dump(), params.render.model_dump(), code)
    if (folder / "config.json").exists():
        return PoseNet.load(folder)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    x, y, _ = drawn_figures(count, "train", seed)
    net = train_posenet({"drawn": x}, y, pp, SIZE, seed).net
    with atomic_path(folder) as tmp:
        net.save(tmp)
    return net


def install_posenet(folder: Path, net) -> None:
    """Replace a tiny deploy's posenet bundle (weights, config, retrieval index, references) with `net`'s."""
    from models.pose.net import embed_images
    from models.pose.retrieval import RetrievalIndex

    x, _, _ = drawn_figures(12, "val", seed=1)
    net.save(folder, {"kinds": ["drawn"]})
    RetrievalIndex(embed_images(net, x), [f"pose-{i}" for i in range(len(x))]).save(folder, {"size": SIZE})
    np.save(folder / "references.npy", x.mean(axis=3).astype(np.uint8), allow_pickle=False)
