"""`python -m serve` (or `make serve`): the artist's page and the API on 127.0.0.1:8000.

    python -m serve                          # serves data/deploy (the deploy stage's bundles)
    python -m serve --port 8001 --batch-window-ms 0     # another port; micro-batching off
    ANIME_ADMIN_TOKEN=... python -m serve    # enables POST /admin/reload (the deploy stage calls it)

One process, no children: uvicorn stops it on SIGTERM as on Ctrl-C. A deploy folder that is there but broken (a
truncated or corrupt bundle) stops it at once with exit 2 naming the file; a missing one starts it answering 503
until a reload brings models.
"""

from __future__ import annotations

import argparse
import sys


def fixed_mmap_threshold(nbytes: int = 1 << 20) -> bool:
    """Allocations of `nbytes` and more are mmap'd and go back to the system when freed (glibc; elsewhere a no-op).

    glibc raises its mmap threshold each time a large block is freed, after which tensors of a few MB (an upscale's
    activations) come from the heap and stay there, fragmented between request threads: the service's RSS then grew
    by tens of MB a minute under mixed load (bench/serve_soak.py). A fixed threshold keeps them mmap'd."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc and libc.mallopt(-3, nbytes))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def main() -> None:
    import uvicorn

    fixed_mmap_threshold()

    from serve.app import create_app

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--root", default="data/deploy", help="the deploy stage's folder")
    ap.add_argument("--batch-window-ms", type=float, default=10.0, help="micro-batching window; 0 turns it off")
    ap.add_argument("--max-batch", type=int, default=64, help="images in one forward pass at most")
    ap.add_argument("--max-queue", type=int, default=512, help="images waiting at most; more get 503 + Retry-After")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, one per core); 1 keeps a "
                    "busy machine from stalling each forward pass")  # fmt: skip
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from core.errors import BadInput
    from serve.bundles import BundleError

    try:
        app = create_app(args.root, args.batch_window_ms, args.max_batch, max_queue=args.max_queue, strict=True)
    except BundleError as err:
        raise BadInput(f"cannot serve {args.root}: {err}") from None
    if getattr(app.state, "warm_seconds", None) is not None:  # none when no deploy was there to load
        print(f"serve: models warmed in {app.state.warm_seconds:.1f} s", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, workers=1, log_level="warning", timeout_graceful_shutdown=5)


if __name__ == "__main__":
    from core.errors import run_main

    run_main(main, "serve")
