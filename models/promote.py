"""The one place that moves registry aliases (`champion`, `challenger`, and the tagger's `extractor` and `judge`).

    python -m models.promote anime-posenet 3                       # version 3 becomes champion
    python -m models.promote anime-posenet 2 --why "roll back: 3 fails on real sketches"
    python -m models.promote anime-tagger 5 --alias judge

Every move is recorded on the version it points to: tags `alias/<alias>/by` (who: $USER, or the stage that called),
`alias/<alias>/why` and `alias/<alias>/previous` (the version the alias pointed to before, so a roll back is one
command). The stages call `promote` for now; the evaluate stage becomes its caller for `champion` (issue 16). The
`extractor` alias is not offered here: `python -m stages.extractor --move` moves it and re-scores what used it.
"""

from __future__ import annotations

import argparse
import getpass

from core import tracking
from core.errors import BadInput, run_main

ALIASES = ("champion", "challenger", "extractor", "judge")


def promote(name: str, version: str, alias: str = "champion", why: str = "", by: str | None = None) -> str | None:
    """Point `alias` of registered model `name` at `version`; returns the version it pointed to before (or None)."""
    if alias not in ALIASES:
        raise BadInput(f"alias {alias!r}: expected one of {', '.join(ALIASES)}")
    mlflow, client = tracking.connect()
    try:
        client.get_model_version(name, str(version))
    except mlflow.exceptions.MlflowException:
        raise BadInput(f"{name} has no version {version}") from None
    previous = tracking.alias_version(name, alias)
    client.set_registered_model_alias(name, alias, str(version))
    record = {"by": by or getpass.getuser(), "why": why or "-", "previous": previous or "-"}
    for k, v in record.items():
        client.set_model_version_tag(name, str(version), f"alias/{alias}/{k}", v[:5000])
    return previous


def promote_if_absent(name: str, version: str, alias: str, why: str, by: str) -> bool:
    """Give `alias` to `version` only when the model has no such alias yet (a first model becomes champion)."""
    if tracking.alias_version(name, alias) is not None:
        return False
    promote(name, version, alias, why, by)
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="registered model, e.g. anime-posenet")
    ap.add_argument("version")
    ap.add_argument("--alias", default="champion", choices=[a for a in ALIASES if a != "extractor"])
    ap.add_argument("--why", default="", help="the reason, recorded on the version")
    args = ap.parse_args()
    previous = promote(args.model, args.version, args.alias, args.why)
    print(f"promote: {args.model} @{args.alias} -> version {args.version} (was {previous or 'unset'})")


if __name__ == "__main__":
    run_main(main, "promote")
