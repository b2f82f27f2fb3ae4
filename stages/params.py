"""Stage `params`: validate params.yaml (every profile) and write the active profile's resolved values.

    python -m stages.params            # writes data/params/<section>.json

Each stage depends on the resolved sections it reads (not on raw params.yaml keys), so a change to the gpu profile
does not re-run a cpu pipeline, while a change that reaches the active profile re-runs exactly what reads it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.atomic import write_json
from core.errors import run_main
from core.params import load_params

OUT = Path("data/params")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    params = load_params(args.params)
    out = Path(args.out)
    for name, value in params.model_dump(mode="json").items():
        write_json(out / f"{name}.json", value)
    print(f"params: profile {params.profile}, {len(type(params).model_fields)} sections -> {out}/")


if __name__ == "__main__":
    run_main(main, "params")
