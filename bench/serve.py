"""The service on loopback: latency and throughput of POST /api/generate with micro-batching on and off, how much of
the in-process batching gain the HTTP server keeps, and the server's memory over a bounded soak.

    .venv/bin/python bench/serve.py                     # results to bench/results/serve-cpu-<machine kind>.json
    .venv/bin/python bench/serve.py --quick --out /tmp/serve.json     # tiny networks, 1 s a cell (the test)
    .venv/bin/python bench/serve.py --seconds 20 --soak-seconds 300 --window-ms 5

For each size (64 and 128 px) two servers run as real subprocesses (`python -m serve --root F --port P
--batch-window-ms W`): the baseline with batching off (W = 0) and the same server with batching on (W = --window-ms,
the server's default 10). Clients are threads, each with one keep-alive HTTP/1.1 connection, each looping
POST /api/generate {"count": 1, "seed": i, "family": "dcgan"} (a different seed every request, the same settings,
so every request may share a batch). A cell is one (size, clients, server): `--warmup` seconds of load, then
`--seconds` timed: images/s = requests completed in the timed span / its length; p50 / p99 = latency of those
requests. Cells of one size run baseline then batching for each client count (1, 8, 32), so both see the same
machine state. The ratio is images/s with batching / images/s without, both from this run.

In-process ratio: the same generator called directly (serve.bundles.Models.generate, what the server's batcher
calls) with one batch of 32 seeds against 32 calls of one seed, interleaved over `--rounds` rounds: 32 x the median
single call / the median batch call (on a shared CPU a 2-thread pass now and then stalls for a scheduler slice; the
median keeps those stalls out, the sums are reported beside it). The HTTP server adds per-request work that does not
batch (parsing, PNG encoding, base64, JSON), so it keeps only a share of that gain:
kept = (HTTP ratio at 32 clients - 1) / (in-process ratio - 1).

Soak: `--soak-clients` clients (32) on the 64 px batching server for `--soak-seconds` (60); the server's RSS
(VmRSS of /proc/<pid>/status) is sampled every second; start, end, max and the growth over the second half are
reported (flat = a growth of a few MB / per cent at most; reported, not asserted). The growth is the least-squares
trend over the second half (the RSS swings by the batch in flight), the end-to-end difference beside it.

Every cell also says how much CPU the rest of the machine used meanwhile (`other_cpu_cores`: busy time in /proc/stat
less the bench's and its servers'): figures taken beside other work are worth less; run it on a quiet machine.

Networks: data/deploy's DCGAN generator when data/deploy/deployed.json deploys one of the needed size; otherwise a
bundle built here: the tiny deploy folder of tests/serve/tiny.py with its DCGAN generator replaced by an untrained one
at a realistic width (nz 100, ngf 64, embed 16: the gpu profile's 64 / 128 px networks). Untrained weights time the
same as trained ones; the tiny networks of --quick do not (they are far cheaper), so --quick proves the bench runs,
not the figures. The output names every timed network (source, size, ngf, parameters). Torch threads are the
server's defaults (recorded, with the CPU count); `--threads N` sets them (OMP_NUM_THREADS of the servers).
Every server is stopped with SIGTERM (and dies with this process).

The output names the machine kind it ran on (`machine_kind`: core/machine.py's `AVX512-AMD`, `AVX2-AMD`,
`AVX512-Intel`; torch picks other kernels on each, so the timings differ), and the default file name carries it:
`serve-cpu-AVX512-AMD.json`.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import datetime
import http.client
import io
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core import machine  # noqa: E402

SIZES = (64, 128)
REAL_NET = {"nz": 100, "ngf": 64, "embed": 16}  # params.yaml dcgan at the gpu profile's 64 / 128 px
IN_PROCESS_BATCH = 32
SEED_STRIDE = 10_000_000  # client i asks seeds i * stride, i * stride + 1, ... (all under the API's limit)


def default_out() -> Path:
    """bench/results/serve-cpu-<machine kind>.json (the servers run on the CPU)."""
    return REPO / "bench" / "results" / f"serve-cpu-{machine.kind()}.json"


# --- the networks ---------------------------------------------------------------------------------------------------


def deployed_size(deploy: Path) -> int | None:
    """The size of data/deploy's DCGAN generator, or None when none is deployed."""
    try:
        doc = json.loads((deploy / "deployed.json").read_text())
        size = doc["families"]["dcgan"]["size"]
        return int(size) if (deploy / "dcgan" / "model.safetensors").exists() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build_deploy(folder: Path, size: int, tiny: bool) -> Path:
    """A deploy folder at `folder`: tests/serve/tiny.py's, its DCGAN generator at a realistic width unless `tiny`."""
    import torch

    from models.dcgan.net import Generator
    from tests.serve.tiny import make_deploy

    make_deploy(folder, size=size)
    if not tiny:
        torch.manual_seed(0)
        Generator(size, **REAL_NET).eval().save(folder / "dcgan", {"role": "dcgan", "bench": "untrained"})
    return folder


