"""Each public layout, built small in its real shape, is detected and read with characters and mapped tags; Kaggle
sources go through the real kagglehub, reading its own cache layout offline."""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.errors import BadInput, Transient
from dataset import kaggle
from dataset.imageio import write_png
from dataset.importer import ingest
from dataset.layouts import detect, read_layout
from dataset.lock import compute_lock
from dataset.rejects import Reject
from dataset.sources import open_sources
from dataset.tagmap import TagMapper
from tests.conftest import with_ingest


def _img(path: Path, seed: int, size: int = 40) -> None:
    rng = np.random.default_rng(seed)
    write_png(path, (rng.random((size, size, 3)) * 255).astype(np.uint8))


def _jpg(path: Path, seed: int, size: int = 40) -> None:
    import cv2

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), (rng.random((size, size, 3)) * 255).astype(np.uint8))


def build_moeimouto(root: Path) -> None:
    base = root / "moeimouto-faces" / "moeimouto-faces"
    for k, name in enumerate(["000_hatsune_miku", "001_kinomoto_sakura"]):
        for j in range(3):
            _img(base / name / f"face_{k}_{j}.png", 10 * k + j)
    (base / "000_hatsune_miku" / "color.csv").write_text("face_0_0.png,12,200,190\n")


def build_danbooru(root: Path) -> None:
    meta = root / "danbooru-metadata" / "danbooru-metadata"
    meta.mkdir(parents=True)
    posts = []
    for pid, rating, tags in [
        (1001, "s", ["blonde_hair", "long_hair", "smile", "1girl"]),
        (2002, "q", ["black_hair"]),
        (3003, "s", ["blue hair", "glasses"]),
        (4004, "e", []),
    ]:
        tag_objs = [{"id": str(i), "name": t, "category": "0"} for i, t in enumerate(tags)]
        if pid == 1001:
            tag_objs.append({"id": "99", "name": "kirisame_marisa", "category": "4"})
        posts.append(json.dumps({"id": str(pid), "rating": rating, "tags": tag_objs, "file_ext": "jpg"}))
        _jpg(root / "danbooru-images" / "danbooru-images" / f"{pid % 1000:04d}" / f"{pid}.jpg", pid)
    _jpg(root / "danbooru-images" / "danbooru-images" / "0005" / "5005.jpg", 5005)  # no metadata
    (meta / "201700.json").write_text("\n".join(posts) + "\nnot json\n")


def build_crypko(root: Path, n: int = 4) -> None:
    for i in range(n):
        _jpg(root / f"{i}.jpg", 500 + i)


def build_animeface(root: Path, years: tuple[int, ...] = (2001, 2005, 2019)) -> None:
    for i, year in enumerate(years):
        _jpg(root / "images" / f"{i}_{year}.jpg", 700 + i)


