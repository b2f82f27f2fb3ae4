"""Layout adapters: a folder in one of the public data sets' layouts -> a Source (images, characters, tags).

Detected automatically (`ingest.layout: auto`), or named in params:

    generic     images anywhere; optional tags.csv (file, character, <group columns>, tags) and provenance.json
    crypko      Kaggle "Crypko Data" (shilou/crypko-data): a folder of <n>.jpg faces, no tags
    moeimouto   Tagged Anime Illustrations' moeimouto-faces/<NNN>_<character>/face_*.png (one folder per character)
    danbooru    Tagged Anime Illustrations' danbooru-metadata/*.json (JSON Lines of posts) over
                danbooru-images/<id mod 1000, 4 digits>/<id>.jpg; filtered by rating; faces cut out by default
    tagged      both of the above, as the Kaggle data set ships them
    animeface   "Anime Face Dataset" (splcher/animefacedataset): images/<n>_<year>.jpg
    mlds        the 96 px MLDS-style sets: faces/<i>.jpg and tags_clean.csv lines `id,<tag>:<count>\t...`

Kaggle archives unpack to doubled folders (moeimouto-faces/moeimouto-faces/...); detection looks a few levels down.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import BadInput
from core.names import ATTRIBUTES, GROUPS, UNKNOWN
from dataset.rejects import Reject
from dataset.tagmap import TagMapper

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
MAX_DEPTH = 4
MAX_TABLE_BYTES = 256 << 20  # a tag table (tags.csv, tags_clean.csv) or provenance.json
MAX_JSONL_BYTES = 64 << 30  # Danbooru's metadata run to gigabytes; they are streamed line by line
MAX_LINE_BYTES = 4 << 20  # one JSON Lines post


@contextlib.contextmanager
def metadata_file(path: Path, cap: int) -> Iterator[io.TextIOWrapper]:
    """A metadata file opened as image files are: a regular file (no link followed, no FIFO or device, which would
    block or never end), at most `cap` bytes, checked on the open descriptor; BadInput naming it otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        what = "a symbolic link (not followed)" if err.errno == errno.ELOOP else f"unreadable ({err.strerror})"
        raise BadInput(f"{path}: {what}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadInput(f"{path}: not a regular file (a FIFO, device or folder is never read as metadata)")
        if st.st_size > cap:
            raise BadInput(f"{path}: {st.st_size} bytes, over the {cap} a metadata file of this kind may have")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    with open(fd, encoding="utf-8", errors="replace", newline="") as f:
        yield f


@dataclass
class SourceItem:
    rel: str  # path inside the source root, posix
    path: Path
    character: str = ""
    tags: dict[str, str] = field(default_factory=lambda: {g: UNKNOWN for g in GROUPS})
    extra: list[str] = field(default_factory=list)  # tags that map to no attribute group
    crop: str = "none"  # the layout's default face crop (ingest.crop: auto keeps it)


@dataclass
class Source:
    spec: str
    root: Path
    layout: str
    licence: str
    items: list[SourceItem]
    problems: list[Reject] = field(default_factory=list)  # what was left out, with why
    listed: list[str] = field(default_factory=list)  # every image file found, used or not (for the lock check)


def display(rel: str) -> str:
    """A path as text that always encodes (names that are not UTF-8 show their bytes escaped)."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def list_images(root: Path, problems: list[Reject] | None = None) -> list[str]:
    """Every entry with an image extension below root, sorted; links are listed (ingest rejects them), not followed."""
    found = []
    top = os.fspath(root)
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        prefix = os.path.relpath(dirpath, top).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                dirnames.remove(d)
                if problems is not None:
                    problems.append(Reject(display(prefix + d), "symlink", "symlinked folder not followed"))
        dirnames.sort()
        # plain string work per file: pathlib cost more than the listing itself on 5,000 files
        for name in filenames + dirnames:
            if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                found.append(prefix + name)
    return sorted(set(found))


def _dirs_named(root: Path, name: str) -> list[Path]:
    out = []
    for dirpath, dirnames, _ in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        if depth >= MAX_DEPTH:
            dirnames[:] = []
        for d in dirnames:
            if d == name:
                out.append(Path(dirpath) / d)
    return sorted(out)


def _innermost(dirs: list[Path]) -> Path | None:
    return max(dirs, key=lambda p: len(p.parts)) if dirs else None


_CHAR_DIR = re.compile(r"^\d+_(.+)$")


def _moe_root(root: Path) -> Path | None:
    for d in sorted(_dirs_named(root, "moeimouto-faces"), key=lambda p: -len(p.parts)):
        if any(c.is_dir() and _CHAR_DIR.match(c.name) for c in d.iterdir()):
            return d
    return None


def detect(root: Path) -> str:
    moe = _moe_root(root) is not None
    dan = bool(_dirs_named(root, "danbooru-metadata")) and bool(_dirs_named(root, "danbooru-images"))
    if moe and dan:
        return "tagged"
    if moe:
        return "moeimouto"
    if dan:
        return "danbooru"
    if (
        any((d.parent / "tags_clean.csv").exists() for d in _dirs_named(root, "faces"))
        or (root / "tags_clean.csv").exists()
    ):
        return "mlds"
    if (root / "tags.csv").exists():
        return "generic"
    names = [Path(r).name for r in list_images(root)]
    if names:
        if sum(bool(re.fullmatch(r"\d+_\d{4}\.\w+", n)) for n in names) >= 0.8 * len(names):
            return "animeface"
        if sum(bool(re.fullmatch(r"\d+\.\w+", n)) for n in names) >= 0.8 * len(names):
            return "crypko"
    return "generic"


@contextlib.contextmanager
def _csv_errors(path: Path):
    """A CSV the csv module cannot read (a field over its size limit, a NUL byte) is BadInput naming the file."""
    try:
        yield
    except csv.Error as err:
        raise BadInput(f"{path}: not a readable CSV table ({err})") from None


def _lines(f: io.TextIOWrapper) -> Iterator[str | None]:
    """The lines of a text file, each read with a bound: a line over MAX_LINE_BYTES is consumed and yields None."""
    while True:
        line = f.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith("\n"):
            while (rest := f.readline(MAX_LINE_BYTES)) and not rest.endswith("\n"):
                pass
            yield None
            continue
        yield line


def _licence(root: Path, problems: list[Reject], default: str) -> str:
    prov = root / "provenance.json"
    if not prov.exists() and not prov.is_symlink():
        return default
    try:
        with metadata_file(prov, MAX_TABLE_BYTES) as f:
            return str(json.loads(f.read()).get("licence", default))
    except BadInput as err:
        problems.append(Reject("provenance.json", "bad_metadata", f"{err}; licence unknown"))
    except (json.JSONDecodeError, AttributeError, RecursionError):
        problems.append(Reject("provenance.json", "bad_metadata", "not a JSON object; licence unknown"))
    return default


def _items(root: Path, rels: list[str], crop: str = "none") -> dict[str, SourceItem]:
    return {rel: SourceItem(rel=rel, path=root / rel, crop=crop) for rel in rels}


def read_generic(root: Path, spec: str, mapper: TagMapper, layout: str = "generic") -> Source:
    problems: list[Reject] = []
    rels = list_images(root, problems)
    items = _items(root, rels)
    tags_file = root / "tags.csv"
    if tags_file.exists() or tags_file.is_symlink():
        with metadata_file(tags_file, MAX_TABLE_BYTES) as f, _csv_errors(tags_file):
            reader = csv.DictReader(f)
            if not reader.fieldnames or "file" not in reader.fieldnames:
                raise BadInput(f"{tags_file}: expected a header with a 'file' column, got {reader.fieldnames}")
            for n, row in enumerate(reader, start=2):
                item = items.get((row.get("file") or "").strip())
                if item is None:
                    problems.append(
                        Reject(
                            f"tags.csv:{n}", "tags_no_image", f"file {row.get('file')!r} is not an image in the source"
                        )
                    )
                    continue
                item.character = (row.get("character") or "").strip()
                mapped = mapper.map((row.get("tags") or "").replace(",", " ").split())
                item.tags, item.extra = mapped.tags, mapped.extra
                for g in GROUPS:
                    value = (row.get(g) or "").strip()
                    if value and value not in ATTRIBUTES[g]:
                        problems.append(
                            Reject(
                                f"tags.csv:{n}", "tags_bad_value", f"{g}={value!r} is not one of {list(ATTRIBUTES[g])}"
                            )
                        )
                    elif value:
                        item.tags[g] = value
    return Source(spec, root, layout, _licence(root, problems, "unknown"), [items[r] for r in rels], problems, rels)


def read_moeimouto(root: Path, spec: str, mapper: TagMapper) -> Source:
    base = _moe_root(root)
    if base is None:
        raise BadInput(f"source {spec}: no moeimouto-faces/<NNN>_<character>/ folders under {root}")
    problems: list[Reject] = []
    rels = list_images(root, problems)
    items = _items(root, rels)
    for item in items.values():
        parent = item.path.parent
        if parent.parent == base and (m := _CHAR_DIR.match(parent.name)):
            item.character = m.group(1)
    return Source(
        spec,
        root,
        "moeimouto",
        _licence(root, problems, "see the Kaggle data set page"),
        [items[r] for r in rels],
        problems,
        rels,
    )


def read_danbooru(root: Path, spec: str, mapper: TagMapper, ratings: list[str], with_moe: bool = False) -> Source:
    problems: list[Reject] = []
    rels = list_images(root, problems)
    images_dir = _innermost(_dirs_named(root, "danbooru-images"))
    moe_base = _moe_root(root) if with_moe else None
    by_id: dict[int, str] = {}
    for rel in rels:
        p = root / rel
        if images_dir and images_dir in p.parents and p.stem.isdigit():
            by_id[int(p.stem)] = rel
    posts: dict[int, tuple[str, list[str], list[str]]] = {}  # id -> (rating, general tags, characters)
    # a doubled folder (danbooru-metadata/danbooru-metadata/) is found twice: read each file once
    metas = sorted({m for d in _dirs_named(root, "danbooru-metadata") for m in d.rglob("*.json")})
    for meta in metas:
        with metadata_file(meta, MAX_JSONL_BYTES) as f:
            for n, line in enumerate(_lines(f), start=1):  # JSON Lines, streamed: metadata files run to gigabytes
                if line is None:
                    where = f"{meta.relative_to(root).as_posix()}:{n}"
                    problems.append(Reject(where, "bad_metadata", f"a line over {MAX_LINE_BYTES} bytes, skipped"))
                    continue
                line = line.strip()
                if not line:
                    continue
                try:
                    post = json.loads(line)
                    pid = int(post["id"])
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    where = f"{meta.relative_to(root).as_posix()}:{n}"
                    problems.append(Reject(where, "bad_metadata", "not a post (JSON with an id)"))
                    continue
                if pid not in by_id:
                    continue
                tags = post.get("tags") or []
                names = [str(t.get("name", "")) for t in tags if isinstance(t, dict)]
                chars = [str(t.get("name", "")) for t in tags if isinstance(t, dict) and str(t.get("category")) == "4"]
                posts[pid] = (str(post.get("rating", "")), names, chars)
    items: list[SourceItem] = []
    for rel in rels:
        p = root / rel
        if moe_base is not None and moe_base in p.parents:
            parent = p.parent
            ch = m.group(1) if parent.parent == moe_base and (m := _CHAR_DIR.match(parent.name)) else ""
            items.append(SourceItem(rel=rel, path=p, character=ch))
            continue
        pid = int(p.stem) if p.stem.isdigit() else None
        if pid is None or pid not in by_id or by_id[pid] != rel:
            items.append(SourceItem(rel=rel, path=p))  # an image outside danbooru-images: kept, untagged
            continue
        if pid not in posts:
            problems.append(
                Reject(display(rel), "no_metadata", "danbooru image without metadata: rating unknown, left out")
            )
            continue
        rating, names, chars = posts[pid]
        if rating not in ratings:
            problems.append(
                Reject(
                    display(rel), "rating_filtered", f"rating {rating!r} filtered (ingest.danbooru_ratings {ratings})"
                )
            )
            continue
        character_tags = set(chars)
        mapped = mapper.map(n for n in names if n not in character_tags)
        items.append(
            SourceItem(
                rel=rel,
                path=p,
                character=sorted(chars)[0] if chars else "",
                tags=mapped.tags,
                extra=mapped.extra,
                crop="animeface",
            )
        )
    layout = "tagged" if with_moe else "danbooru"
    return Source(spec, root, layout, _licence(root, problems, "see the Kaggle data set page"), items, problems, rels)


def read_animeface(root: Path, spec: str, mapper: TagMapper) -> Source:
    src = read_generic(root, spec, mapper, layout="animeface")
    for item in src.items:
        m = re.fullmatch(r"\d+_(\d{4})", item.path.stem)
        if m:
            item.extra = sorted({*item.extra, f"year_{m.group(1)}"})
    if src.licence == "unknown":
        src.licence = "see the Kaggle data set page"
    return src


def read_mlds(root: Path, spec: str, mapper: TagMapper) -> Source:
    problems: list[Reject] = []
    rels = list_images(root, problems)
    items = _items(root, rels)
    tag_files = sorted(root.rglob("tags_clean.csv"))
    if not tag_files:
        raise BadInput(f"source {spec}: no tags_clean.csv under {root}")
    tag_file = tag_files[0]
    faces = tag_file.parent / "faces"
    by_stem = {(root / r).stem: r for r in rels if faces in (root / r).parents}
    with metadata_file(tag_file, MAX_TABLE_BYTES) as f:
        for n, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            ident, _, rest = line.partition(",")
            rel = by_stem.get(ident.strip())
            if rel is None:
                problems.append(Reject(f"tags_clean.csv:{n}", "tags_no_image", f"id {ident!r} has no image in faces/"))
                continue
            raw = [part.rsplit(":", 1)[0] for part in rest.split("\t") if part.strip()]
            mapped = mapper.map(raw)
            items[rel].tags, items[rel].extra = mapped.tags, mapped.extra
    return Source(
        spec,
        root,
        "mlds",
        _licence(root, problems, "see the data set's page"),
        [items[r] for r in rels],
        problems,
        rels,
    )


def read_layout(root: Path, spec: str, layout: str, mapper: TagMapper, ratings: list[str]) -> Source:
    """Read `root` in `layout` ("auto": detected)."""
    if not root.is_dir():
        raise BadInput(f"source {spec}: {root} is not a folder")
    if layout == "auto":
        layout = detect(root)
    if layout in ("generic", "crypko"):
        return read_generic(root, spec, mapper, layout)
    if layout == "moeimouto":
        return read_moeimouto(root, spec, mapper)
    if layout in ("danbooru", "tagged"):
        return read_danbooru(root, spec, mapper, ratings, with_moe=layout == "tagged")
    if layout == "animeface":
        return read_animeface(root, spec, mapper)
    if layout == "mlds":
        return read_mlds(root, spec, mapper)
    raise BadInput(f"ingest.layout: {layout!r} is not a known layout")
