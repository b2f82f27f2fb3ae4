"""Ingest's file boundaries under hostile input: metadata files with the guards image files have, a zip whose names
make a file and a folder of one name, a central directory of millions of entries, a 16-bit image near the pixel
limit; each refused with a clear error or handled within 1.5 GB of memory."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.errors import BadInput
from core.params import MAX_ZIP_ENTRIES, ArchiveParams
from dataset import layouts
from dataset.archive import central_directory_entries, extract_zip
from dataset.tagmap import TagMapper
from tests.conftest import REPO

RSS_BUDGET_MB = 1536


def _png(seed: int, size: int = 16) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((size, size, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _folder(root):
    (root / "images").mkdir(parents=True)
    for i in range(3):
        (root / "images" / f"{i}.png").write_bytes(_png(i))
    return root


@pytest.mark.parametrize("kind", ["fifo", "symlink", "folder", "too_large"])
def test_a_metadata_file_that_is_not_a_plain_file_is_refused_naming_it(tmp_path, kind, monkeypatch):
    root = _folder(tmp_path / "src")
    tags = root / "tags.csv"
    if kind == "fifo":
        os.mkfifo(tags)  # read as a file it would block forever: nobody writes it
    elif kind == "symlink":
        (tmp_path / "elsewhere.csv").write_text("file,smile\n")
        tags.symlink_to(tmp_path / "elsewhere.csv")
    elif kind == "folder":
        tags.mkdir()
    else:
        tags.write_text("file,smile\n" + "images/0.png,yes\n" * 100)
        monkeypatch.setattr(layouts, "MAX_TABLE_BYTES", 1000)
    with pytest.raises(BadInput, match=r"tags\.csv: (not a regular file|a symbolic link|\d+ bytes, over)"):
        layouts.read_generic(root, f"dir:{root}", TagMapper())


def test_a_broken_table_or_a_giant_line_is_an_error_or_a_row_not_a_crash(tmp_path):
    root = _folder(tmp_path / "src")
    (root / "tags.csv").write_text("file,smile\nimages/0.png," + "x" * 200_000 + "\n")  # a field over csv's limit
    with pytest.raises(BadInput, match="not a readable CSV table"):
        layouts.read_generic(root, f"dir:{root}", TagMapper())
    (root / "tags.csv").unlink()
    (root / "provenance.json").write_text("[" * 50_000)  # nested past the parser's recursion
    src = layouts.read_generic(root, f"dir:{root}", TagMapper())
    assert src.licence == "unknown" and [p.code for p in src.problems] == ["bad_metadata"]
    dan = tmp_path / "dan"
    (dan / "danbooru-images" / "0000").mkdir(parents=True)
    (dan / "danbooru-images" / "0000" / "7.png").write_bytes(_png(7))
    meta = dan / "danbooru-metadata"
    meta.mkdir()
    post = {"id": "7", "rating": "s", "tags": [{"name": "smile"}]}
    (meta / "2019.json").write_text("x" * (layouts.MAX_LINE_BYTES + 10) + "\n" + json.dumps(post) + "\n")
    src = layouts.read_danbooru(dan, f"dir:{dan}", TagMapper(), ["s"])
    assert [(p.path, p.code) for p in src.problems] == [("danbooru-metadata/2019.json:1", "bad_metadata")]
    assert len(src.items) == 1  # the post after the giant line is read


@pytest.mark.parametrize("file_first", [True, False])
def test_a_zip_with_a_file_and_a_folder_of_one_name(tmp_path, file_first):
    entries = [("images/x.png", _png(1)), ("images/x.png/y.png", _png(2))]
    archive = tmp_path / "conflict.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in entries if file_first else entries[::-1]:
            zf.writestr(name, data)
    folder, rejects = extract_zip(archive, tmp_path / "cache", ArchiveParams())
    assert [r.code for r in rejects] == ["archive_name_conflict"]
    kept = entries[0][0] if file_first else entries[1][0]
    assert (folder / kept).is_file()


def _claiming(path, entries: int) -> None:
    """A tiny file whose ZIP64 end records claim `entries` entries (what a crafted or huge archive says)."""
    zip64_eocd = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, 0, 0)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, 0, 1)
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(zip64_eocd + locator + eocd)


def _empty_entries(path, entries: int) -> None:
    """A real stored zip of `entries` empty files `n/0000000.txt`, ... with its ZIP64 end records, written record by
    record: zipfile's writestr takes about half a minute for a million, this a few seconds."""
    names = [f"n/{i:07d}.txt".encode() for i in range(entries)]
    local = struct.Struct("<4sHHHHHIIIHH")  # version 2.0, no flags, stored, no date, crc and sizes 0 (empty)
    central = struct.Struct("<4sHHHHHHIIIHHHHHII")
    size = local.size + len(names[0])  # every name has the same length
    with open(path, "wb") as f:
        f.write(b"".join(local.pack(b"PK\x03\x04", 20, 0, 0, 0, 0x21, 0, 0, 0, len(n), 0) + n for n in names))
        f.write(b"".join(central.pack(b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, 0, 0, 0, len(n), 0, 0, 0, 0, 0, i * size) + n
                         for i, n in enumerate(names)))  # fmt: skip
        start, length = entries * size, entries * (central.size + len(names[0]))
        zip64_eocd = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, length, start)
        locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, start + length, 1)
        eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, length, start, 0)
        f.write(zip64_eocd + locator + eocd)


