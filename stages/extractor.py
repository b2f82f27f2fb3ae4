"""Stage `extractor`: the pin of the feature space that fd_tagger, kid_tagger and every tagger-feature score use.

    python -m stages.extractor                               # data/extractor/pin.json (in the DAG, after tagger)
    python -m stages.extractor --move 7 --why "a tagger trained on the labelled set"   # move the pin on purpose

The pin is the registry alias `extractor` of `anime-tagger`, written out as `data/extractor/pin.json` (model,
version, the weights' sha256, feature size, image size) for the stages that score to depend on. In a store without
the alias the stage pins the tagger CNN of the last tagger run; after that, retraining the tagger does not move it
(the stage re-runs, writes the same pin, and nothing downstream re-scores). Figures stay comparable over months.

`--move VERSION` is the one way to move it: the version must be a tagger CNN (`role` cnn or judge: a linear
baseline has no feature space); it moves the alias (models/promote.py records who, why and the previous version),
re-runs this stage (`dvc repro --force --single-item extractor`) and then every stage downstream of the pin (`dvc
repro --downstream extractor`), so whatever was scored with the old extractor is scored again with the new one.
"""

from __future__ import annotations

import argparse
import getpass
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from core import tracking
from core.atomic import atomic_path, write_json
from core.errors import BadInput, run_main
from core.hashing import file_digest
from models.promote import promote, promote_if_absent
from models.tagger.net import MODEL, TaggerNet

REGISTERED = Path("data/tagger/registered.json")  # what the tagger stage registered (in stages/tagger.OUT)

OUT = Path("data/extractor")
ALIAS = "extractor"
FEATURE_ROLES = ("cnn", "judge")


def describe(version: str) -> dict:
    """The pin of registered `anime-tagger` version `version`: model, version, role, weights' sha256, sizes."""
    _, client = tracking.connect()
    role = client.get_model_version(MODEL, version).tags.get("role")
    if role not in FEATURE_ROLES:
        raise BadInput(
            f"{MODEL} version {version} has role {role!r}: only a tagger CNN ({', '.join(FEATURE_ROLES)}) has features"
        )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tracking.download_version(MODEL, version, tmp))
        net = TaggerNet.load(folder)
        digest = file_digest(folder / "model.safetensors")
    return {
        "model": MODEL,
        "version": str(version),
        "role": role,
        "weights_sha256": digest,
        "feature_dim": net.feature_dim,
        "size": int(net.config["size"]),
    }


def run(tagger_dir: Path, out: Path) -> dict:
    """Write the pin: the alias `extractor`, set first to the tagger CNN of `tagger_dir` in a store without one."""
    try:
        registered = json.loads((tagger_dir / REGISTERED.name).read_text())
    except (OSError, ValueError) as err:
        raise BadInput(f"{tagger_dir}/{REGISTERED.name}: {err}; run the tagger stage first") from None
    if tracking.alias_version(MODEL, ALIAS) is None:
        if "cnn" not in registered:  # a pinned linear tagger (models/tagger/pinned.py) has no feature space
            raise BadInput(
                f"{MODEL} has no `{ALIAS}` alias and this tagger run has no CNN to pin as one: pin a tagger CNN "
                "(python -m stages.tagger --pin <version> --why ...) or run the tagger stage on labelled data once"
            )
        promote_if_absent(
            MODEL, str(registered["cnn"]), ALIAS, "the first tagger CNN of this store", by="stage extractor"
        )
    pin = describe(tracking.alias_version(MODEL, ALIAS))
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        write_json(tmp / "pin.json", pin)
    return pin


def move(version: str, why: str, repro: bool = True) -> str | None:
    """Move the pin to `version` and re-score what used the old one; returns the version it pointed to before."""
    if not why.strip():
        raise BadInput("--why is required: say why the feature space of every score changes")
    describe(version)  # a CNN of this store, or exit 2 before anything moves
    previous = promote(MODEL, version, ALIAS, why, by=getpass.getuser())
    if repro:
        for cmd in (
            ["dvc", "repro", "--force", "--single-item", "extractor"],
            ["dvc", "repro", "--downstream", "extractor"],
        ):
            done = subprocess.run([sys.executable, "-m", "dvc", *cmd[1:]], check=False)
            if done.returncode:
                raise BadInput(f"{' '.join(cmd)} failed (exit {done.returncode}); the alias moved: run it again")
    return previous


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tagger", default=str(REGISTERED.parent), help="the tagger stage's output folder")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--move", metavar="VERSION", help="move the pin to this anime-tagger version and re-score")
    ap.add_argument("--why", default="", help="with --move: the reason, recorded on the version")
    ap.add_argument("--no-repro", action="store_true", help="with --move: move the alias only, re-score later")
    args = ap.parse_args()
    tracking.preflight()
    if args.move:
        previous = move(args.move, args.why, repro=not args.no_repro)
        print(f"extractor: {MODEL} @{ALIAS} -> version {args.move} (was {previous or 'unset'})")
        return
    pin = run(Path(args.tagger), Path(args.out))
    print(f"extractor: pinned {MODEL} version {pin['version']} ({pin['role']}, sha256 {pin['weights_sha256'][:12]})")


if __name__ == "__main__":
    run_main(main, "extractor")
