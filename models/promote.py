"""The one place that moves registry aliases (`champion`, `challenger`, and the tagger's `extractor` and `judge`).

    python -m models.promote anime-posenet 3 --why "better on real sketches"   # version 3 becomes champion
    python -m models.promote anime-posenet --rollback --why "3 fails on real sketches"   # back to the one before
    python -m models.promote anime-tagger 5 --alias judge
    python -m models.promote anime-dcgan --show                    # the aliases and their history

Every move is recorded on the version it points to: tags `alias/<alias>/by` (who: $USER, or the stage that called),
`alias/<alias>/why` and `alias/<alias>/previous` (the version the alias pointed to before, so a roll back is one
command). The evaluate stage (stages/evaluate.py) moves `champion` and `challenger` by the policy of
models/evaluate/policy.py; the tagger stage moves `judge` and `challenger`, the pose stage `challenger`; a person
moves any of them here. A move made here is also appended to `promotions.json` (committed; a DVC dependency of the
deploy stage), so the next `dvc repro` serves the new champion, and a `dvc repro` with nothing changed deploys
nothing. The `extractor` alias is not offered here: `python -m stages.extractor --move` moves it and re-scores what
used it.
"""

from __future__ import annotations

import argparse
import getpass
import json
from datetime import UTC, datetime
from pathlib import Path

from core import tracking
from core.atomic import write_json
from core.errors import BadInput, run_main

ALIASES = ("champion", "challenger", "extractor", "judge")
PROMOTIONS = Path("promotions.json")  # the moves made by hand, in order: a dependency of the deploy stage


def read_moves(path: Path) -> dict:
    """promotions.json ({"moves": [...]}, oldest first); a missing file is an empty record, a broken one an error."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"moves": []}
        if not isinstance(doc, dict) or not isinstance(doc.get("moves"), list):
            raise TypeError('expected {"moves": [...]}')
    except (OSError, ValueError, TypeError) as err:
        raise BadInput(f"{path}: not a record of promotions ({err}); restore it from git") from None
    return doc


def record_move(path: Path, doc: dict, model: str, alias: str, version: str, previous: str | None, why: str) -> None:
    """Append a move made by hand to `doc` (read_moves of `path`) and write it to `path` atomically."""
    doc["moves"].append(
        {
            "model": model,
            "alias": alias,
            "version": str(version),
            "previous": previous,
            "by": getpass.getuser(),
            "why": why or "-",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    write_json(path, doc)


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


def rollback(name: str, alias: str, why: str, by: str | None = None) -> tuple[str, str]:
    """Point `alias` back at the version it pointed to before its last move; returns (from, to)."""
    _, client = tracking.connect()
    current = tracking.alias_version(name, alias)
    if current is None:
        raise BadInput(f"{name} has no alias {alias!r}: nothing to roll back")
    before = client.get_model_version(name, current).tags.get(f"alias/{alias}/previous", "-")
    if before == "-":
        raise BadInput(f"{name} @{alias} (version {current}) records no previous version; promote one by number")
    promote(name, before, alias, f"roll back from {current}: {why or '-'}", by)
    return current, before


def history(name: str) -> list[str]:
    """One line per version that carries an alias record: who moved which alias to it, why, from where."""
    _, client = tracking.connect()
    lines = []
    holders = {alias: tracking.alias_version(name, alias) for alias in ALIASES}
    for mv in sorted(client.search_model_versions(f"name='{name}'"), key=lambda m: int(m.version)):
        for alias in ALIASES:
            by = mv.tags.get(f"alias/{alias}/by")
            if by:
                now = " (now)" if holders[alias] == str(mv.version) else ""
                lines.append(
                    f"v{mv.version} @{alias}{now}: by {by}, from {mv.tags.get(f'alias/{alias}/previous', '-')}: "
                    f"{mv.tags.get(f'alias/{alias}/why', '-')}"
                )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="registered model, e.g. anime-posenet")
    ap.add_argument("version", nargs="?", help="the version the alias moves to")
    ap.add_argument("--alias", default="champion", choices=[a for a in ALIASES if a != "extractor"])
    ap.add_argument("--why", default="", help="the reason, recorded on the version")
    ap.add_argument("--rollback", action="store_true", help="move the alias back to the version before")
    ap.add_argument("--show", action="store_true", help="print who moved which alias where, and why")
    ap.add_argument(
        "--record", type=Path, default=PROMOTIONS, help="where the move is appended (the deploy stage depends on it)"
    )
    args = ap.parse_args()
    if args.show:
        print("\n".join(history(args.model)) or f"promote: {args.model} has no alias records")
        return
    record = read_moves(args.record)  # before anything moves: a broken record stops the command first
    if args.rollback:
        was, now = rollback(args.model, args.alias, args.why)
        record_move(args.record, record, args.model, args.alias, now, was, f"roll back: {args.why or '-'}")
        print(f"promote: {args.model} @{args.alias} rolled back -> version {now} (was {was}); `dvc repro` serves it")
        return
    if args.version is None:
        raise BadInput("give a version to promote, or --rollback, or --show")
    previous = promote(args.model, args.version, args.alias, args.why)
    record_move(args.record, record, args.model, args.alias, args.version, previous, args.why)
    print(
        f"promote: {args.model} @{args.alias} -> version {args.version} (was {previous or 'unset'}); "
        "`dvc repro` serves it"
    )


if __name__ == "__main__":
    run_main(main, "promote")
