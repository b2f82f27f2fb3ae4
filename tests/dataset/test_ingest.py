"""Ingest: shards, manifest, grouped split, duplicates, bad files, atomic output, and the shared Dataset."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.errors import BadInput
from dataset import importer
from dataset.imageio import write_png
from dataset.layouts import read_generic
from dataset.shards import ImageShards, read_manifest
from dataset.tagmap import TagMapper
from tests.conftest import with_ingest


def test_shards_match_manifest(smoke_ingest, smoke_params):
    rows = read_manifest(smoke_ingest)
    for size in smoke_params.ingest.sizes:
        arr = np.load(smoke_ingest / f"images_{size}.npy", mmap_mode="r")
        assert arr.shape == (len(rows), size, size, 3) and arr.dtype == np.uint8
    assert {"id", "source", "path", "sha256", "phash", "split", "character", "hair_color", "licence"} <= set(rows[0])
    assert len({r["id"] for r in rows}) == len(rows)
    assert {r["split"] for r in rows} == {"train", "val", "test"}


def test_characters_and_phash_never_straddle_splits(smoke_ingest):
    rows = read_manifest(smoke_ingest)
    by_char: dict[str, set[str]] = {}
    by_hash: dict[str, set[str]] = {}
    for r in rows:
        by_char.setdefault(r["character"], set()).add(r["split"])
        by_hash.setdefault(r["phash"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_char.values())
    assert all(len(s) == 1 for s in by_hash.values())


def test_dataset_items(smoke_ingest):
    ds = ImageShards(smoke_ingest, 32, split="train")
    img, labels = ds[0]
    assert img.shape == (3, 32, 32) and 0.0 <= float(img.min()) and float(img.max()) <= 1.0
    assert labels.shape == (6,) and int(labels.min()) >= 0
    signed, _ = ImageShards(smoke_ingest, 32, split="train", signed=True)[0]
    assert float(signed.min()) < 0
    with pytest.raises(FileNotFoundError, match="add 48 to ingest.sizes"):
        ImageShards(smoke_ingest, 48)


def test_deterministic(smoke_ingest, smoke_params, tmp_path, monkeypatch):
    import dataset.sources
    from dataset.sources import open_sources

    # reuse the rendered source and its decode cache (the session's smoke_ingest made them under its folder's .cache,
    # where the private_caches fixture would look elsewhere)
    cache = smoke_ingest.parent / ".cache"
    assert (cache / "sources").is_dir()
    monkeypatch.setattr(dataset.sources, "CACHE_DIR", cache)
    monkeypatch.setattr(importer, "DECODE_CACHE", cache / "ingest")
    importer.ingest(smoke_params, tmp_path / "again", open_sources(smoke_params))
    for name in ("manifest.csv", "images_32.npy", "images_64.npy", "summary.json", "rejects.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (smoke_ingest / name).read_bytes(), name


def read_folder(root: Path):
    return read_generic(root, "dir:src", TagMapper())


def _folder(tmp_path: Path, n: int = 12) -> Path:
    root = tmp_path / "src"
    rng = np.random.default_rng(0)
    for i in range(n):
        img = (rng.random((48, 40, 3)) * 255).astype(np.uint8)
        write_png(root / "images" / f"{i:03d}.png", img)
    return root


def test_duplicates_and_bad_files_are_reported_not_fatal(tmp_path, smoke_params):
    root = _folder(tmp_path)
    shutil.copy(root / "images" / "000.png", root / "images" / "copy.png")  # exact duplicate
    (root / "images" / "empty.png").write_bytes(b"")
    (root / "images" / "notes.jpg").write_text("not an image")
    (root / "images" / "cut.png").write_bytes((root / "images" / "001.png").read_bytes()[:200])
    ip = smoke_params.ingest.model_copy(update={"workers": 2, "cache": False})
    metrics = importer.ingest(smoke_params.model_copy(update={"ingest": ip}), tmp_path / "out", [read_folder(root)])
    assert metrics["files"] == 16 and metrics["images"] == 12 and metrics["rejected"] == 4
    assert metrics["rejected_by_reason"] == {
        "corrupt_image": 1,
        "empty_file": 1,
        "exact_duplicate": 1,
        "not_an_image": 1,
    }
    with open(tmp_path / "out" / "rejects.csv", newline="") as f:
        report = list(csv.DictReader(f))
    assert list(report[0]) == ["source", "path", "code", "reason"]
    codes = {r["path"]: r["code"] for r in report}
    reasons = {r["path"]: r["reason"] for r in report}
    assert codes == {
        "images/copy.png": "exact_duplicate",
        "images/empty.png": "empty_file",
        "images/notes.jpg": "not_an_image",
        "images/cut.png": "corrupt_image",
    }
    assert reasons["images/copy.png"].startswith("exact duplicate of images/000.png")
    assert reasons["images/empty.png"] == "empty file"
    assert reasons["images/notes.jpg"].startswith("not an image")
    assert reasons["images/cut.png"].startswith("corrupt image")
    assert np.load(tmp_path / "out" / "images_32.npy").shape[0] == 12


def test_near_duplicate_rejected(tmp_path, smoke_params):
    root = _folder(tmp_path, 4)
    img = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(root / "images" / "002.png")).copy()
    img[0, 0] = 255 - img[0, 0]  # one pixel changed: a different file, the same picture
    write_png(root / "images" / "zz.png", img)
    metrics = importer.ingest(smoke_params, tmp_path / "out", [read_folder(root)])
    assert metrics["images"] == 4 and metrics["rejected_by_reason"] == {"near_duplicate": 1}
    text = (tmp_path / "out" / "rejects.csv").read_text()
    assert "dir:src,images/zz.png,near_duplicate,near duplicate of images/002.png" in text


def test_reworded_reasons_count_the_same(tmp_path, smoke_params, monkeypatch):
    """Metrics count codes: a reason written differently for people leaves every count as it was."""
    import dataset.decoding
    from dataset.imageio import RejectedImage, decode_image

    root = _folder(tmp_path, 4)
    (root / "images" / "empty.png").write_bytes(b"")
    (root / "images" / "notes.jpg").write_text("not an image")
    (root / "images" / "cut.png").write_bytes((root / "images" / "001.png").read_bytes()[:200])
    ip = smoke_params.ingest.model_copy(update={"workers": 1, "cache": False})  # in this process: patchable
    params = smoke_params.model_copy(update={"ingest": ip})
    plain = importer.ingest(params, tmp_path / "plain", [read_folder(root)])

    def reworded(data: bytes, max_pixels: int, fast: bool = True) -> np.ndarray:
        try:
            return decode_image(data, max_pixels, fast)
        except RejectedImage as err:
            raise RejectedImage(err.code, f"Bild unbrauchbar ({err.reason.upper()})") from None

    monkeypatch.setattr(dataset.decoding, "decode_image", reworded)
    other = importer.ingest(params, tmp_path / "reworded", [read_folder(root)])
    expected = {"corrupt_image": 1, "empty_file": 1, "not_an_image": 1}
    assert plain["rejected_by_reason"] == other["rejected_by_reason"] == expected
    assert "Bild unbrauchbar (EMPTY FILE)" in (tmp_path / "reworded" / "rejects.csv").read_text()


def test_all_files_rejected_says_why(tmp_path, smoke_params):
    root = _folder(tmp_path, 1)
    good = (root / "images" / "000.png").read_bytes()
    (root / "images" / "000.png").write_bytes(good[: len(good) // 2])
    (root / "images" / "a.png").write_bytes(b"")
    (root / "images" / "b.png").write_bytes(b"")
    (root / "images" / "c.jpg").write_text("hello")
    with pytest.raises(BadInput) as err:
        importer.ingest(smoke_params, tmp_path / "out", [read_folder(root)])
    msg = str(err.value)
    assert "all 4 files were rejected: corrupt_image 1, empty_file 2, not_an_image 1 (e.g. " in msg
    assert "images/000.png: corrupt image" in msg and "images/a.png: empty file" in msg
    assert "images/c.jpg: not an image" in msg
    assert "above" not in msg and "rejects.csv" not in msg  # nothing is written: it points at nothing
    assert not (tmp_path / "out").exists()


def test_nothing_left_to_import_says_why(tmp_path, smoke_params):
    from dataset.layouts import read_layout
    from tests.dataset.test_layouts import build_danbooru

    build_danbooru(tmp_path / "src")
    src = read_layout(tmp_path / "src", "dir:src", "danbooru", TagMapper(), ratings=["none"])
    assert src.items == []
    with pytest.raises(BadInput) as err:
        importer.ingest(smoke_params, tmp_path / "out", [src])
    msg = str(err.value)
    assert "nothing to import" in msg and "6 left out: bad_metadata 1, no_metadata 1, rating_filtered 4" in msg
    assert "danbooru-images/danbooru-images/0001/1001.jpg: rating 's' filtered" in msg


def test_interrupted_run_keeps_last_good_output(tmp_path, smoke_params, monkeypatch):
    root = _folder(tmp_path)
    out = tmp_path / "out"
    importer.ingest(smoke_params, out, [read_folder(root)])
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(importer, "assign_splits", crash)
    write_png(root / "images" / "new.png", np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(KeyboardInterrupt):
        importer.ingest(smoke_params, out, [read_folder(root)])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_changed_source_against_lock_is_refused(tmp_path, smoke_params):
    root = _folder(tmp_path, 3)
    src = read_folder(root)
    locked = {it.rel: "0" * 64 for it in src.items}
    with pytest.raises(BadInput, match="changed since source.lock.json"):
        importer.ingest(smoke_params, tmp_path / "out", [src], [locked])
    assert not (tmp_path / "out").exists()


def test_tags_file_values_checked(tmp_path, smoke_params):
    root = _folder(tmp_path, 3)
    (root / "tags.csv").write_text(
        "file,character,hair_color,smile\nimages/000.png,alice,blonde,yes\n"
        "images/001.png,bob,plaid,no\nimages/missing.png,,black,no\n"
    )
    src = read_folder(root)
    assert src.items[0].tags["hair_color"] == "blonde" and src.items[0].character == "alice"
    assert src.items[1].tags["hair_color"] == "" and src.items[1].tags["smile"] == "no"
    assert [(p.path, p.code) for p in src.problems] == [
        ("tags.csv:3", "tags_bad_value"),
        ("tags.csv:4", "tags_no_image"),
    ]


def test_groups_the_source_shows(tmp_path, smoke_params):
    """`ingest.groups`, or a source's own `groups`: the groups read from its tags; the others stay unknown (for
    annotators or the tagger); `groups: []` is an untagged source."""
    from core.params import ParamsError, resolve
    from dataset.sources import open_sources

    root = _folder(tmp_path, 3)
    (root / "tags.csv").write_text(
        "file,hair_color,smile,glasses\nimages/000.png,blonde,yes,no\nimages/001.png,red,no,yes\n"
    )
    for entry, shown in (
        ({"spec": f"dir:{root}"}, ("smile", "hair_color")),  # ingest.groups
        ({"spec": f"dir:{root}", "groups": ["glasses"]}, ("glasses",)),  # its own, over ingest.groups
        ({"spec": f"dir:{root}", "groups": []}, ()),  # untagged
    ):
        params = with_ingest(smoke_params, [entry], groups=["smile", "hair_color"], cache=False, workers=1)
        out = tmp_path / f"out-{len(shown)}"
        importer.ingest(params, out, open_sources(params))
        rows = {r["path"]: r for r in read_manifest(out)}
        for g, value in (("hair_color", "blonde"), ("smile", "yes"), ("glasses", "no")):
            assert rows["images/000.png"][g] == (value if g in shown else ""), (entry, g)
        assert all(rows["images/002.png"][g] == "" for g in ("hair_color", "smile", "glasses"))
        summary = json.loads((out / "summary.json").read_text())
        assert summary["sources"][f"dir:{root}"]["tagged"] == (2 if shown else 0)
    raw = smoke_params.model_dump()
    raw["ingest"]["groups"] = ["smile", "hats"]
    with pytest.raises(ParamsError, match="ingest.groups"):
        resolve(raw, profile="cpu")
    raw = smoke_params.model_dump()
    raw["ingest"]["sources"] = [{"spec": "generated", "groups": ["hats"]}]
    with pytest.raises(ParamsError, match=r"ingest.sources\[0\].groups"):
        resolve(raw, profile="cpu")


def _tagged_folder(root: Path, names: list[str], character: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for name in names:
        write_png(root / name, (rng.random((40, 40, 3)) * 255).astype(np.uint8))
    lines = [f"{name},{character},blonde" for name in names]
    (root / "tags.csv").write_text("file,character,hair_color\n" + "\n".join(lines) + "\n")


def test_several_sources_in_one_ingest(tmp_path, smoke_params):
    """Two collections in one ingest: each image names its source, path and licence; a picture the second repeats
    is kept once (from the first) and the reject names where; a character both share lands in one split; the
    metrics and the summary count by source."""
    from dataset.sources import open_sources

    tagged, crypko = tmp_path / "tagged", tmp_path / "crypko"
    _tagged_folder(tagged, [f"t{i}.png" for i in range(6)], "alice", 1)
    rng = np.random.default_rng(2)
    for i in range(8):
        write_png(crypko / f"{i}.png", (rng.random((40, 40, 3)) * 255).astype(np.uint8))
    shutil.copy(tagged / "t0.png", crypko / "8.png")  # the same picture in both collections
    (crypko / "alice").mkdir()
    _tagged_folder(crypko / "alice", ["a0.png", "a1.png"], "alice", 3)  # tags.csv below the root: not read
    sources = [
        {"spec": f"dir:{tagged}", "licence": "CC-BY-4.0, the studio's own"},
        {"spec": f"dir:{crypko}", "layout": "crypko", "groups": []},
    ]
    params = with_ingest(smoke_params, sources, cache=False, workers=1, split={"val": 0.3, "test": 0.3})
    metrics = importer.ingest(params, tmp_path / "out", open_sources(params))
    a, b = f"dir:{tagged}", f"dir:{crypko}"
    assert metrics["files"] == 17 and metrics["images"] == 16
    assert metrics["images_by_source"] == {a: 6, b: 10}
    assert metrics["layout"] == "generic+crypko"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["sources"][a] == {
        "layout": "generic",
        "licence": "CC-BY-4.0, the studio's own",
        "files": 6,
        "images": 6,
        "tagged": 6,
        "rejected": 0,
    }
    assert metrics["rejected_by_source"] == {a: 0, b: 1} and metrics["tagged_by_source"] == {a: 6, b: 0}
    assert metrics["files_by_source"] == {a: 6, b: 11} and metrics["layout_by_source"] == {a: "generic", b: "crypko"}
    rows = read_manifest(tmp_path / "out")
    assert {(r["source"], r["licence"]) for r in rows} == {(a, "CC-BY-4.0, the studio's own"), (b, "unknown")}
    assert {r["path"] for r in rows if r["source"] == b} >= {"0.png", "alice/a0.png"}
    assert all(r["hair_color"] == ("blonde" if r["source"] == a else "") for r in rows)
    assert len({r["split"] for r in rows if r["character"] == "alice"}) == 1
    with open(tmp_path / "out" / "rejects.csv", newline="") as f:
        (reject,) = list(csv.DictReader(f))
    assert (reject["source"], reject["path"], reject["code"]) == (b, "8.png", "exact_duplicate")
    assert reject["reason"] == f"exact duplicate of {a}:t0.png"
    assert summary["source"] == f"{a} + {b}" and summary["images_by_source"] == {a: 6, b: 10}
    assert summary["licence"] == "CC-BY-4.0, the studio's own; unknown"


def test_real_layouts_mixed_with_the_generated_set(tmp_path, smoke_params):
    """The public data sets' layouts (zips and folders) beside the built-in set in one ingest: each counted by source,
    the untagged ones with no tags, Danbooru's posts filtered and tagged, every reject naming its source."""
    from dataset.sources import open_sources
    from tests.dataset.test_layouts import real_layouts

    extra = real_layouts(tmp_path / "layouts")
    params = with_ingest(smoke_params, ["generated", *extra], workers=1)
    metrics = importer.ingest(params, tmp_path / "out", open_sources(params))
    moe, crypko, anime, danbooru = (e["spec"] for e in extra)
    by_source = json.loads((tmp_path / "out" / "summary.json").read_text())["sources"]
    assert {spec: n for spec, n in metrics["images_by_source"].items() if spec != "generated"} == {
        moe: 6,
        crypko: 4,
        anime: 3,
        danbooru: 2,
    }
    assert {spec: v["layout"] for spec, v in by_source.items()} == {
        "generated": "generic",
        moe: "moeimouto",
        crypko: "crypko",
        anime: "animeface",
        danbooru: "danbooru",
    }
    assert by_source["generated"]["tagged"] == by_source["generated"]["images"] > 200
    assert [by_source[s]["tagged"] for s in (moe, crypko, anime, danbooru)] == [0, 0, 0, 2]
    assert metrics["licence_by_source"][crypko] == "Crypko terms of use"
    assert metrics["tagged_by_source"] == {s: v["tagged"] for s, v in by_source.items()}
    rows = read_manifest(tmp_path / "out")
    assert {r["character"] for r in rows if r["source"] == moe} == {"hatsune_miku", "kinomoto_sakura"}
    with open(tmp_path / "out" / "rejects.csv", newline="") as f:
        rejects = list(csv.DictReader(f))
    assert {r["code"] for r in rejects if r["source"] == danbooru} == {"rating_filtered", "no_metadata", "bad_metadata"}


