"""Hostile and broken input: each case is rejected or repaired with a reason, nothing lands outside the output and
cache folders, and the stage never crashes."""

from __future__ import annotations

import csv
import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import BadInput
from core.params import ArchiveParams
from dataset.archive import extract_zip
from dataset.imageio import RejectedImage, decode_image
from dataset.importer import ingest
from dataset.layouts import read_generic
from dataset.tagmap import TagMapper


def _png_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _huge_png_header(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _rgb(seed: int, size: int = 32) -> np.ndarray:
    return (np.random.default_rng(seed).random((size, size, 3)) * 255).astype(np.uint8)


def test_decode_repairs_modes():
    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 0))  # fully transparent red
    assert decode_image(_png_bytes(rgba), 10**6)[0, 0].tolist() == [255, 255, 255]  # flattened onto white
    grey = decode_image(_png_bytes(Image.new("L", (16, 16), 77)), 10**6)
    assert grey.shape == (16, 16, 3) and grey[0, 0].tolist() == [77, 77, 77]
    deep = Image.fromarray(np.full((16, 16), 65535, np.uint16))
    assert decode_image(_png_bytes(deep), 10**6).max() == 255
    pal = Image.new("P", (16, 16), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    assert decode_image(_png_bytes(pal), 10**6)[0, 0].tolist() == [10, 200, 30]
    buf = io.BytesIO()
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(buf, format="JPEG")
    red = decode_image(buf.getvalue(), 10**6)[8, 8]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_exif_rotation_applied():
    im = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif)
    assert decode_image(buf.getvalue(), 10**6).shape == (40, 20, 3)


def test_decompression_bomb_rejected_before_decoding():
    with pytest.raises(RejectedImage, match="too large: 100000x100000|decompression bomb: Image size") as pil:
        decode_image(_huge_png_header(100_000, 100_000), 40_000_000)
    with pytest.raises(RejectedImage, match="too large: 10000x10000 = 100000000 pixels > ingest.max_pixels") as ours:
        decode_image(_huge_png_header(10_000, 10_000), 40_000_000)  # under PIL's own limit, over ours
    assert pil.value.code == ours.value.code == "too_many_pixels"  # whichever limit saw it first