def describe(models, source: str) -> dict:
    g = models.generators["dcgan"]
    cfg = g.net.config
    return {
        "source": source,
        "family": "dcgan",
        "size": g.size,
        "nz": cfg["nz"],
        "ngf": cfg["ngf"],
        "embed": cfg["embed"],
        "conditional": g.conditional,
        "parameters": sum(p.numel() for p in g.net.parameters()),
    }


def in_process(models, rounds: int) -> dict:
    """One call with 32 seeds against 32 calls with one seed each, interleaved over `rounds` rounds (2 batch calls,
    32 single calls a round). The ratio is 32 x the median single call / the median batch call: the median keeps
    the stalls a shared CPU gives a 2-thread OpenMP pass out of the figure; the sums are reported beside it."""
    seeds = list(range(IN_PROCESS_BATCH))
    models.generate(seeds, "dcgan")  # warm-up
    models.generate(seeds[:1], "dcgan")
    batch, single, sums = [], [], []
    for _ in range(rounds):
        for _ in range(2):
            t0 = time.perf_counter()
            out = models.generate(seeds, "dcgan")
            batch.append(time.perf_counter() - t0)
            assert len(out) == IN_PROCESS_BATCH
        row = []
        for s in seeds:
            t0 = time.perf_counter()
            models.generate([s], "dcgan")
            row.append(time.perf_counter() - t0)
        single += row
        sums.append(sum(row))
    b, one = statistics.median(batch), statistics.median(single)
    return {
        "batch_of_32_ms": round(1000 * b, 1),
        "single_call_ms": round(1000 * one, 2),
        "32_calls_of_1_ms": round(1000 * IN_PROCESS_BATCH * one, 1),
        "images_per_s_batched": round(IN_PROCESS_BATCH / b, 1),
        "images_per_s_single": round(1 / one, 1),
        "ratio": round(IN_PROCESS_BATCH * one / b, 3),
        "rounds": rounds,
        "batch_calls_ms": [round(1000 * x, 1) for x in batch],
        "32_calls_of_1_sum_ms_per_round": [round(1000 * x, 1) for x in sums],
        "ratio_of_sums": round(statistics.median(sums) / b, 3),
    }


