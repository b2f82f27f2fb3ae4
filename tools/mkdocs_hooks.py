"""MkDocs hooks of the documentation site (mkdocs.yml `hooks:`).

Some images in docs/ are pipeline outputs: dvc.yaml's stages write them (`docs/<family>_samples.png` from
`train@<family>`, `docs/sr_on_generated.png` from `evaluate`). A page may show one before the stage that writes it
has run and been committed; the strict build then finds its link broken. For exactly those files, and only while
they are missing, the site gets a placeholder image saying which stage makes it. Any other missing file is still a
broken link, and the strict build fails on it.
"""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import yaml
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.pipeline_outputs")


def docs_outputs(dvc_yaml: Path) -> dict[str, str]:
    """{path under docs/: the stage that writes it} for every output dvc.yaml declares there."""
    stages = (yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}).get("stages", {})
    found: dict[str, str] = {}
    for name, stage in stages.items():
        items = [(name, {}, stage)]
        if "foreach" in stage:
            keys = stage["foreach"]
            keys = list(keys) if isinstance(keys, dict) else keys
            items = [(f"{name}@{k}", {"key": k}, stage["do"]) for k in keys]
        for stage_name, subst, body in items:
            for out in body.get("outs", []) or []:
                path = next(iter(out)) if isinstance(out, dict) else out
                for k, v in subst.items():
                    path = path.replace("${" + k + "}", str(v))
                if path.startswith("docs/"):
                    found[path[len("docs/") :]] = stage_name
    return found


def placeholder_png(width: int = 64, height: int = 16) -> bytes:
    """A small grey PNG (no drawing library needed at build time)."""
    raw = b"".join(b"\x00" + bytes([200, 200, 200]) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def on_files(files: Files, config) -> Files:
    docs_dir = Path(config["docs_dir"])
    dvc_yaml = docs_dir.parent / "dvc.yaml"
    if not dvc_yaml.exists():
        return files
    for src, stage in sorted(docs_outputs(dvc_yaml).items()):
        if files.get_file_from_path(src) is None and not (docs_dir / src).exists():
            log.info("docs/%s is not there yet (`dvc repro %s` writes it): a placeholder stands in", src, stage)
            files.append(File.generated(config, src, content=placeholder_png()))
    return files
