"""Stage `pose_import`: the pose project's own source (`label.pose_source`: an illustration folder, an artist's own
sketches) -> shards at the pose sets' size, a manifest with splits, a reject report.

    python -m stages.pose_import     # data/pose_import/, metrics/pose_import.json

It is ingest's importer (dataset/importer.py: hostile input rejected with codes, duplicates dropped, grouped
split) with the pose sets' settings: one shard of `render.size` px, every picture padded to a square (no face crop),
no attribute tags. Its content is pinned by `pose_source.lock.json` (`make lock` writes it beside source.lock.json)
and refused (exit 2) when the folder changed since. With `label.pose_source: ""` it writes an empty set.
`labeling.sync push` offers these images to the pose project (before the render sketches); annotated ones join
posenet's training or scoring by their split (models/pose/labels.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.atomic import atomic_path, write_json
from core.errors import BadInput, run_main
from core.params import Params, load_params

OUT = Path("data/pose_import")
METRICS = Path("metrics/pose_import.json")
LOCK = Path("pose_source.lock.json")


def import_params(params: Params) -> Params:
    """params with `ingest` set for the pose source: its spec, one shard of render.size, no crop, no tags."""
    raw = params.model_dump()
    raw["ingest"].update(
        {"source": params.label.pose_source, "sizes": [params.render.size], "crop": "none", "groups": []}
    )
    return type(params).model_validate(raw)


def compute_pose_lock(params: Params) -> dict:
    """What pins the pose source's content (dataset/lock.py's form); {"spec": ""} when there is none."""
    if not params.label.pose_source:
        return {"spec": ""}
    from dataset.lock import compute_lock

    return compute_lock(import_params(params))["sources"][0]


def run(params: Params, out: Path, lock_path: Path = LOCK) -> dict:
    from dataset.lock import read_lock  # missing or unreadable: exit 2 saying `make lock`

    spec = params.label.pose_source
    lock = read_lock(lock_path)
    if lock.get("spec") != spec:
        raise BadInput(f"{lock_path} is for {lock.get('spec')!r}, not label.pose_source {spec!r}; run `make lock`")
    if not spec:
        with atomic_path(out) as tmp:
            tmp.mkdir(parents=True)
            write_json(tmp / "summary.json", {"source": "", "images": 0})
        return {"source": "", "images": 0}
    from dataset.importer import ingest
    from dataset.sources import open_source

    ip = import_params(params)
    source = open_source(ip, ip.ingest.sources[0], lock)
    return {"source": spec, **ingest(ip, out, [source], [lock.get("files")])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    args = ap.parse_args()
    metrics = run(load_params(args.params), Path(args.out))
    write_json(args.metrics, {"pose_import": metrics})
    print(f"pose_import: {metrics['images']} images from {metrics.get('source') or 'no pose source'!s}")


if __name__ == "__main__":
    run_main(main, "pose_import")
