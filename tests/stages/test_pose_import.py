"""The pose project's own source (`label.pose_source`): stage pose_import imports a folder like ingest does, pinned
by pose_source.lock.json; the push offers its images; annotated ones join posenet's training or scoring by split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import BadInput
from dataset.imageio import write_png
from synth.pose.poseset import PoseSet

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, smoke_params):
    from stages import render

    out = tmp_path_factory.mktemp("render") / "render"
    render.run(smoke_params, out, workers=1)
    return out


def _artist_folder(root, ps, n: int) -> dict[str, np.ndarray]:
    """n of the pose sets' sketches saved as an artist's PNG folder (96 px); file name -> true joints at 96 px."""
    import cv2

    truth = np.asarray(ps.array("joints"))
    sketches = ps.array("sketch")
    out = {}
    for k, m in enumerate([m for m in ps.meta if m["split"] == "train"][:n]):
        img = cv2.resize(np.asarray(sketches[int(m["index"])]), (96, 96), interpolation=cv2.INTER_CUBIC)
        write_png(root / f"pose_{k:02d}.png", np.repeat(img[..., None], 3, axis=2))
        out[f"pose_{k:02d}.png"] = (truth[int(m["index"])] + 0.5) * 1.5 - 0.5
    return out


def _params(smoke_params, spec: str):
    raw = smoke_params.model_dump()
    raw["label"]["pose_source"] = spec
    raw["ingest"]["workers"] = 1
    return type(smoke_params).model_validate(raw)


def test_pose_import_lock_and_refusals(rendered, smoke_params, tmp_path):
    from stages.pose_import import compute_pose_lock, run

    folder = tmp_path / "sketches"
    _artist_folder(folder, PoseSet(rendered), 20)
    params = _params(smoke_params, f"dir:{folder}")
    lock = tmp_path / "pose_source.lock.json"
    with pytest.raises(BadInput, match="make lock"):
        run(params, tmp_path / "out", lock)  # no lock yet
    lock.write_text("{not json")
    with pytest.raises(BadInput, match="make lock"):
        run(params, tmp_path / "out", lock)  # a damaged lock: a clear exit 2, not a traceback
    lock.write_text(json.dumps(compute_pose_lock(params)))
    m = run(params, tmp_path / "out", lock)
    assert m["images"] == 20 and m["source"] == f"dir:{folder}" and sum(m["images_by_split"].values()) == 20
    shard = np.load(tmp_path / "out" / f"images_{smoke_params.render.size}.npy")
    assert shard.shape == (20, smoke_params.render.size, smoke_params.render.size, 3)
    assert list((tmp_path / "out").glob("images_*.npy")) == [
        tmp_path / "out" / f"images_{smoke_params.render.size}.npy"
    ]

    (folder / "extra.png").write_bytes((folder / "pose_00.png").read_bytes()[:100])  # the folder changed
    with pytest.raises(BadInput, match="changed since"):
        run(params, tmp_path / "out2", lock)
    assert not (tmp_path / "out2").exists()

    empty = _params(smoke_params, "")
    assert compute_pose_lock(empty) == {"spec": ""}
    lock.write_text(json.dumps({"spec": ""}))
    assert run(empty, tmp_path / "none", lock) == {"source": "", "images": 0}

    raw = smoke_params.model_dump()
    raw["label"]["pose_source"] = "generated"
    from core.params import ParamsError, resolve

    with pytest.raises(ParamsError, match="label.pose_source"):
        resolve(raw, profile="smoke")


def test_imported_pictures_are_offered_and_train_posenet(rendered, smoke_params, store, tmp_path, monkeypatch):
    from core import checkpoint
    from dataset.shards import read_manifest
    from labeling.candidates import import_candidates
    from models.pose.labels import imported_sets
    from stages import pose
    from stages.pose_import import compute_pose_lock, run

    monkeypatch.setattr(checkpoint, "ROOT", tmp_path / "ckpt")
    ps = PoseSet(rendered)
    folder = tmp_path / "sketches"
    truth = _artist_folder(folder, ps, 30)
    params = _params(smoke_params, f"dir:{folder}")
    lock = tmp_path / "pose_source.lock.json"
    lock.write_text(json.dumps(compute_pose_lock(params)))
    run(params, tmp_path / "imported", lock)
    rows = read_manifest(tmp_path / "imported")

    # what a push offers: the imported pictures of every split, none twice, without predictions (no champion yet)
    cand = import_candidates(tmp_path / "imported", 8, {rows[0]["id"]})
    assert len(cand.ids) == 8 and rows[0]["id"] not in cand.ids and cand.predictions is None
    assert cand.images.shape == (8, smoke_params.render.size, smoke_params.render.size, 3)
    shuffled = import_candidates(tmp_path / "imported", 8, set(), "random", 3)
    assert len(set(shuffled.ids)) == 8 and shuffled.ids != [r["id"] for r in rows[:8]]
    assert import_candidates(tmp_path / "nothing", 8, set()).ids == []

    # every picture annotated (as the label stage writes joints.json: 96 px pictures)
    items = [
        {"id": r["id"], "source": "label-studio", "size": [96, 96], "joints": truth[r["path"]].reshape(-1).tolist()}
        for r in rows
    ]
    labels = tmp_path / "joints.json"
    labels.write_text(json.dumps({"joints": [], "items": items}))
    sets = imported_sets(labels, tmp_path / "imported", ps.size)
    by_split = {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")}
    assert {s: len(sets[s][0]) for s in sets} == by_split
    held_out = by_split["val"] + by_split["test"]
    metrics = pose.run(params, rendered, tmp_path / "pose", labels=labels, imported=tmp_path / "imported")["posenet"]
    assert metrics["train_images_by_origin"]["import"] == by_split["train"]
    assert metrics["train_images_by_origin"]["label_studio"] == 0
    if held_out:
        assert metrics["imported_scored"] == held_out and 0 <= metrics["pck_0_05_imported"] <= 1
    assert imported_sets(labels, tmp_path / "nothing", ps.size)["train"][0].shape[0] == 0