def test_a_character_in_two_sources_never_straddles_splits(tmp_path, smoke_params):
    """The grouped split runs over every source: one character's images from both collections share a split."""
    from dataset.sources import open_sources

    first, second = tmp_path / "first", tmp_path / "second"
    for k, root in enumerate((first, second)):
        for c in range(6):
            _tagged_folder(root / f"c{c}", [f"{k}_{j}.png" for j in range(2)], f"char{c}", 10 * k + c)
        # the tags.csv of each character folder is not at the root: characters come from the root's tags.csv
        lines = [f"c{c}/{k}_{j}.png,char{c}," for c in range(6) for j in range(2)]
        (root / "tags.csv").write_text("file,character,hair_color\n" + "\n".join(lines) + "\n")
    params = with_ingest(
        smoke_params, [f"dir:{first}", f"dir:{second}"], cache=False, workers=1, split={"val": 0.3, "test": 0.3}
    )
    importer.ingest(params, tmp_path / "out", open_sources(params))
    rows = read_manifest(tmp_path / "out")
    by_char: dict[str, set[str]] = {}
    for r in rows:
        by_char.setdefault(r["character"], set()).add(r["split"])
    assert len(by_char) == 6 and all(len(s) == 1 for s in by_char.values())
    assert len({s for v in by_char.values() for s in v}) > 1  # the characters themselves do spread
    assert {r["source"] for r in rows if r["character"] == "char0"} == {f"dir:{first}", f"dir:{second}"}


