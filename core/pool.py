"""The one way this project starts worker processes.

Workers come from a fork server, never a plain fork: a fork of a parent whose OpenCV, torch or BLAS thread pools are
already running can inherit a held lock and hang forever (seen here: the cascade detector, then a pool). The fork
server is a clean single-threaded process started once, so workers still start in milliseconds.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def process_pool(workers: int, preload: list[str] | None = None) -> ProcessPoolExecutor:
    """`preload`: modules the fork server imports once, so that each worker starts with them loaded (only the first
    pool of a process sets them: the server is started once)."""
    ctx = multiprocessing.get_context("forkserver")
    if preload:
        ctx.set_forkserver_preload(preload)
    return ProcessPoolExecutor(workers, mp_context=ctx)


def start_server(preload: list[str]) -> None:
    """Start the fork server now, importing `preload` in the background, so that it is ready by the time the first
    pool asks for a worker (a stage calls this first thing; it saves the server's start-up, about 0.4 s).

    (Each worker also runs the program's main module again as `__mp_main__`; preloading that module itself would
    make runpy warn, so only the work's modules are preloaded.)"""
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(preload)
    forkserver.ensure_running()
