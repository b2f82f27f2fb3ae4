"""The one way this project starts worker processes.

Workers come from a fork server, never a plain fork: a fork of a parent whose OpenCV, torch or BLAS thread pools are
already running can inherit a held lock and hang forever (seen here: the cascade detector, then a pool). The fork
server is a clean single-threaded process started once, so workers still start in milliseconds.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def process_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))