def test_the_lock_pins_every_source_in_order(tmp_path, smoke_params, monkeypatch):
    """One lock for all sources: a reordered or changed list, or a changed file in any source, is refused."""
    from dataset.lock import check_lock, compute_lock
    from dataset.sources import open_sources

    a, b = tmp_path / "a", tmp_path / "b"
    _tagged_folder(a, ["x.png", "y.png"], "", 1)
    _tagged_folder(b, ["z.png", "w.png"], "", 2)
    params = with_ingest(smoke_params, [f"dir:{a}", f"dir:{b}"], cache=False, workers=1)
    lock_file = tmp_path / "source.lock.json"
    lock_file.write_text(json.dumps(compute_lock(params)))
    entries = check_lock(params, lock_file)
    assert [e["spec"] for e in entries] == [f"dir:{a}", f"dir:{b}"] and "z.png" in entries[1]["files"]
    with pytest.raises(BadInput, match="run `make lock`"):
        check_lock(with_ingest(smoke_params, [f"dir:{b}", f"dir:{a}"]), lock_file)
    lock_file.write_text(json.dumps({"spec": f"dir:{a}", "files": {}}))  # an older, one-source lock
    with pytest.raises(BadInput, match="not a lock of ingest.sources"):
        check_lock(params, lock_file)
    write_png(b / "z.png", np.zeros((40, 40, 3), np.uint8))  # a file of the second source changed
    with pytest.raises(BadInput, match=f"source dir:{b} changed since source.lock.json"):
        importer.ingest(params, tmp_path / "out", open_sources(params, entries), [e["files"] for e in entries])
    assert not (tmp_path / "out").exists()


