"""A bounded soak of the service on loopback with mixed endpoints: what the artist's page sends, many clients at once.

    .venv/bin/python bench/serve_soak.py                  # 64 clients, 120 s: bench/results/serve-soak-<machine>.json
    .venv/bin/python bench/serve_soak.py --quick --out /tmp/soak.json     # tiny networks, 8 clients, 6 s (the test)
    .venv/bin/python bench/serve_soak.py --runs 5        # five soaks, each on a fresh server: the trend's mean ± std

One real server (`python -m serve`, the default micro-batching window and queue) over a deploy folder built as
bench/serve.py builds it (the DCGAN generator at the gpu profile's 64 px width, the rest tests/serve/tiny.py's
bundles; --quick: all tiny). Each client is a thread with one keep-alive connection that loops over the mixed
requests in turn, starting at its own offset: POST /api/generate {count 1..4}, the same with `upscale`, POST
/api/tag (a PNG upload), POST /api/sketch (11 joints), POST /api/upscale (a PNG upload). Reported per endpoint:
requests, status counts, p50 / p99 latency of the 200s; 503s are counted apart with whether they carried
Retry-After (a full queue is an answer, not a failure); 500, 502 and 504 are failures, and so is any connection
error. The server's RSS is sampled every second; the trend over the second half (least squares, MB a minute) is the
memory figure: flat means under 1 MB a minute. Nothing is asserted here: the test runs --quick and checks the
shape; the figures go to the docs from the result file.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import io
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import machine  # noqa: E402


def _serve_bench():
    """bench/serve.py (its Server and build_deploy), loaded by path: its module name would shadow the service's."""
    spec = importlib.util.spec_from_file_location("bench_serve", Path(__file__).resolve().parent / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_serve = _serve_bench()
Server, build_deploy = bench_serve.Server, bench_serve.build_deploy

JOINTS = [[32, 8], [32, 16], [26, 18], [38, 18], [20, 30], [44, 30], [32, 34], [28, 46], [36, 46], [27, 58], [37, 58]]
FAILURES = (500, 502, 504)


def _png(seed: int, size: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((size, size, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "soak0boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def requests_mix() -> list[tuple[str, str, bytes, str]]:
    """(endpoint label, path, body, content type), the rotation every client loops over."""
    tag_body, tag_type = _multipart("t.png", _png(1, 64))
    up_body, up_type = _multipart("u.png", _png(2, 32))
    js = "application/json"
    return [
        ("generate", "/api/generate", json.dumps({"count": 2, "seed": 5, "family": "dcgan"}).encode(), js),
        ("generate+upscale", "/api/generate", json.dumps({"count": 1, "seed": 9, "upscale": True}).encode(), js),
        ("tag", "/api/tag", tag_body, tag_type),
        ("sketch", "/api/sketch", json.dumps({"joints": JOINTS}).encode(), js),
        ("upload+upscale", "/api/upscale", up_body, up_type),
    ]


def _client(port: int, index: int, stop_at: float, mix: list, out: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    k = index
    while time.perf_counter() < stop_at:
        label, path, body, ctype = mix[k % len(mix)]
        k += 1
        t0 = time.perf_counter()
        try:
            conn.request("POST", path, body, {"Content-Type": ctype})
            resp = conn.getresponse()
            resp.read()
            out.append((label, resp.status, time.perf_counter() - t0, resp.getheader("Retry-After")))
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        except (OSError, http.client.HTTPException) as err:
            out.append((label, f"{type(err).__name__}", time.perf_counter() - t0, None))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            time.sleep(0.05)
    conn.close()


def soak(server: Server, clients: int, seconds: float, only: list[str] | None = None) -> dict:
    mix = [m for m in requests_mix() if not only or m[0] in only]
    out: list = []
    samples: list[tuple[float, float]] = []
    start = time.perf_counter()
    stop_at = start + seconds
    threads = [threading.Thread(target=_client, args=(server.port, i, stop_at, mix, out), daemon=True)
               for i in range(clients)]  # fmt: skip
    for t in threads:
        t.start()
    while time.perf_counter() < stop_at:
        samples.append((round(time.perf_counter() - start, 2), server.rss_mb()))
        time.sleep(1.0)
    for t in threads:
        t.join()
    samples.append((round(time.perf_counter() - start, 2), server.rss_mb()))
    endpoints = {}
    for label, *_ in mix:
        rows = [r for r in out if r[0] == label]
        ok = sorted(r[2] for r in rows if r[1] == 200)
        statuses: dict[str, int] = {}
        for r in rows:
            statuses[str(r[1])] = statuses.get(str(r[1]), 0) + 1

        def pct(q: float, ok=ok) -> float | None:
            return round(1000 * ok[min(len(ok) - 1, int(q * len(ok)))], 1) if ok else None

        endpoints[label] = {
            "requests": len(rows),
            "statuses": statuses,
            "busy_503": sum(r[1] == 503 for r in rows),
            "busy_503_with_retry_after": sum(r[1] == 503 and r[3] is not None for r in rows),
            "failures": sum(r[1] in FAILURES or isinstance(r[1], str) for r in rows),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
        }
    half = [(t, m) for t, m in samples if t >= seconds / 2]
    tm, mm = statistics.fmean(t for t, _ in half), statistics.fmean(m for _, m in half)
    den = sum((t - tm) ** 2 for t, _ in half)
    slope = sum((t - tm) * (m - mm) for t, m in half) / den if den else 0.0  # MB a second
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(out),
        "failures": sum(e["failures"] for e in endpoints.values()),
        "busy_503": sum(e["busy_503"] for e in endpoints.values()),
        "endpoints": endpoints,
        "rss_mb_start": round(samples[0][1], 1),
        "rss_mb_end": round(samples[-1][1], 1),
        "rss_mb_max": round(max(m for _, m in samples), 1),
        "rss_trend_second_half_mb_per_min": round(60 * slope, 2),
        "rss_trend_how": "least-squares slope of the 1 s samples over the second half",
        "samples": [[t, round(m, 1)] for t, m in samples],
    }


def repeated(results: list[dict]) -> dict:
    """The first soak's result; with more than one, each run's totals and trend (`runs`) and the trend's mean and
    sample standard deviation over them."""
    result = dict(results[0])
    if len(results) > 1:
        trends = [r["rss_trend_second_half_mb_per_min"] for r in results]
        keep = ("requests", "failures", "busy_503", "rss_mb_start", "rss_mb_end", "rss_mb_max")
        result["runs"] = [{k: r[k] for k in keep} | {"rss_trend_second_half_mb_per_min": t, "samples": r["samples"]}
                          for r, t in zip(results, trends, strict=True)]  # fmt: skip
        result["rss_trend_mean_mb_per_min"] = round(statistics.fmean(trends), 2)
        result["rss_trend_std_mb_per_min"] = round(statistics.stdev(trends), 2)
        result["failures_all_runs"] = sum(r["failures"] for r in results)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny networks, 8 clients, 6 s")
    ap.add_argument("--clients", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--only", nargs="+", help="these request kinds only (to find which one a figure comes from)")
    ap.add_argument("--runs", type=int, default=1, help="soaks one after another, each on a fresh server: the "
                    "trend's mean and spread over them (one 60 s slope scatters by a few MB a minute)")  # fmt: skip
    ap.add_argument("--out")
    args = ap.parse_args()
    clients = args.clients or (8 if args.quick else 64)
    seconds = args.seconds or (6.0 if args.quick else 120.0)
    kind = machine.kind()
    results = []
    with tempfile.TemporaryDirectory(prefix="serve-soak-") as td:
        root = build_deploy(Path(td) / "deploy", 64, tiny=args.quick)
        for run in range(max(1, args.runs)):
            server = Server(root, 10.0, Path(td) / f"server-{run}.log")
            try:
                server.wait_healthy(120)
                results.append(soak(server, clients, seconds, args.only))
            finally:
                server.stop()
    result = repeated(results)
    result.update(
        only=args.only,
        machine=kind,
        quick=args.quick,
        date=time.strftime("%Y-%m-%d"),
        server="python -m serve (defaults)",
    )
    out = Path(
        args.out or Path(__file__).parent / "results" / f"serve-soak-{'quick' if args.quick else 'cpu'}-{kind}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{result['requests']} requests, {result['failures']} failures, {result['busy_503']} busy 503s")
    for label, e in result["endpoints"].items():
        print(f"  {label:<17} {e['requests']:>6}  p50 {e['p50_ms']} ms  p99 {e['p99_ms']} ms  {e['statuses']}")
    print(f"RSS {result['rss_mb_start']} -> {result['rss_mb_end']} MB (max {result['rss_mb_max']}), "
          f"second-half trend {result['rss_trend_second_half_mb_per_min']} MB/min; written to {out}")  # fmt: skip
    if "runs" in result:
        print(f"{len(result['runs'])} runs: trend {result['rss_trend_mean_mb_per_min']} ± "
              f"{result['rss_trend_std_mb_per_min']} MB/min, {result['failures_all_runs']} failures in all")  # fmt: skip


if __name__ == "__main__":
    main()
