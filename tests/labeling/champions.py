"""Tiny untrained champions for the labeling tests: registered and promoted as the stages do, in seconds.

The push only needs *a* champion to pre-annotate with, not a good one; training real models for that would cost
minutes and test nothing more. The tiny posenet's heatmaps are sharpened (its head scaled up) so that its joints
scatter over the figure and its spread differs from sketch to sketch, as a trained model's would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core import tracking
from core.params import Params
from models.pose.net import PoseNet
from models.promote import promote
from models.tagger.net import TaggerNet, predict_proba


def register_champion(name: str, bundle: Path, params: Params) -> str:
    """Register the bundle folder as a new version of `name` and make it the champion; returns the version."""
    with tracking.start_run("labeling-tests", params, "test", [], []):
        version = tracking.register_bundle(bundle, name)
    promote(name, version, "champion", "a tiny untrained bundle for the labeling tests", by="test")
    return version


def tiny_posenet(size: int, seed: int = 0) -> PoseNet:
    torch.manual_seed(seed)
    net = PoseNet(width=4, size=size).eval()
    with torch.no_grad():
        net.head.weight.mul_(1000.0)  # sharp heatmaps: joints spread over the image, spreads differ
    return net


def register_posenet(folder: Path, params: Params, size: int) -> tuple[str, PoseNet]:
    """(version, net) of a tiny untrained posenet registered as the `anime-posenet` champion."""
    net = tiny_posenet(size)
    net.save(folder, {"kinds": ["sketch"], "epochs_done": 0, "seed": 0})
    return register_champion("anime-posenet", folder, params), net


def register_tagger(folder: Path, params: Params, ingest_dir: Path, tags_auto: Path) -> str:
    """A tiny untrained tagger as the `anime-tagger` champion, and its tags_auto.csv as the tagger stage writes it."""
    from dataset.shards import ImageShards, read_manifest
    from models.tagger import roles

    torch.manual_seed(0)
    net = TaggerNet(width=4, size=params.tagger.size).eval()
    net.save(folder)
    version = register_champion("anime-tagger", folder, params)
    x = np.asarray(ImageShards(ingest_dir, params.tagger.size).images)
    tags_auto.parent.mkdir(parents=True, exist_ok=True)
    roles.write_auto_tags(
        tags_auto, read_manifest(ingest_dir), predict_proba(net, x), {}, {}, f"anime-tagger/{version}"
    )
    return version
