"""Run a module as `python -m <module>` would, recording which steps of the adversarial engine this process ran.

    python -m tests.models.engine.steps_probe OUT.json models.dcgan.train --data ... --out ...

Every `models.engine.gan.train` call in the process appends one record to OUT.json (rewritten as each call returns):
`steps`, the indices of the steps whose batch this process drew (in order); `g_updates`, how many times the
generator's optimizer stepped; `steps_done`, what the engine reported. A run resumed from a checkpoint at step k of
n shows `steps == list(range(k, n))` and `g_updates == n - k`; a run that ignored its checkpoint shows every step.
Nothing else changes: the wrapped functions return what the originals do, so the weights are the same bytes.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

from models.engine import gan


def main() -> None:
    out, module, args = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    calls: list[dict] = []
    train, data_order = gan.train, gan.data_order

    def probed_train(task, config, **kw):
        steps: list[int] = []
        updates: list[int] = []

        def probed_order(rows: int, seed: int, step: int, batch: int):
            if seed == config.seed:  # the training batches (the diversity reference draws from seed + 2)
                steps.append(step)
            return data_order(rows, seed, step, batch)

        hook = task.opt_g.register_step_post_hook(lambda *_: updates.append(1))
        gan.data_order = probed_order
        try:
            result = train(task, config, **kw)
        finally:
            gan.data_order = data_order
            hook.remove()
        calls.append({"steps": steps, "g_updates": len(updates), "steps_done": result.steps_done})
        out.write_text(json.dumps(calls))
        return result

    gan.train = probed_train
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