def test_one_source_is_short_for_the_list(smoke_params):
    """`ingest.source: <spec>` is one source; written beside `sources` (as `dvc exp run -S ingest.source=...`
    does), it replaces the list. A spec listed twice is refused."""
    from core.params import ParamsError, resolve

    raw = smoke_params.model_dump()
    raw["ingest"]["source"] = "dir:/faces"
    ip = resolve(raw, profile="cpu").ingest
    assert [s.spec for s in ip.sources] == ["dir:/faces"] and "source" not in ip.model_dump()
    raw = smoke_params.model_dump()
    raw["ingest"]["sources"] = [{"spec": "dir:/faces"}, {"spec": "dir:/faces", "groups": []}]
    with pytest.raises(ParamsError, match="each source once"):
        resolve(raw, profile="cpu")
    raw["ingest"]["sources"] = []
    with pytest.raises(ParamsError, match="ingest.sources"):
        resolve(raw, profile="cpu")
    for entry, why in (
        ({"spec": "dir:/faces", "style": {}}, "belong to a generated source"),
        ({"spec": "generated", "style": {"levels": 4}}, "its own name"),
        ({"spec": "generated:ink", "style": {"levels": 1}}, "levels = 1"),
    ):
        raw["ingest"]["sources"] = [entry]
        with pytest.raises(ParamsError, match=why):
            resolve(raw, profile="cpu")