class CpuMeter:
    """CPU the rest of the machine used meanwhile (cores): all busy time (/proc/stat) less this bench's and its
    servers' own. Near 0 on a quiet machine; the figures of a cell that shared the CPU are worth less."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.t0, self.busy0, self.mine0 = time.monotonic(), self._busy(), self._mine()

    @staticmethod
    def _busy() -> int:
        f = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(f) - f[3] - f[4]  # less idle and iowait

    def _mine(self) -> int:
        total = 0
        for pid in [os.getpid(), *self.pids]:
            try:
                f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(f[11]) + int(f[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
        return total

    def others_cores(self) -> float:
        ticks = (self._busy() - self.busy0) - (self._mine() - self.mine0)
        return round(max(0, ticks) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - self.t0), 2)


# --- the servers ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # in the child, before exec: SIGTERM when the bench dies, even by SIGKILL
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Server:
    def __init__(self, root: Path, window_ms: float, log: Path, threads: int | None = None):
        self.root, self.window_ms, self.port, self.log_path = root, window_ms, free_port(), log
        self.cmd = [sys.executable, "-m", "serve", "--root", str(root), "--port", str(self.port),
                    "--batch-window-ms", f"{window_ms:g}"]  # fmt: skip
        self.log = open(log, "wb")  # noqa: SIM115 (closed in stop)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None  # None: the server's defaults
        self.proc = subprocess.Popen(
            self.cmd, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )

    def wait_healthy(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server {self.cmd} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                doc = json.loads(resp.read())
                conn.close()
                if resp.status == 200 and doc.get("status") == "ok":
                    return doc
                raise RuntimeError(f"server {self.cmd}: /healthz says {doc}")
            except (OSError, http.client.HTTPException):
                time.sleep(0.2)
        raise RuntimeError(f"server {self.cmd}: not healthy after {timeout:.0f} s:\n{self.tail()}")

    def status(self, field: str) -> int:
        """A /proc/<pid>/status field: VmRSS in kB, Threads."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def rss_mb(self) -> float:
        return self.status("VmRSS") / 1024

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_bytes()[-3000:].decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


# --- the clients ----------------------------------------------------------------------------------------------------


def _body(seed: int) -> bytes:
    return json.dumps({"count": 1, "seed": seed, "family": "dcgan"}).encode()


def check_response(port: int, size: int) -> None:
    """One request: a 200 with one PNG of `size` px (the server serves the network this bench means)."""
    from PIL import Image

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/api/generate", _body(0), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"port {port}: POST /api/generate -> {resp.status}: {data[:500]!r}")
    doc = json.loads(data)
    img = Image.open(io.BytesIO(base64.b64decode(doc["images"][0]["png"])))
    if len(doc["images"]) != 1 or img.size != (size, size):
        raise RuntimeError(f"port {port}: expected one {size} px image, got {len(doc['images'])} of {img.size}")


