"""Exit codes the orchestration relies on, and the one wrapper that maps errors to them.

0 done; 2 bad params or bad input that a retry cannot fix; 75 a transient failure (a service down, or one that went
away mid-run) worth a retry.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_TRANSIENT = 75


class PipelineError(Exception):
    """Base class: the message is written for the user, one line, naming the file/key/value at fault."""

    exit_code = EXIT_BAD_INPUT


class BadInput(PipelineError):
    """Bad params or bad input: retrying cannot fix it."""

    exit_code = EXIT_BAD_INPUT


class Transient(PipelineError):
    """A service is down or busy: worth a retry."""

    exit_code = EXIT_TRANSIENT


_CONNECTION_ERRORS = {"ConnectionError", "ConnectTimeout", "ReadTimeout", "MaxRetryError", "NewConnectionError"}


def unreachable(err: BaseException) -> BaseException | None:
    """The connection failure behind `err` (a service that went away mid-run: refused, reset, timed out), if any.

    Clients wrap these (MLflow raises its own exception from inside the `except` that caught requests' error), so
    the chain of causes and contexts is searched."""
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        root = type(e).__module__.split(".")[0]
        if isinstance(e, ConnectionError) or (
            root in ("requests", "urllib3") and type(e).__name__ in _CONNECTION_ERRORS
        ):
            return e
        e = e.__cause__ or e.__context__
    return None


def run_main(main: Callable[[], None], prog: str) -> None:
    """Run a stage's main and exit with the contract's code; a known error prints one clear line, no traceback."""
    try:
        main()
    except PipelineError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except Exception as err:
        lost = unreachable(err)
        if lost is None:
            raise
        print(
            f"{prog}: error: a service went away mid-run ({type(lost).__name__}: {lost}); retry when it is up",
            file=sys.stderr,
        )
        sys.exit(EXIT_TRANSIENT)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; outputs from the last good run are untouched", file=sys.stderr)
        sys.exit(130)
    sys.exit(EXIT_OK)
