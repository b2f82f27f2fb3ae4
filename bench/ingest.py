"""Ingest speed: our stage against a naive single-process PIL loop doing the same work, in the same run.

    .venv/bin/python bench/ingest.py                 # 5,000 generated 128 px PNGs, the cpu profile's sizes
    .venv/bin/python bench/ingest.py --count 20000 --repeat 3

Each variant runs in its own fresh process (timed inside it, interpreter start-up excluded) over the same folder,
after one read of every file so that all of them find the files in the OS page cache:

  naive        one process, a plain loop: read, sha256, Pillow decode (decode_image(fast=False)), square, pHash,
               one resize per size, rows collected in lists, stacked and saved. OpenCV keeps its default thread
               count (one per core), so both variants have all the machine's cores.
  ingest       the real stage (`dataset.importer.ingest`) on a `dir:` source with a cold, empty decode cache: workers,
               decode cache writes, shards, duplicates, split, manifest, report. It does more than the naive loop.
  decode_pil   one process reading and Pillow-decoding every file, nothing else: the naive loop's floor.
  decode_fast  the same with the stage's decoder (OpenCV for plain PNG / JPEG, same pixels): the stage's floor
               is this divided by the cores.

Variants run in this order in odd rounds and in reverse in even ones, each after a `sync` so that none pays for
writing back another's files; `--repeat` rounds, medians reported (this machine is a shared VM: single runs vary
by 20 %; the speed-up is naive / ingest within each round, then the median over rounds). The rows, sha256 and pHash
of every image the stage keeps are asserted identical to the naive loop's. Peak memory is the VmHWM of each
variant's process and its workers. Figures go to stdout and, with --json, a file; they name the machine kind they
ran on (`machine_kind`: core/machine.py's `AVX512-AMD`, `AVX2-AMD`, `AVX512-Intel`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _files(src: Path) -> list[Path]:
    return sorted((src / "images").glob("*.png"))


class PeakMemory:
    """High-water resident memory (VmHWM) of this process and of every descendant (pool workers, the fork
    server), polled every 50 ms from /proc; VmHWM is a high-water mark, so polling misses no peak of a process
    that lives longer than one interval."""

    def __init__(self):
        self.peaks: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _tree(self) -> list[int]:
        parent: dict[int, int] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        me, tree = os.getpid(), []
        for pid in parent:
            p = pid
            while p > 1 and p != me:
                p = parent.get(p, 0)
            if p == me:
                tree.append(pid)
        return tree

    def _poll(self) -> None:
        while not self.stop.wait(0.05):
            self.sample()

    def sample(self) -> None:
        for pid in self._tree():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.peaks[pid] = max(self.peaks.get(pid, 0), int(line.split()[1]))
            except OSError:
                pass

    def report(self) -> dict[str, float]:
        self.sample()
        self.stop.set()
        me = self.peaks.pop(os.getpid(), 0)
        others = sorted(self.peaks.values())
        return {
            "peak_mib_main": round(me / 1024, 1),
            "peak_mib_largest_worker": round((others or [0])[-1] / 1024, 1),
            "peak_mib_sum": round((me + sum(others)) / 1024, 1),
        }


def run_naive(src: Path, out: Path, sizes: list[int], max_pixels: int) -> dict:
    from core.params import CascadeParams
    from dataset.facecrop import apply_crop
    from dataset.imageio import decode_image, resize_square
    from dataset.phash import phash

    cp = CascadeParams()
    mem = PeakMemory()
    t0 = time.perf_counter()
    rows: dict[int, list[np.ndarray]] = {s: [] for s in sizes}
    meta = []
    for path in _files(src):
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        sq = apply_crop(decode_image(data, max_pixels, fast=False), "none", cp)
        for s in sizes:
            rows[s].append(resize_square(sq, s))
        meta.append((f"images/{path.name}", sha, f"{phash(sq):016x}"))
    out.mkdir(parents=True, exist_ok=True)
    for s in sizes:
        np.save(out / f"images_{s}.npy", np.stack(rows[s]))
    (out / "meta.json").write_text(json.dumps(meta))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "files": len(meta), **mem.report()}


def run_ingest(src: Path, out: Path, sizes: list[int], max_pixels: int) -> dict:
    from core.params import SourceParams, load_params
    from core.pool import start_server
    from dataset.importer import WORKER_MODULES, ingest
    from dataset.sources import open_sources

    params = load_params(ROOT / "params.yaml")
    ip = params.ingest.model_copy(
        update={
            "sources": [SourceParams(spec=f"dir:{src}")],
            "sizes": sizes,
            "max_pixels": max_pixels,
            "cache": True,
            "executor": "process",
            "workers": 0,
        }
    )
    params = params.model_copy(update={"ingest": ip})
    mem = PeakMemory()
    t0 = time.perf_counter()
    start_server(WORKER_MODULES)  # as `python -m stages.ingest` does first
    metrics = ingest(params, out, open_sources(params), cache_root=out.parent / f"cache-{os.getpid()}")
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "files": metrics["files"],
        "kept": metrics["images"],
        "decoded": metrics["decoded"],
        **mem.report(),
    }


def _decode_only(src: Path, max_pixels: int, fast: bool) -> dict:
    from dataset.imageio import decode_image

    mem = PeakMemory()
    t0 = time.perf_counter()
    n = 0
    for path in _files(src):
        decode_image(path.read_bytes(), max_pixels, fast=fast)
        n += 1
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "files": n, **mem.report()}


def run_decode_pil(src: Path, out: Path, sizes: list[int], max_pixels: int) -> dict:
    return _decode_only(src, max_pixels, fast=False)


def run_decode_fast(src: Path, out: Path, sizes: list[int], max_pixels: int) -> dict:
    return _decode_only(src, max_pixels, fast=True)


VARIANTS = {"naive": run_naive, "ingest": run_ingest, "decode_pil": run_decode_pil, "decode_fast": run_decode_fast}


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
        assert (r["sha256"], r["phash"]) == tuple(meta[i][1:]), f"{r['path']}: hashes differ"
    for s in sizes:
        a = np.load(naive / f"images_{s}.npy", mmap_mode="r")[order]
        b = np.load(ours / f"images_{s}.npy", mmap_mode="r")
        assert np.array_equal(a, b), f"{s} px rows differ"
    return len(rows)


def _make_source(count: int, render: int, workdir: Path) -> Path:
    from core.params import load_params
    from synth.faces.source import write_generated_source

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
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    last: dict[str, dict] = {}
    for r in range(args.repeat):
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            order = list(VARIANTS) if r % 2 == 0 else list(reversed(VARIANTS))  # neither always goes first
            for v in order:  # the ingest cache is new in every round: always cold
                os.sync()  # no variant pays for writing back the one before
                last[v] = _child(v, src, Path(tmp) / v, sizes, args.max_pixels)
                times[v].append(last[v]["seconds"])
            kept = _check_identical(Path(tmp) / "naive", Path(tmp) / "ingest", sizes)
        print(f"round {r + 1}: " + ", ".join(f"{v} {times[v][-1]:.2f} s" for v in times), flush=True)
    n = last["naive"]["files"]
    med = {v: float(np.median(t)) for v, t in times.items()}
    ratios = [a / b for a, b in zip(times["naive"], times["ingest"])]
    from core import machine  # here, not at the top: it imports torch, which the timed variants' processes need not

    report = {
        "machine_kind": machine.kind(),  # each kind of CPU times differently
        "files": n,
        "kept_identical": kept,
        "cores": os.cpu_count(),
        "sizes": sizes,
        "render_size": args.render_size,
        "images_per_s": {v: round(n / s, 1) for v, s in med.items()},
        # naive / ingest within each round (the same minute of this shared machine), then the median over rounds
        "speedup_vs_naive": round(float(np.median(ratios)), 2),
        "speedup_per_round": [round(r, 2) for r in ratios],
        # single-process decode alone: Pillow (the naive loop's decoder) and ours; divided by the cores, ours is
        # the floor no parallel ingest on this machine can beat
        "decode_floor_s": {
            "pil": round(med["decode_pil"], 2),
            "fast": round(med["decode_fast"], 2),
            "fast_per_core": round(med["decode_fast"] / (os.cpu_count() or 1), 2),
        },
        "seconds_median": {v: round(x, 2) for v, x in med.items()},
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