def zip_tree(tree: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(tree.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(tree).as_posix())
    return archive


def real_layouts(root: Path) -> list[dict]:
    """Small collections in the public data sets' layouts, as `ingest.sources` entries: moeimouto and Anime Face as
    Kaggle's zips, Crypko (declared untagged) and Danbooru (its pictures are faces already: center crop) as folders."""
    build_moeimouto(root / "moe")
    build_animeface(root / "animeface")
    build_crypko(root / "crypko")
    build_danbooru(root / "danbooru")
    return [
        {"spec": f"zip:{zip_tree(root / 'moe', root / 'moeimouto-faces.zip')}"},
        {"spec": f"dir:{root / 'crypko'}", "groups": [], "licence": "Crypko terms of use"},
        {"spec": f"zip:{zip_tree(root / 'animeface', root / 'animefacedataset.zip')}"},
        {"spec": f"dir:{root / 'danbooru'}", "crop": "center"},
    ]


def test_moeimouto_characters(tmp_path):
    build_moeimouto(tmp_path)
    assert detect(tmp_path) == "moeimouto"
    src = read_layout(tmp_path, "dir:x", "auto", TagMapper(), ["s"])
    assert len(src.items) == 6
    assert {it.character for it in src.items} == {"hatsune_miku", "kinomoto_sakura"}
    assert all(it.crop == "none" for it in src.items)


def test_danbooru_ratings_tags_characters(tmp_path):
    build_danbooru(tmp_path)
    assert detect(tmp_path) == "danbooru"
    src = read_layout(tmp_path, "dir:x", "auto", TagMapper(), ["s"])
    by_id = {Path(it.rel).stem: it for it in src.items}
    assert set(by_id) == {"1001", "3003"}
    assert by_id["1001"].tags["hair_color"] == "blonde" and by_id["1001"].tags["hair_length"] == "long"
    assert by_id["1001"].tags["smile"] == "yes" and by_id["1001"].character == "kirisame_marisa"
    assert by_id["1001"].extra == ["1girl"] and by_id["1001"].crop == "animeface"
    assert by_id["3003"].tags["hair_color"] == "blue" and by_id["3003"].tags["glasses"] == "yes"
    reasons = {p.path: p.reason for p in src.problems}
    assert "filtered" in reasons["danbooru-images/danbooru-images/0002/2002.jpg"]
    assert "filtered" in reasons["danbooru-images/danbooru-images/0004/4004.jpg"]
    assert "without metadata" in reasons["danbooru-images/danbooru-images/0005/5005.jpg"]
    assert any(w.endswith("201700.json:5") for w in reasons)
    assert sorted(p.code for p in src.problems) == ["bad_metadata", "no_metadata", "rating_filtered", "rating_filtered"]
    permissive = read_layout(tmp_path, "dir:x", "danbooru", TagMapper(), ["s", "q", "e"])
    assert len(permissive.items) == 4


def test_tagged_anime_illustrations_has_both_parts(tmp_path):
    build_moeimouto(tmp_path)
    build_danbooru(tmp_path)
    assert detect(tmp_path) == "tagged"
    src = read_layout(tmp_path, "dir:x", "auto", TagMapper(), ["s"])
    assert len(src.items) == 8
    assert {it.crop for it in src.items} == {"none", "animeface"}


def test_animeface_crypko_mlds_generic(tmp_path):
    anime = tmp_path / "anime"
    build_animeface(anime)
    assert detect(anime) == "animeface"
    src = read_layout(anime, "dir:a", "auto", TagMapper(), ["s"])
    assert [it.extra for it in src.items] == [["year_2001"], ["year_2005"], ["year_2019"]]

    crypko = tmp_path / "crypko"
    build_crypko(crypko)
    assert detect(crypko) == "crypko"
    assert len(read_layout(crypko, "dir:c", "auto", TagMapper(), ["s"]).items) == 4

    mlds = tmp_path / "mlds"
    for i in range(3):
        _jpg(mlds / "faces" / f"{i}.jpg", 100 + i)
    (mlds / "tags_clean.csv").write_text("0,blue hair:11\tred eyes:3\tlong hair:2\n1,aqua hair:5\tglasses:1\n7,x:1\n")
    assert detect(mlds) == "mlds"
    src = read_layout(mlds, "dir:m", "auto", TagMapper({"aqua_hair": "hair_color=blue"}), ["s"])
    t0, t1 = src.items[0].tags, src.items[1].tags
    assert (t0["hair_color"], t0["eye_color"], t0["hair_length"]) == ("blue", "red", "long")
    assert t1["hair_color"] == "blue" and t1["glasses"] == "yes"  # aqua mapped through the params override
    assert src.problems == [Reject("tags_clean.csv:3", "tags_no_image", "id '7' has no image in faces/")]

    generic = tmp_path / "generic"
    _img(generic / "a.png", 1)
    (generic / "tags.csv").write_text("file,tags\na.png,pink_hair smile unknown_tag\n")
    assert detect(generic) == "generic"
    item = read_layout(generic, "dir:g", "auto", TagMapper(), ["s"]).items[0]
    assert item.tags["hair_color"] == "pink" and item.tags["smile"] == "yes" and item.extra == ["unknown_tag"]


def test_unmapped_tags_counted_in_ingest(tmp_path, smoke_params):
    build_danbooru(tmp_path / "src")
    params = with_ingest(smoke_params, [f"dir:{tmp_path / 'src'}"], crop="center")
    m = ingest(params, tmp_path / "out", open_sources(params))
    assert m["layout"] == "danbooru" and m["images"] == 2 and m["unmapped_tags"] == 1
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["unmapped_top"] == {"1girl": 1}


def _kaggle_cache(cache: Path, owner: str, slug: str, version: int) -> Path:
    """What kagglehub leaves after downloading owner/slug version N (its documented cache layout + marker)."""
    base = cache / "datasets" / owner / slug
    folder = base / "versions" / str(version)
    folder.mkdir(parents=True)
    (base / f"{version}.complete").touch()
    return folder


@pytest.fixture
def kaggle_env(tmp_path, monkeypatch):
    cache = tmp_path / "kagglehub"
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(cache))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return cache