def test_folder_of_hostile_files(tmp_path, smoke_params):
    root = tmp_path / "src"
    (root / "ok").mkdir(parents=True)
    for i in range(4):
        (root / "ok" / f"{i}.png").write_bytes(_png_bytes(Image.fromarray(_rgb(i))))
    good = (root / "ok" / "0.png").read_bytes()
    (root / "zero.png").write_bytes(b"")
    (root / "text.jpg").write_text("hello")
    (root / "trunc.png").write_bytes(good[: len(good) // 2])
    (root / "bomb.png").write_bytes(_huge_png_header(100_000, 100_000))
    os.mkfifo(root / "fifo.png")
    (root / "link.png").symlink_to("/etc/hostname")
    (root / "dangling.png").symlink_to(root / "nowhere.png")
    (root / "folder.png").mkdir()
    odd = ["spa ce.png", "ünïcödé.png", "-dash.png", "new\nline.png", 'comma,quote".png']
    for k, name in enumerate(odd):
        (root / name).write_bytes(_png_bytes(Image.fromarray(_rgb(100 + k))))
    raw_name = os.fsencode(root) + b"/bad\xffname.png"
    with open(raw_name, "wb") as f:
        f.write(_png_bytes(Image.fromarray(_rgb(200))))

    out = tmp_path / "out"
    params = smoke_params.model_copy(update={"ingest": smoke_params.ingest.model_copy(update={"workers": 2})})
    m = ingest(params, out, [read_generic(root, "dir:src", TagMapper())])
    with open(out / "rejects.csv", newline="", encoding="utf-8") as f:
        report = list(csv.DictReader(f))
    reasons = {r["path"]: r["reason"] for r in report}
    assert {r["path"]: r["code"] for r in report} == {
        "zero.png": "empty_file",
        "text.jpg": "not_an_image",
        "trunc.png": "corrupt_image",
        "bomb.png": "too_many_pixels",
        "fifo.png": "not_a_regular_file",
        "link.png": "symlink",
        "dangling.png": "symlink",
        "folder.png": "not_a_regular_file",
    }
    assert m["rejected_by_reason"] == {
        "corrupt_image": 1,
        "empty_file": 1,
        "not_a_regular_file": 2,
        "not_an_image": 1,
        "symlink": 2,
        "too_many_pixels": 1,
    }
    assert reasons["zero.png"] == "empty file"
    assert reasons["text.jpg"].startswith("not an image")
    assert reasons["trunc.png"].startswith("corrupt image")
    assert reasons["bomb.png"].startswith(("too large", "decompression bomb"))
    assert reasons["fifo.png"] == "not a regular file"
    assert reasons["link.png"] == reasons["dangling.png"] == "symbolic link not followed"
    assert reasons["folder.png"] == "not a regular file"
    assert m["images"] == 4 + len(odd) + 1 and m["rejected"] == 8
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        paths = {r["path"] for r in csv.DictReader(f)}
    assert set(odd) <= paths and "bad\\xffname.png" in paths
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def _zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def test_zip_slip_links_and_bombs(tmp_path):
    png = _png_bytes(Image.fromarray(_rgb(1)))
    link = zipfile.ZipInfo("images/link.png")
    link.external_attr = 0o120777 << 16
    entries = [
        ("images/ok.png", png),
        ("../evil.png", png),
        ("/abs/evil.png", png),
        ("images/..\\..\\evil2.png", png),
        ("C:/evil3.png", png),
        ("images/ctl\x01.png", png),
        (link, b"/etc/passwd"),
        ("images/bomb.png", b"\x00" * (20 << 20)),
        ("images/notes.exe", b"MZ"),
        ("images/ok.png", png),
    ]
    archive = _zip(tmp_path / "hostile.zip", entries)
    dest_root = tmp_path / "cache"
    folder, rejects = extract_zip(archive, dest_root, ArchiveParams())
    why, code = {}, {}
    for r in rejects:
        why.setdefault(r.path, r.reason)
        code.setdefault(r.path, r.code)
    assert why["../evil.png"].startswith("unsafe name: '..'")
    assert why["/abs/evil.png"].startswith("unsafe name: absolute")
    assert why["images/..\\..\\evil2.png"].startswith("unsafe name: '..'")
    assert why["C:/evil3.png"].startswith("unsafe name: absolute")
    assert why["images/ctl\x01.png"].startswith("unsafe name: control")
    assert why["images/link.png"] == "link entry not extracted"
    assert "compression ratio" in why["images/bomb.png"]
    assert why["images/notes.exe"] == "not an image or known metadata file"
    assert ("images/ok.png", "archive_duplicate_name", "duplicate entry name") in [
        (r.path, r.code, r.reason) for r in rejects
    ]
    assert code == {
        "../evil.png": "archive_unsafe_name",
        "/abs/evil.png": "archive_unsafe_name",
        "images/..\\..\\evil2.png": "archive_unsafe_name",
        "C:/evil3.png": "archive_unsafe_name",
        "images/ctl\x01.png": "archive_unsafe_name",
        "images/link.png": "archive_link",
        "images/bomb.png": "archive_ratio",
        "images/notes.exe": "archive_not_wanted",
        "images/ok.png": "archive_duplicate_name",
    }
    extracted = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert extracted == [".archive_rejects.json", "images/ok.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "hostile.zip"]  # nothing escaped
    again, rejects_again = extract_zip(archive, dest_root, ArchiveParams())
    assert again == folder and rejects_again == rejects  # cached extraction still reports


def test_zip_total_size_and_entry_count_limits(tmp_path):
    png = _png_bytes(Image.fromarray(_rgb(2)))
    archive = _zip(tmp_path / "big.zip", [(f"images/{i}.png", png) for i in range(5)])
    limits = ArchiveParams(max_total_bytes=len(png) * 2 + 1, max_entries=4)
    folder, rejects = extract_zip(archive, tmp_path / "cache", limits)
    assert len(list((folder / "images").iterdir())) == 2
    assert [r.code for r in rejects] == [
        "archive_too_many_entries",
        "archive_total_too_large",
        "archive_total_too_large",
    ]
    assert sum("max_total_bytes" in r.reason for r in rejects) == 2
    assert any("max_entries" in r.reason for r in rejects)


def test_not_a_zip(tmp_path):
    bad = tmp_path / "x.zip"
    bad.write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(BadInput, match="not a readable zip"):
        extract_zip(bad, tmp_path / "cache", ArchiveParams())


def _variants():
    """Encodings users bring: PNG in every mode (interlaced too), JPEG with each subsampling, progressive, grey,
    CMYK, EXIF-rotated; each decoded both ways."""
    base = Image.fromarray(_rgb(7, 61)).resize((61, 47))
    for mode in ("RGB", "L", "RGBA", "P", "LA", "I;16", "1"):
        im = (
            base.convert(mode)
            if mode != "I;16"
            else Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257)
        )
        yield f"png-{mode}", _png_bytes(im)
        buf = io.BytesIO()
        im.save(buf, format="PNG", interlace=1) if mode != "I;16" else im.save(buf, format="PNG")
        yield f"png-{mode}-interlaced", buf.getvalue()
    keyed = io.BytesIO()
    base.save(keyed, format="PNG", transparency=(0, 0, 0))  # an RGB colour key (tRNS)
    yield "png-rgb-trns", keyed.getvalue()
    for kw in (
        dict(quality=90),
        dict(quality=70, subsampling=0),
        dict(subsampling=1),
        dict(progressive=True),
        dict(quality=95, optimize=True),
    ):
        buf = io.BytesIO()
        base.save(buf, format="JPEG", **kw)
        yield f"jpeg-{kw}", buf.getvalue()
    for mode in ("L", "CMYK"):
        buf = io.BytesIO()
        base.convert(mode).save(buf, format="JPEG")
        yield f"jpeg-{mode}", buf.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 8
    for fmt in ("JPEG", "PNG"):
        buf = io.BytesIO()
        base.save(buf, format=fmt, exif=exif)
        yield f"{fmt}-exif-rotated", buf.getvalue()


def test_fast_decode_is_pillow_exactly():
    for name, data in _variants():
        slow = decode_image(data, 10**6, fast=False)
        fast = decode_image(data, 10**6, fast=True)
        assert fast.dtype == np.uint8 and np.array_equal(fast, slow), name
    truncated = _png_bytes(Image.fromarray(_rgb(3)))[:-40]
    with pytest.raises(RejectedImage) as slow_err:
        decode_image(truncated, 10**6, fast=False)
    with pytest.raises(RejectedImage) as fast_err:
        decode_image(truncated, 10**6, fast=True)
    assert str(fast_err.value) == str(slow_err.value)
