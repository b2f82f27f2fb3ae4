"""Face cropping: geometry, padding and errors everywhere; detection with the real lbpcascade_animeface (from
a data folder beside the repository, never committed) on drawn faces where that file is present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import BadInput
from core.params import CascadeParams
from dataset.facecrop import apply_crop, check_cascade, crop_face, detect_face
from dataset.imageio import RejectedImage, write_png
from dataset.importer import ingest
from dataset.sources import open_sources
from synth.faces.render import render_index
from tests.conftest import REPO, with_ingest

CASCADE = REPO.parent / "shared" / "data" / "lbpcascade_animeface.xml"
needs_cascade = pytest.mark.skipif(not CASCADE.exists(), reason=f"needs {CASCADE}")


def _scene(face: np.ndarray, at: tuple[int, int], shape=(360, 480)) -> np.ndarray:
    canvas = np.full((*shape, 3), 230, np.uint8)
    y, x = at
    canvas[y : y + face.shape[0], x : x + face.shape[1]] = face
    return canvas


@needs_cascade
def test_cascade_finds_drawn_faces_and_crops_around_them(smoke_params):
    cp = CascadeParams(path=str(CASCADE))
    p = smoke_params.generated.model_copy(update={"render_size": 160})
    found = 0
    for i in range(12):
        face = render_index(i * 3, 5, p)[0]
        box = detect_face(_scene(face, (100, 200)), cp)
        if box is None:
            continue
        found += 1
        x, y, w, h = box
        assert 200 <= x + w / 2 <= 360 and 100 <= y + h / 2 <= 260  # the detection lies on the pasted face
    assert found >= 4, f"only {found} of 12 drawn faces detected"


def test_crop_geometry_and_padding():
    img = np.arange(100 * 100 * 3, dtype=np.uint32).reshape(100, 100, 3).astype(np.uint8)
    out = crop_face(img, (40, 40, 20, 20), margin=0.0)
    assert out.shape == (20, 20, 3)
    assert np.array_equal(out, img[38:58, 40:60])  # y-0.1h .. y+0.9h
    edge = crop_face(img, (90, 0, 20, 20), margin=0.5)  # runs off the top right: padded, still square
    assert edge.shape == (40, 40, 3)


@needs_cascade
def test_no_face_is_a_reject_and_counted(tmp_path, smoke_params):
    cp = CascadeParams(path=str(CASCADE))
    with pytest.raises(RejectedImage, match="no face found") as err:
        apply_crop(np.full((200, 200, 3), 128, np.uint8), "cascade", cp)
    assert err.value.code == "no_face"
    root = tmp_path / "src"
    write_png(root / "blank.png", np.full((200, 200, 3), 128, np.uint8))
    write_png(
        root / "face.png",
        _scene(render_index(0, 5, smoke_params.generated.model_copy(update={"render_size": 160}))[0], (100, 200)),
    )
    other = tmp_path / "other"  # a second source that keeps ingest.crop (auto: none for its layout)
    write_png(other / "blank.png", np.full((200, 200, 3), 64, np.uint8))
    sources = [{"spec": f"dir:{root}", "crop": "cascade"}, {"spec": f"dir:{other}"}]
    params = with_ingest(smoke_params, sources, cascade=cp.model_dump())
    m = ingest(params, tmp_path / "out", open_sources(params))
    assert m["rejected_by_reason"] == {"no_face": 1} and m["images"] == 2
    assert f"dir:{root},blank.png,no_face,no face found" in (tmp_path / "out" / "rejects.csv").read_text()


def test_missing_cascade_file_is_a_clear_error(tmp_path):
    with pytest.raises(BadInput, match="lbpcascade_animeface.xml from the nagadomi"):
        check_cascade(CascadeParams(path=str(tmp_path / "missing.xml")))
    bad = Path(tmp_path / "bad.xml")
    bad.write_text("<opencv_storage></opencv_storage>")
    with pytest.raises(BadInput, match="not an OpenCV cascade"):
        check_cascade(CascadeParams(path=str(bad)))


def test_none_pads_center_crops():
    img = np.zeros((20, 40, 3), np.uint8)
    assert apply_crop(img, "none", CascadeParams()).shape == (40, 40, 3)
    assert apply_crop(img, "center", CascadeParams()).shape == (20, 20, 3)


def test_no_face_code_without_the_cascade_file(monkeypatch):
    """The reject a cascade miss gives, with the detector stubbed: runs where the cascade file is absent."""
    import dataset.facecrop

    monkeypatch.setattr(dataset.facecrop, "detect_face", lambda img, cp: None)
    with pytest.raises(RejectedImage, match="no face found") as err:
        apply_crop(np.zeros((40, 40, 3), np.uint8), "cascade", CascadeParams())
    assert err.value.code == "no_face"


def test_animeface_needs_no_file_and_keeps_the_largest_face(monkeypatch):
    """The AnimeFace detector ships in its wheel: no path, no download. The largest face is cut like the cascade's."""
    import animeface

    from dataset.facecrop import detect_face_animeface

    blank = np.full((120, 160, 3), 200, np.uint8)
    assert detect_face_animeface(blank) is None  # the real detector runs and finds nothing on a blank page
    with pytest.raises(RejectedImage, match="animeface"):
        apply_crop(blank, "animeface", CascadeParams(path="/nowhere/cascade.xml"))  # the cascade file is not needed

    class Face:
        def __init__(self, x, y, w, h):
            self.face = type("P", (), {"pos": type("B", (), {"x": x, "y": y, "width": w, "height": h})()})()

    monkeypatch.setattr(animeface, "detect", lambda im: [Face(5, 5, 10, 10), Face(60, 30, 40, 40)])
    assert detect_face_animeface(blank) == (60, 30, 40, 40)
    out = apply_crop(blank, "animeface", CascadeParams(margin=0.0))
    assert out.shape == (40, 40, 3)