def test_the_hand_written_zip_reads_as_zipfile_writes_it(tmp_path):
    ours, theirs = tmp_path / "ours.zip", tmp_path / "theirs.zip"
    _empty_entries(ours, 70_000)  # over 65,535: the ZIP64 end records are read
    with zipfile.ZipFile(theirs, "w", zipfile.ZIP_STORED) as zf:
        for i in range(3):
            zf.writestr(f"n/{i:07d}.txt", b"")
    with zipfile.ZipFile(ours) as zf:
        infos = zf.infolist()
        assert zf.read("n/0000000.txt") == zf.read("n/0069999.txt") == b""
    assert len(infos) == central_directory_entries(ours) == 70_000
    assert [i.filename for i in infos[:3]] == zipfile.ZipFile(theirs).namelist()
    assert {(i.compress_type, i.file_size, i.CRC) for i in infos} == {(zipfile.ZIP_STORED, 0, 0)}


def test_millions_of_entries_are_refused_before_the_central_directory_is_read(tmp_path):
    archive = tmp_path / "flood.zip"
    _claiming(archive, 5_000_000)
    assert central_directory_entries(archive) == 5_000_000
    with pytest.raises(BadInput, match=f"lists 5000000 entries, more than the {MAX_ZIP_ENTRIES}"):
        extract_zip(archive, tmp_path / "cache", ArchiveParams())
    small = tmp_path / "ok.zip"
    with zipfile.ZipFile(small, "w") as zf:
        zf.writestr("a.png", _png(0))
    assert central_directory_entries(small) == 1


MEASURE = """
import sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from core.params import ArchiveParams
from dataset.archive import extract_zip
from dataset.imageio import decode_image
what = sys.argv[1]
if what == "zip":
    try:
        extract_zip(Path(sys.argv[2]), Path(sys.argv[3]), ArchiveParams())
        print("extracted")
    except Exception as err:
        print("refused:", err)
elif what == "image":
    img = decode_image(Path(sys.argv[2]).read_bytes(), 40_000_000)
    print("decoded", img.shape, img.dtype)
# VmHWM: this process's own peak (ru_maxrss would carry the forking parent's, pytest's, across the exec)
hwm = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:"))
print("maxrss_mb", hwm / 1024)
"""


def _measure(*args: str) -> tuple[str, float]:
    code = MEASURE.format(repo=str(REPO))
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    rss = float(out.stdout.split("maxrss_mb")[1])
    return out.stdout, rss


@pytest.mark.slow
def test_a_million_entry_zip_and_a_16_bit_image_near_the_limit_stay_within_budget(tmp_path):
    """The worst an ingest accepts, measured in a process of its own: a zip of MAX_ZIP_ENTRIES entries (parsed,
    every entry checked) and a 16-bit grey image of 36 Mpx (under ingest.max_pixels 40 M); and a flood of 5 M."""
    archive = tmp_path / "million.zip"
    _empty_entries(archive, MAX_ZIP_ENTRIES)  # not images: left out one by one, after the listing is parsed
    said, rss = _measure("zip", str(archive), str(tmp_path / "cache"))
    assert "extracted" in said and rss < RSS_BUDGET_MB, (said, rss)
    flood = tmp_path / "flood.zip"
    _claiming(flood, 5_000_000)
    said, rss = _measure("zip", str(flood), str(tmp_path / "cache2"))
    _, baseline = _measure("imports only")
    assert "refused" in said and rss - baseline < 50, (said, rss, baseline)  # nothing of the 5 M was listed
    deep = (np.random.default_rng(0).random((6000, 6000)) * 65535).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(deep).save(path, compress_level=1)
    said, rss = _measure("image", str(path))
    assert "decoded (6000, 6000, 3) uint8" in said and rss < RSS_BUDGET_MB, (said, rss)
    print(f"peak RSS: imports {baseline:.0f} MB, 16-bit 36 Mpx image {rss:.0f} MB")