def test_kaggle_versioned_source_from_the_real_kagglehub_cache(kaggle_env, smoke_params):
    folder = _kaggle_cache(kaggle_env, "mylesoneill", "tagged-anime-illustrations", 1)
    build_moeimouto(folder)
    build_danbooru(folder)
    spec = "kaggle:mylesoneill/tagged-anime-illustrations/versions/1"
    params = with_ingest(smoke_params, [spec])
    (src,) = open_sources(params)
    assert src.layout == "tagged" and len(src.items) == 8 and src.root == folder
    (lock,) = compute_lock(params)["sources"]
    assert lock["version"] == 1 and lock["handle"] == "mylesoneill/tagged-anime-illustrations/versions/1"
    assert "moeimouto-faces/moeimouto-faces/000_hatsune_miku/face_0_0.png" in lock["files"]


def test_kaggle_without_credentials_is_a_clear_error(kaggle_env):
    with pytest.raises(BadInput, match="no Kaggle credentials: set KAGGLE_USERNAME"):
        kaggle.resolve("kaggle:shilou/crypko-data/versions/3", timeout=10)


def test_kaggle_unreachable_is_transient_within_10s(kaggle_env, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "0" * 32)
    monkeypatch.setenv("KAGGLE_API_ENDPOINT", "http://127.0.0.1:9")  # a closed port: no network needed to fail
    t0 = time.time()
    with pytest.raises(Transient, match="retry"):
        kaggle.resolve("kaggle:splcher/animefacedataset", timeout=10)
    assert time.time() - t0 < 10.5


def test_kaggle_spec_checked():
    with pytest.raises(BadInput, match="expected kaggle:<owner>/<dataset>"):
        kaggle.parse("kaggle:../etc/passwd")


def _moeimouto_zip(tmp_path: Path) -> tuple[Path, Path]:
    """A moeimouto tree and the same files zipped: (tree, archive)."""
    tree = tmp_path / "tree"
    build_moeimouto(tree)
    return tree, zip_tree(tree, tmp_path / "moe.zip")


def test_zip_source_in_a_layout(tmp_path, smoke_params):
    tree, archive = _moeimouto_zip(tmp_path)
    shutil.rmtree(tree)
    params = with_ingest(smoke_params, [f"zip:{archive}"])
    (src,) = open_sources(params)
    assert src.layout == "moeimouto" and len(src.items) == 6
    assert compute_lock(params)["sources"][0]["sha256"]


def test_ingest_by_hand_on_any_source(tmp_path):
    """`python -m stages.ingest --source <spec> --out <dir>`, as a user types it, from any folder."""
    import json

    from tests.conftest import REPO, run

    tree, archive = _moeimouto_zip(tmp_path)
    env = {"PYTHONPATH": str(REPO)}
    base = ["python", "-m", "stages.ingest", "--params", str(REPO / "params.yaml"), "--metrics", "m.json"]
    proc = run([*base, "--source", f"zip:{archive}", "--out", "out"], tmp_path, env=env)
    assert "6 images kept of 6 files" in proc.stdout
    assert json.loads((tmp_path / "m.json").read_text())["ingest"]["layout"] == "moeimouto"
    assert (tmp_path / "out" / "manifest.csv").read_text().count("\n") == 7
    assert (tmp_path / ".cache" / "sources").is_dir()  # the extraction is cached beside, never in the output
    bad = run([*base, "--source", f"dir:{tmp_path / 'nowhere'}", "--out", "out2"], tmp_path, check=False, env=env)
    assert bad.returncode == 2 and "nowhere" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "out2").exists()


def test_the_source_spec_is_parsed_once_and_every_kind_is_registered():
    from core.source_spec import FORMS, parse_spec
    from dataset.sources import KINDS

    assert set(KINDS) == set(FORMS)
    assert parse_spec("generated").kind == "generated"
    spec = parse_spec("kaggle:splcher/animefacedataset/versions/3")
    assert (spec.kind, spec.arg) == ("kaggle", "splcher/animefacedataset/versions/3")
    assert parse_spec("dir:~/faces").path == Path("~/faces").expanduser()
    assert (parse_spec("generated:ink").kind, parse_spec("generated:ink").arg) == ("generated", "ink")
    for bad in ("ftp://x", "dir:", "generated:", "generated:../x", "generated:Ink", "zip", ""):
        with pytest.raises(ValueError, match="expected one of"):
            parse_spec(bad)