def test_reimport_decodes_only_new_files(tmp_path, smoke_params):
    root = _folder(tmp_path, 20)
    ip = smoke_params.ingest.model_copy(update={"workers": 2, "cache": True})
    params = smoke_params.model_copy(update={"ingest": ip})
    cache = tmp_path / "cache"
    first = importer.ingest(params, tmp_path / "out", [read_folder(root)], cache_root=cache)
    assert first["decoded"] == 20 and first["cache_hits"] == 0
    rng = np.random.default_rng(1)
    for i in range(10):
        write_png(root / "images" / f"new{i}.png", (rng.random((44, 52, 3)) * 255).astype(np.uint8))
    second = importer.ingest(params, tmp_path / "out", [read_folder(root)], cache_root=cache)
    assert second["decoded"] == 10 and second["cache_hits"] == 20 and second["images"] == 30
    # the cached rows are the rows a cold run writes
    cold = importer.ingest(
        params.model_copy(update={"ingest": ip.model_copy(update={"cache": False})}),
        tmp_path / "cold",
        [read_folder(root)],
    )
    assert cold["decoded"] == 30
    for name in ("manifest.csv", "images_32.npy", "images_64.npy", "rejects.csv"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "cold" / name).read_bytes(), name


def test_damaged_cache_entry_is_a_miss(tmp_path, smoke_params):
    root = _folder(tmp_path, 4)
    cache = tmp_path / "cache"
    importer.ingest(smoke_params, tmp_path / "out", [read_folder(root)], cache_root=cache)
    packs = sorted(cache.rglob("*.pack"))
    assert packs
    packs[0].write_bytes(b"garbage")  # a pack with no index: ignored
    for pack in packs[1:]:  # an index pointing at garbage: each entry a miss
        data = bytearray(pack.read_bytes())
        data[:200] = b"x" * 200
        pack.write_bytes(bytes(data))
    again = importer.ingest(smoke_params, tmp_path / "out2", [read_folder(root)], cache_root=cache)
    assert again["decoded"] == 4 and again["cache_hits"] == 0
    assert (tmp_path / "out" / "images_32.npy").read_bytes() == (tmp_path / "out2" / "images_32.npy").read_bytes()


