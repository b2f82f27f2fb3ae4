"""Stage `deploy`: export each family's champion as a serving bundle, smoke-test it, tell a running server.

    python -m stages.deploy        # data/deploy/<family>/ + data/deploy/deployed.json
    python -m models.promote anime-dcgan 3 --why "roll back" && dvc repro   # serve another version

For every model the evaluate stage scored, the version holding `champion` in the registry now (normally the one
evaluate chose; a person may have moved it since with models/promote.py, which this stage reports, and which records
the move in `promotions.json`, a dependency of this stage, so that `dvc repro` runs it again) is downloaded
into `data/deploy/<family>/` (family = the model name without `anime-`): weights in safetensors, `config.json`, its
arrays (StyleGAN's slider directions, posenet's retrieval index and the 3D-model projections it points at as
`references.npy`), and a model card (`card.json`, `README.md`: metrics on validation and test from the evaluate
stage, lineage tags, training data provenance and licence, the version's date). Discriminators stay in the
registry: serving needs generators only. Then the bundles are loaded in-process (serve/bundles.py) and each
operation runs once, and a server at $ANIME_SERVE_URL (default http://127.0.0.1:8000) is told to reload
(`POST /admin/reload` with $ANIME_ADMIN_TOKEN), or the stage says none runs.

This module reads its inputs and calls serve/deploy.py (export, smoke test, reload) and serve/cards.py (the cards).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from core import tracking
from core.errors import BadInput, run_main
from serve.cards import provenance
from serve.deploy import export, reload_server

OUT = Path("data/deploy")
EVALUATED = Path("data/evaluate/comparison.json")
INGEST_SUMMARY = Path("data/ingest/summary.json")
RENDER = Path("data/render")


def run(evaluated: Path, out: Path) -> dict:
    try:
        doc = json.loads(evaluated.read_text())
    except (OSError, ValueError) as err:
        raise BadInput(f"{evaluated}: {err}; run the evaluate stage first") from None
    tracking.preflight()
    _, client = tracking.connect()
    prov = provenance(INGEST_SUMMARY)
    return export(doc, out, client, prov, RENDER)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--evaluated", default=str(EVALUATED))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--server", default=os.environ.get("ANIME_SERVE_URL", "http://127.0.0.1:8000"))
    args = ap.parse_args()
    d = run(Path(args.evaluated), Path(args.out))
    line = ", ".join(f"{f} v{x['version']}" for f, x in d["families"].items())
    print(f"deploy: {line}; served generator {d['generator']}")
    for n in d["notes"]:
        print(f"deploy: note: {n}")
    print(f"deploy: {reload_server(args.server.rstrip('/'), os.environ.get('ANIME_ADMIN_TOKEN'))}")


if __name__ == "__main__":
    run_main(main, "deploy")