def _client(port: int, index: int, stop_at: float, done: list, errors: list) -> None:
    """Loop requests on one keep-alive connection until stop_at; (start, end) of each success into done."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    seed = index * SEED_STRIDE
    while time.perf_counter() < stop_at:
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/api/generate", _body(seed), {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status == 200:
                done.append((t0, time.perf_counter()))
            else:
                errors.append(f"{resp.status}: {data[:200]!r}")
        except (OSError, http.client.HTTPException) as err:
            errors.append(f"{type(err).__name__}: {err}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            time.sleep(0.05)
        seed += 1
    conn.close()


def load(port: int, clients: int, warmup: float, seconds: float, tick=None) -> dict:
    """`clients` threads for warmup + seconds; figures of the requests that end in the timed span.
    `tick(t)` is called about every second meanwhile (the soak samples memory with it)."""
    done: list[tuple[float, float]] = []
    errors: list[str] = []
    start = time.perf_counter()
    t_from, t_to = start + warmup, start + warmup + seconds
    threads = [
        threading.Thread(target=_client, args=(port, i, t_to, done, errors), daemon=True) for i in range(clients)
    ]
    for t in threads:
        t.start()
    if tick is not None:
        next_tick = start
        while time.perf_counter() < t_to:
            tick(time.perf_counter() - start)
            next_tick += 1.0
            time.sleep(max(0.0, min(next_tick, t_to) - time.perf_counter()))
        tick(time.perf_counter() - start)
    for t in threads:
        t.join()
    timed = sorted(e - s for s, e in done if t_from <= e <= t_to)
    if not timed:
        raise RuntimeError(f"port {port}, {clients} clients: no request completed; errors: {errors[:3]}")

    def pct(q: float) -> float:
        return round(1000 * timed[min(len(timed) - 1, int(q * len(timed)))], 2)

    return {
        "clients": clients,
        "requests": len(timed),
        "seconds": seconds,
        "images_per_s": round(len(timed) / seconds, 2),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "mean_ms": round(1000 * statistics.fmean(timed), 2),
        "errors": len(errors),
        "first_errors": errors[:3],
    }


def soak(server: Server, clients: int, seconds: float) -> dict:
    samples: list[tuple[float, float]] = []
    cpu = CpuMeter([server.proc.pid])
    cell = load(server.port, clients, 0.0, seconds, tick=lambda t: samples.append((round(t, 2), server.rss_mb())))
    rss = [m for _, m in samples]
    half = [(t, m) for t, m in samples if t >= seconds / 2]
    # the trend (least squares) over the second half: RSS swings by the batch in flight, so two samples are noisy
    tm, mm = statistics.fmean(t for t, _ in half), statistics.fmean(m for _, m in half)
    den = sum((t - tm) ** 2 for t, _ in half)
    slope = sum((t - tm) * (m - mm) for t, m in half) / den if den else 0.0
    grow = slope * (half[-1][0] - half[0][0])
    return {
        "size": None,  # filled by the caller
        "clients": clients,
        "seconds": seconds,
        "window_ms": server.window_ms,
        "rss_mb_start": round(rss[0], 1),
        "rss_mb_end": round(rss[-1], 1),
        "rss_mb_max": round(max(rss), 1),
        "rss_mb_median_second_half": round(statistics.median(m for _, m in half), 1),
        "growth_second_half_mb": round(grow, 1),
        "growth_second_half_pct": round(100 * grow / half[0][1], 2),
        "growth_second_half_how": "least-squares trend of the 1 s samples over the second half, times its length",
        "growth_second_half_endpoints_mb": round(half[-1][1] - half[0][1], 1),
        "other_cpu_cores": cpu.others_cores(),
        "samples": [[t, round(m, 1)] for t, m in samples],
        "images_per_s": cell["images_per_s"],
        "requests": cell["requests"],
        "p50_ms": cell["p50_ms"],
        "p99_ms": cell["p99_ms"],
        "errors": cell["errors"],
    }


# --- the run --------------------------------------------------------------------------------------------------------


def table(result: dict) -> str:
    lines = [f"{'size':>5} {'clients':>7}  {'batching':<12} {'img/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'requests':>8} {'errors':>6} {'others':>6}  {'ratio':>6}"]  # fmt: skip
    for c in result["cells"]:
        label = f"on ({c['window_ms']:g} ms)" if c["window_ms"] else "off (0 ms)"
        ratio = result["ratio_batching_vs_off"][str(c["size"])][str(c["clients"])] if c["window_ms"] else None
        lines.append(
            f"{c['size']:>5} {c['clients']:>7}  {label:<12} {c['images_per_s']:>8.1f} {c['p50_ms']:>8.1f} "
            f"{c['p99_ms']:>8.1f} {c['requests']:>8} {c['errors']:>6} {c['other_cpu_cores']:>6.2f}  "
            + (f"{ratio:>5.2f}x" if ratio else "")
        )
    lines.append("")
    for size, ip in result["in_process"].items():
        lines.append(
            f"in-process {size} px: 32 seeds in one call {ip['batch_of_32_ms']:.0f} ms, one seed "
            f"{ip['single_call_ms']:.1f} ms (medians): ratio {ip['ratio']:.2f}x; the HTTP server keeps "
            f"{result['kept_share'][size]:.0%} of the gain" if result["kept_share"][size] is not None else
            f"in-process {size} px: ratio {ip['ratio']:.2f}x (no gain to keep)"
        )  # fmt: skip
    t = result["target"]
    lines.append(f"target: {t['clients']} clients at {t['size']} px, batching / off = {t['ratio']:.2f}x "
                 f"(at least {t['min_ratio']}x: {'met' if t['met'] else 'NOT met'})")  # fmt: skip
    s = result["soak"]
    lines.append(
        f"soak: {s['clients']} clients, {s['seconds']:g} s at {s['size']} px, {s['images_per_s']:.1f} img/s, "
        f"{s['errors']} errors; RSS start {s['rss_mb_start']:.1f} MB, end {s['rss_mb_end']:.1f} MB, max "
        f"{s['rss_mb_max']:.1f} MB, second half {s['growth_second_half_mb']:+.1f} MB "
        f"({s['growth_second_half_pct']:+.2f}%, trend; {s['growth_second_half_endpoints_mb']:+.1f} MB end to end); "
        f"other CPU {s['other_cpu_cores']:.2f} cores"
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny networks, 1 s a cell, clients 1 and 8, a 5 s soak")
    ap.add_argument("--seconds", type=float, help="timed seconds per cell (default 10; quick 1)")
    ap.add_argument("--warmup", type=float, help="untimed seconds of load before each cell (default 2; quick 0.25)")
    ap.add_argument("--clients", type=int, nargs="+", help="client counts (default 1 8 32; quick 1 8)")
    ap.add_argument("--window-ms", type=float, default=10.0, help="the batching server's window (the default 10)")
    ap.add_argument("--soak-seconds", type=float, help="default 60; quick 5")
    ap.add_argument("--soak-clients", type=int, help="default: the largest client count")
    ap.add_argument("--rounds", type=int, help="in-process rounds (default 5; quick 2)")
    ap.add_argument(
        "--threads",
        type=int,
        help="torch threads of the servers (OMP_NUM_THREADS) and of the in-process "
        "figures; default: the server's own default (left alone, as deployed)",
    )
    ap.add_argument("--deploy", default=str(REPO / "data" / "deploy"), help="the real bundles, used when they fit")
    ap.add_argument("--workdir", help="where the built deploy folders and server logs go (default: a temp dir)")
    ap.add_argument("--out", help="default bench/results/serve-cpu-<machine kind>.json")
    args = ap.parse_args()
    q = args.quick
    seconds = args.seconds or (1.0 if q else 10.0)
    warmup = args.warmup if args.warmup is not None else (0.25 if q else 2.0)
    clients = args.clients or ([1, 8] if q else [1, 8, 32])
    soak_seconds = args.soak_seconds or (5.0 if q else 60.0)
    soak_clients = args.soak_clients or max(clients)
    rounds = args.rounds or (2 if q else 5)
    if args.window_ms <= 0:
        ap.error("--window-ms is the batching server's window: above 0 (the baseline is always 0)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally below stops the servers

    import torch

    from serve.bundles import Models

    if args.threads:
        torch.set_num_threads(args.threads)

    load_start = [round(x, 2) for x in os.getloadavg()]
    own = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="bench-serve-")) if own else Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    servers: list[Server] = []
    try:
        deploy = Path(args.deploy)
        real = None if q else deployed_size(deploy)
        roots, networks, models = {}, {}, {}
        for size in SIZES:
            if size == real:
                roots[size], source = deploy, f"deployed: {deploy}"
            else:
                roots[size] = build_deploy(work / f"deploy-{size}", size, tiny=q)
                source = "tiny: tests/serve/tiny.py" if q else "built here: untrained, the gpu profile's width"
            models[size] = Models.load(roots[size])
            networks[str(size)] = describe(models[size], source)
        pairs = {size: (Server(roots[size], 0.0, work / f"server-{size}-off.log", args.threads),
                        Server(roots[size], args.window_ms, work / f"server-{size}-on.log", args.threads))
                 for size in SIZES}  # fmt: skip
        servers = [s for p in pairs.values() for s in p]
        for s in servers:
            s.wait_healthy(180)
        for size, pair in pairs.items():
            for s in pair:
                check_response(s.port, size)
        started_rss = {f"{size}-{'on' if s.window_ms else 'off'}": round(s.rss_mb(), 1)
                       for size, p in pairs.items() for s in p}  # fmt: skip
        server_threads = servers[0].status("Threads")
        print("servers up: " + ", ".join(f"{' '.join(s.cmd[3:])}" for s in servers), flush=True)

        inproc = {}
        for size in SIZES:
            cpu = CpuMeter([x.proc.pid for x in servers])
            inproc[str(size)] = {**in_process(models[size], rounds), "other_cpu_cores": cpu.others_cores()}
            print(f"in-process {size} px: ratio {inproc[str(size)]['ratio']:.2f}x", flush=True)
        models.clear()

        cells = []
        for size, (off, on) in pairs.items():
            for n in clients:
                for s in (off, on):
                    cpu = CpuMeter([x.proc.pid for x in servers])
                    cell = {"size": size, "window_ms": s.window_ms, **load(s.port, n, warmup, seconds)}
                    cell["other_cpu_cores"] = cpu.others_cores()
                    cells.append(cell)
                    print(f"{size} px, {n:>2} clients, window {s.window_ms:>4g} ms: {cell['images_per_s']:7.1f} img/s, "
                          f"p50 {cell['p50_ms']:7.1f} ms, p99 {cell['p99_ms']:7.1f} ms, {cell['errors']} errors, "
                          f"other CPU {cell['other_cpu_cores']:.2f} cores",
                          flush=True)  # fmt: skip
        after_cells_rss = {f"{size}-{'on' if s.window_ms else 'off'}": round(s.rss_mb(), 1)
                           for size, p in pairs.items() for s in p}  # fmt: skip

        size0 = SIZES[0]
        for s in pairs[SIZES[1]]:  # the soak has the machine to itself
            s.stop()
        pairs[size0][0].stop()
        soaked = soak(pairs[size0][1], soak_clients, soak_seconds)
        soaked["size"] = size0
        print(f"soak: RSS {soaked['rss_mb_start']} -> {soaked['rss_mb_end']} MB", flush=True)
    finally:
        for s in servers:
            s.stop()
        if own:
            shutil.rmtree(work, ignore_errors=True)

    def cell(size: int, n: int, on: bool) -> dict:
        return next(c for c in cells if c["size"] == size and c["clients"] == n and bool(c["window_ms"]) == on)

    throughput = {str(z): {b: {str(n): cell(z, n, b == "on")["images_per_s"] for n in clients} for b in ("off", "on")}
                  for z in SIZES}  # fmt: skip
    ratios = {str(z): {str(n): round(cell(z, n, True)["images_per_s"] / cell(z, n, False)["images_per_s"], 3)
                       for n in clients} for z in SIZES}  # fmt: skip
    top = max(clients)
    kept = {}
    for z in SIZES:
        gain = inproc[str(z)]["ratio"] - 1
        kept[str(z)] = round((ratios[str(z)][str(top)] - 1) / gain, 3) if gain > 0 else None
    result = {
        "bench": "serve",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "device": "cpu",
        "cpu": platform.processor() or platform.machine(),
        "machine_kind": machine.kind(),  # the instruction set and vendor pick torch's kernels: each times differently
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_threads_source": f"--threads {args.threads} (OMP_NUM_THREADS of the servers)" if args.threads
        else "the default (the servers' too: they run in the same environment)",
        "torch": torch.__version__,
        "server_threads": server_threads,
        "loadavg_1_5_15_min": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()],
                               "note": "the machine's load: the CPU is shared with whatever else runs"},
        "quick": q,
        "settings": {"seconds_per_cell": seconds, "warmup_s": warmup, "clients": clients, "window_ms": args.window_ms,
                     "baseline_window_ms": 0, "max_batch": 64, "request": {"count": 1, "family": "dcgan"},
                     "soak_seconds": soak_seconds, "soak_clients": soak_clients, "in_process_rounds": rounds},
        "deployed_dcgan_size": deployed_size(Path(args.deploy)),  # used for a row of its size (not with --quick)
        "networks": networks,
        "latency_1_client_ms": {str(z): {b: {k: cell(z, 1, b == "on")[k] for k in ("p50_ms", "p99_ms")}
                                         for b in ("off", "on")} for z in SIZES} if 1 in clients else None,
        "throughput_images_per_s": throughput,
        "ratio_batching_vs_off": ratios,
        "target": {"size": SIZES[0], "clients": top, "ratio": ratios[str(SIZES[0])][str(top)], "min_ratio": 1.5,
                   "met": ratios[str(SIZES[0])][str(top)] >= 1.5},
        "in_process": inproc,
        "kept_share": kept,
        "kept_share_formula": f"(HTTP ratio at {top} clients - 1) / (in-process ratio at 32 seeds - 1)",
        "soak": soaked,
        "server_rss_mb": {"after_start": started_rss, "after_cells": after_cells_rss},
        "cells": cells,
    }  # fmt: skip
    print()
    print(table(result))
    out = Path(args.out) if args.out else default_out()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
