"""Ingest speed: our stage against a naive single-process PIL loop doing the same work, in the same run.

    .venv/bin/python bench/ingest.py                 # 5,000 generated 128 px PNGs, the cpu profile's sizes
    .venv/bin/python bench/ingest.py --count 20000 --repeat 3

Each variant runs in its own fresh process (timed inside it, interpreter start-up excluded) over the same folder,
after one read of every file so that all of them find the files in the OS page cache:

  naive   one process, a plain loop: read, sha256, PIL decode (decode_image), square, pHash, one resize per size,
          rows collected in lists, stacked and saved. OpenCV keeps its default thread count (one per core), so both
          variants have the machine's cores.
  ingest  the real stage (`stages.ingest.ingest`) on a `dir:` source with a cold, empty decode cache: workers,
          shards, duplicates, split, manifest, report. It does strictly more than the naive loop.
  decode  the floor: read and PIL-decode every file in one process, nothing else.

The rows, sha256 and pHash of every image the stage keeps are asserted identical to the naive loop's. Peak memory is
ru_maxrss of the variant's main process and of its largest worker. Figures go to stdout and, with --json, a file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _files(src: Path) -> list[Path]:
    return sorted((src / "images").glob("*.png"))


def _peak() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_mib_main": round(own, 1), "peak_mib_largest_worker": round(kids, 1)}


def run_naive(src: Path, out: Path, sizes: list[int], max_pixels: int) -> dict:
    from core.params import CascadeParams
    from dataset.facecrop import apply_crop
    from dataset.imageio import decode_image, resize_square
    from dataset.phash import phash

    cp = CascadeParams()
    t0 = time.perf_counter()
    rows: dict[int, list[np.ndarray]] = {s: [] for s in sizes}
    meta = []
    for path in _files(src):
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        sq = apply_crop(decode_image(data, max_pixels), "none", cp)
        for s in sizes:
            rows[s].append(resize_square(sq, s))
        meta.append((f"images/{path.name}", sha, f"{phash(sq):016x}"))
    out.mkdir(parents=True, exist_ok=True)
    for s in sizes:
        np.save(out / f"images_{s}.npy", np.stack(rows[s]))
    (out / "meta.json").write_text(json.dumps(meta))
    return {"seconds": time.perf_counter() - t0, "files": len(meta), **_peak()}


def run_ingest(src: Path, out: Path, sizes: list[int], max_pixels: int) -> dict:
    from core.params import load_params
    from dataset.sources import open_source
    from stages.ingest import ingest

    params = load_params(ROOT / "params.yaml")
    ip = params.ingest.model_copy(
        update={
            "source": f"dir:{src}",
            "sizes": sizes,
            "max_pixels": max_pixels,
            "cache": True,
            "executor": "process",
            "workers": 0,
        }
    )
    params = params.model_copy(update={"ingest": ip})
    t0 = time.perf_counter()
    metrics = ingest(params, out, open_source(params), cache_root=out.parent / f"cache-{os.getpid()}")
    return {
        "seconds": time.perf_counter() - t0,
        "files": metrics["files"],
        "kept": metrics["images"],
        "decoded": metrics["decoded"],
        **_peak(),
    }


def run_decode(src: Path, out: Path, sizes: list[int], max_pixels: int) -> dict:
    from dataset.imageio import decode_image

    t0 = time.perf_counter()
    n = 0
    for path in _files(src):
        decode_image(path.read_bytes(), max_pixels)
        n += 1
    return {"seconds": time.perf_counter() - t0, "files": n, **_peak()}


VARIANTS = {"naive": run_naive, "ingest": run_ingest, "decode": run_decode}


def _child(variant: str, src: Path, out: Path, sizes: list[int], max_pixels: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--variant",
        variant,
        "--src",
        str(src),
        "--out",
        str(out),
        "--sizes",
        ",".join(map(str, sizes)),
        "--max-pixels",
        str(max_pixels),
    ]
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _check_identical(naive: Path, ours: Path, sizes: list[int]) -> int:
    import csv

    meta = json.loads((naive / "meta.json").read_text())
    index = {rel: i for i, (rel, _, _) in enumerate(meta)}
    with open(ours / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    order = [index[r["path"]] for r in rows]
    for r, i in zip(rows, order):
        assert (r["sha256"], r["phash"]) == meta[i][1:], f"{r['path']}: hashes differ"
    for s in sizes:
        a = np.load(naive / f"images_{s}.npy", mmap_mode="r")[order]
        b = np.load(ours / f"images_{s}.npy", mmap_mode="r")
        assert np.array_equal(a, b), f"{s} px rows differ"
    return len(rows)


def _make_source(count: int, render: int, workdir: Path) -> Path:
    from core.params import load_params
    from dataset.generated_source import write_generated_source

    params = load_params(ROOT / "params.yaml")
    gp = params.generated.model_copy(update={"count": count, "render_size": render})
    src = workdir / f"generated-{count}-{render}"
    if not (src / "provenance.json").exists():
        print(f"rendering {count} faces of {render} px into {src} ...", flush=True)
        write_generated_source(src, gp, params.seed)
    return src


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--render-size", type=int, default=128)
    ap.add_argument("--sizes", default="32,64,128")
    ap.add_argument("--max-pixels", type=int, default=40_000_000)
    ap.add_argument("--repeat", type=int, default=1, help="rounds; the median seconds of each variant is reported")
    ap.add_argument("--workdir", default=str(ROOT / ".cache" / "bench"), help="keeps the rendered PNGs between runs")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    ap.add_argument("--src", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.variant:  # one timed variant, in its own process
        print(json.dumps(VARIANTS[args.variant](Path(args.src), Path(args.out), sizes, args.max_pixels)))
        return

    workdir = Path(args.workdir)
    src = _make_source(args.count, args.render_size, workdir)
    for p in _files(src):  # every variant starts with the files in the page cache
        p.read_bytes()
    times: dict[str, list[float]] = {v: [] for v in ("naive", "ingest", "decode")}
    last: dict[str, dict] = {}
    for r in range(args.repeat):
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            for v in ("naive", "ingest", "decode"):  # the ingest cache is new in every round: always cold
                last[v] = _child(v, src, Path(tmp) / v, sizes, args.max_pixels)
                times[v].append(last[v]["seconds"])
            kept = _check_identical(Path(tmp) / "naive", Path(tmp) / "ingest", sizes)
        print(f"round {r + 1}: " + ", ".join(f"{v} {times[v][-1]:.2f} s" for v in times), flush=True)
    n = last["naive"]["files"]
    med = {v: float(np.median(t)) for v, t in times.items()}
    report = {
        "files": n,
        "kept_identical": kept,
        "cores": os.cpu_count(),
        "sizes": sizes,
        "render_size": args.render_size,
        "images_per_s": {v: round(n / s, 1) for v, s in med.items()},
        "speedup_vs_naive": round(med["naive"] / med["ingest"], 2),
        "decode_floor_share_of_naive": round(med["decode"] / med["naive"], 2),
        "peak_mib": {v: {k: x for k, x in last[v].items() if k.startswith("peak")} for v in last},
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if kept != n:
        print(f"note: the stage kept {kept} of {n} (duplicates dropped); the kept rows were compared")
    shutil.rmtree(workdir / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