@pytest.mark.timeout(300)
def test_dask_executor_matches_process_pool(tmp_path, smoke_params):
    root = _folder(tmp_path, 40)
    base = smoke_params.ingest.model_copy(update={"workers": 2, "cache": False})
    for executor in ("process", "dask"):
        ip = base.model_copy(update={"executor": executor})
        importer.ingest(smoke_params.model_copy(update={"ingest": ip}), tmp_path / executor, [read_folder(root)])
    for name in ("manifest.csv", "images_32.npy", "images_64.npy", "rejects.csv", "summary.json"):
        assert (tmp_path / "process" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes(), name


def test_unreachable_dask_scheduler_is_transient(tmp_path, smoke_params):
    from core.errors import Transient

    root = _folder(tmp_path, 2)
    ip = smoke_params.ingest.model_copy(update={"executor": "dask", "dask_address": "tcp://127.0.0.1:9"})
    with pytest.raises(Transient, match="no Dask scheduler answered"):
        importer.ingest(smoke_params.model_copy(update={"ingest": ip}), tmp_path / "out", [read_folder(root)])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_rows_compacted_past_rejects_in_the_middle(tmp_path, smoke_params, workers):
    """Rejects between kept files: every kept row must still be its own file's pixels, in manifest order."""
    from core.params import CascadeParams
    from dataset.facecrop import apply_crop
    from dataset.imageio import decode_image, resize_square

    root = _folder(tmp_path, 70)
    imgs = root / "images"
    (imgs / "005b.png").write_bytes(b"")
    shutil.copy(imgs / "003.png", imgs / "010b.png")
    (imgs / "040b.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    ip = smoke_params.ingest.model_copy(update={"workers": workers, "cache": False})
    m = importer.ingest(smoke_params.model_copy(update={"ingest": ip}), tmp_path / "out", [read_folder(root)])
    assert m["images"] == 70 and m["rejected"] == 3
    rows = read_manifest(tmp_path / "out")
    for size in smoke_params.ingest.sizes:
        shard = np.load(tmp_path / "out" / f"images_{size}.npy")
        assert shard.shape[0] == 70
        for k, r in enumerate(rows):
            square = apply_crop(decode_image((root / r["path"]).read_bytes(), 10**8), "none", CascadeParams())
            expect = resize_square(square, size)
            assert np.array_equal(shard[k], expect), (size, k, r["path"])


def test_near_duplicates_incremental_equals_brute_force():
    from dataset.phash import NearDuplicates, near_duplicates

    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, 40, dtype=np.uint64)
    flips = np.uint64(1) << rng.integers(0, 64, 400).astype(np.uint64)
    hashes = base[rng.integers(0, 40, 400)] ^ flips ^ (flips << np.uint64(1))  # clusters 0 to 4 bits apart
    brute = np.full(400, -1)
    for i in range(400):
        for j in range(i):
            if int(np.bitwise_count(hashes[i] ^ hashes[j])) <= 3:
                brute[i] = brute[j] if brute[j] >= 0 else j
                break
    assert np.array_equal(near_duplicates(hashes, 3), brute)
    nd, parts = NearDuplicates(3), []
    for a, b in [(0, 1), (1, 7), (7, 150), (150, 151), (151, 400)]:
        parts.append(nd.add(hashes[a:b]))
    assert np.array_equal(np.concatenate(parts), brute)
    assert (brute >= 0).sum() > 100  # the clusters did produce duplicates
    assert np.all(near_duplicates(hashes, -1) == -1)


def test_a_second_generated_set_in_another_style(tmp_path, smoke_params):
    """`generated:<name>`: its own characters (named after it), count and drawing style, pinned in the lock beside
    the built-in set, which stays as it always was."""
    from dataset.lock import check_lock, compute_lock
    from dataset.sources import compute_generated, generated_dir, open_sources

    style = {"line_weight": 1, "saturation": 0.6, "levels": 8, "tint_amount": 0.12}
    ink = {"spec": "generated:ink", "count": 24, "style": style, "groups": []}
    params = with_ingest(smoke_params, ["generated", ink], workers=1)
    built_in = compute_generated(smoke_params)
    assert compute_lock(params)["sources"][0] == built_in  # unchanged by the second set
    lock_file = tmp_path / "source.lock.json"
    lock_file.write_text(json.dumps(compute_lock(params)))
    entries = check_lock(params, lock_file)
    assert entries[1]["digest"] != built_in["digest"]
    # a generated set's entry is computed, not checked: DVC tracks the params and code it comes from, so a changed
    # style, count or seed (dvc exp run -S ...) needs no `make lock`; the outside sources still must match the lock
    restyled = with_ingest(smoke_params, ["generated", {**ink, "style": {**style, "levels": 4}}])
    assert check_lock(restyled, lock_file)[1] == compute_generated(restyled, restyled.ingest.sources[1])
    assert check_lock(restyled, lock_file)[1]["digest"] != entries[1]["digest"]
    reseeded = with_ingest(smoke_params.model_copy(update={"seed": 7}), ["generated"])
    assert check_lock(reseeded, lock_file) == [compute_generated(reseeded)]
    with pytest.raises(BadInput, match="run `make lock`"):
        check_lock(with_ingest(smoke_params, ["generated", f"dir:{tmp_path}"]), lock_file)  # an unpinned folder
    metrics = importer.ingest(params, tmp_path / "out", open_sources(params, entries))
    assert metrics["files_by_source"] == {"generated": smoke_params.generated.count, "generated:ink": 24}
    assert metrics["tagged_by_source"]["generated:ink"] == 0
    rows = [r for r in read_manifest(tmp_path / "out") if r["source"] == "generated:ink"]
    assert rows and all(r["character"].startswith("ink-") for r in rows)
    folder = generated_dir(params, entry=params.ingest.sources[1])
    assert folder.name.startswith("generated-ink-") and json.loads((folder / "provenance.json").read_text())["style"]
    truth = (folder / "tags.csv").read_text()  # the hidden tags stay in the source, for a study to score against
    assert truth.count("\n") == 25 and "ink-" in truth
