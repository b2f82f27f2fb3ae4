"""The one record of a training run that every family keeps beside its scores (metrics/<family>.json, the registry).

    run_record(result, seconds, size)   # {size, steps_done | epochs_done, stopped_by_budget, watchdog, train_dtype, train_seconds}

`result` is what trained: the adversarial engine's `GanResult` (`steps_done`, `stopped_by_budget`, `watchdog`: the
reason the failure watchdog fired, None when quiet; `train_dtype`: bf16 or fp32, params' `amp` on this device), the loop's `LoopResult` (`epochs_done`, `stopped_by_budget`), or
None for a fit that is neither (the tagger's linear baseline: `train_seconds` alone). `seconds` is the training as
the family timed it; `size` the image side, when the family records one. `keys` keeps only those keys, in that
order, for the records that have always kept fewer or kept them in another order (SRGAN's candidates, DCGAN's
transfer, posenet). The registered version is not part of it: it comes from registering the figures that hold it.
tools/results.py turns it into the results tables' run lines ("1,000 steps at 32 px in 5 min 2 s; stopped by its
budget: no; watchdog: quiet").
"""

from __future__ import annotations


def run_record(result, seconds: float, size: int | None = None, keys: tuple[str, ...] | None = None) -> dict:
    """size (when given), steps_done (engine) or epochs_done (loop), stopped_by_budget, watchdog and train_dtype
    (engine), train_seconds; `keys`: only these, in this order."""
    out: dict = {}
    if size is not None:
        out["size"] = size
    if result is not None:
        if hasattr(result, "steps_done"):
            out["steps_done"] = result.steps_done
        else:
            out["epochs_done"] = result.epochs_done
        out["stopped_by_budget"] = result.stopped_by_budget
        if hasattr(result, "watchdog"):
            out["watchdog"] = result.watchdog
        if hasattr(result, "train_dtype"):  # the engine's: "bf16" (autocast) or "fp32" (`precision` is a GAN figure)
            out["train_dtype"] = result.train_dtype
    out["train_seconds"] = seconds
    return out if keys is None else {k: out[k] for k in keys}
