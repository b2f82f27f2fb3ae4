"""The tagger pin, `tagger.pin.json` (committed, a DVC dependency of the tagger stage): a registered `anime-tagger`
version that auto-tags the images instead of a tagger trained on this run's labels.

    python -m stages.tagger --pin 3 --why "the tagger of the generated set, for the untagged Crypko faces"
    python -m stages.tagger --pin champion --why "..."     # an alias, resolved to its version now
    python -m stages.tagger --unpin --why "the new collection is labelled now"

Collections without tags (Crypko) cannot train a tagger; a tagger trained elsewhere (the built-in set's, or one from
labelled collections) can still tag them. With the pin set, the stage trains nothing: it downloads the pinned version
and the registry's `judge` (the slider test's judge), auto-tags every image with the pinned version's thresholds,
trusts each group's auto-tags from a confidence floor chosen on this run's labelled validation images where there are
any, else from the floor the version recorded when it was trained (models/tagger/evaluate.auto_floors), and scores it
on whatever validation and test labels there are. The pin is a file under version control, so `dvc.lock` records
which tagger tagged the data; moving it re-runs the tagger stage and what follows.
"""

from __future__ import annotations

import getpass
import json
import tempfile
from pathlib import Path

from core import tracking
from core.atomic import write_json
from core.errors import BadInput
from core.names import GROUPS
from models.tagger import evaluate, extra
from models.tagger.net import MODEL

PIN = Path("tagger.pin.json")
ROLES = ("cnn", "judge", "baseline")
JUDGE = "judge"  # the alias the tagger stage moves to its judge CNN


def read_pin(path: Path = PIN) -> dict:
    """The pin: {"version": None} when unset (or the file is absent: a checkout from before pins existed)."""
    if not path.exists():
        return {"version": None}
    try:
        pin = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BadInput(
            f"{path}: not a tagger pin ({err}); rewrite it with python -m stages.tagger --pin/--unpin"
        ) from None
    if not isinstance(pin, dict) or not (pin.get("version") is None or str(pin.get("version", "")).isdigit()):
        raise BadInput(f"{path}: expected {{'version': <a registered version> or null}}, got {pin!r}")
    return pin


def set_pin(target: str | None, why: str, path: Path = PIN) -> dict:
    """Pin `target` (a version number or an alias of anime-tagger, resolved now), or unpin with None; returns the pin."""
    if not why.strip():
        raise BadInput("--why is required: say why the images are tagged by another tagger from now on")
    if target is None:
        pin = {"version": None, "why": why, "by": getpass.getuser()}
    else:
        version = target if target.isdigit() else tracking.alias_version(MODEL, target)
        if version is None:
            raise BadInput(f"{MODEL} has no alias {target!r} in this store; give a version number")
        mlflow, client = tracking.connect()
        try:
            role = client.get_model_version(MODEL, version).tags.get("role")
        except mlflow.exceptions.MlflowException as err:  # the registry's own not-found error names the version
            raise BadInput(f"{MODEL} version {version}: {err.message}") from None
        if role not in ROLES:
            raise BadInput(f"{MODEL} version {version} has role {role!r}, not a tagger ({', '.join(ROLES)})")
        pin = {"model": MODEL, "version": str(version), "role": role, "why": why, "by": getpass.getuser()}
    write_json(path, pin)
    return pin


def _load(folder: Path, role: str):
    """(probabilities function uint8 [N, S, S, 3] -> per group [N, classes], the bundle's config.json)."""
    from models.tagger.baseline import LinearTagger
    from models.tagger.net import TaggerNet, predict_proba

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if role == "baseline":
        model = LinearTagger.load(folder)
        return model.probabilities, config
    net = TaggerNet.load(folder)
    return (lambda x: predict_proba(net, x)), config


def run(params, data: dict, pin: dict, out: Path) -> dict:
    """The stage with a pinned tagger, into `out`: auto-tags, the judge, registered.json, balance.json; the figures."""
    from dataset.shards import read_manifest
    from models.tagger import trust
    from models.tagger.family import auto_figures, every_labelled
    from models.tagger.labels import count_by_origin

    version, role = str(pin["version"]), pin.get("role", "cnn")
    judge = tracking.alias_version(MODEL, JUDGE)
    if judge is None:
        raise BadInput(
            f"{MODEL} has no `{JUDGE}` alias in this store: the generators' slider test needs a judge; run the tagger "
            "stage once on labelled data (the built-in set) or move the alias (python -m models.promote)"
        )
    splits, origins, every, data_dir = data["splits"], data["origins"], data["every"], data["data_dir"]
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        folder = Path(tracking.download_version(MODEL, version, Path(tmp) / "pinned"))
        probabilities, config = _load(folder, role)
        thresholds = config.get("thresholds", {})
        Path(tracking.download_version(MODEL, judge, Path(tmp) / "judge")).rename(out / JUDGE)
        (x_va, y_va), (x_te, y_te) = splits["val"], splits["test"]
        floors = evaluate.auto_floors(probabilities(x_va), y_va, thresholds, params.tagger.auto_min_accuracy)
        recorded = config.get("auto_floors") or {}
        for g in GROUPS:  # no labelled validation image in a group: the floor the version was trained with
            if floors[g]["labelled"] == 0 and g in recorded:
                floors[g] = {**recorded[g], "labelled": 0}
        scored = {}
        for split, (x, y) in (("val", (x_va, y_va)), ("test", (x_te, y_te))):
            if (y >= 0).any():
                scored[split] = evaluate.report(probabilities(x), y, thresholds)
        x_all, y_all = every_labelled(every, data["tags"])
        rows = read_manifest(data_dir)
        model = f"{MODEL}/{version}"
        pred, trusted, by_source = trust.auto_tag(
            params, rows, probabilities(x_all), thresholds, y_all, floors, out, model
        )
    write_json(out / "balance.json", evaluate.balance({s: splits[s][1] for s in splits}))
    extra.write_no_heads(out, [r["id"] for r in rows], data.get("extra", {}))  # a pinned tagger fits no head
    registered = {"model": MODEL, "pinned": version, "judge": judge}
    if role in ("cnn", "judge"):
        registered["cnn"] = version  # what a store without an extractor pins (stages/extractor.py)
    write_json(out / "registered.json", registered)
    figures = {
        "version": version,
        "role": role,
        "macro_f1": scored["test"]["macro_f1"] if "test" in scored else None,
        "val_macro_f1": scored["val"]["macro_f1"] if "val" in scored else None,
        "macro_f1_by_group": scored["test"]["macro_f1_by_group"] if "test" in scored else {},
        "val_macro_f1_by_group": scored["val"]["macro_f1_by_group"] if "val" in scored else {},
        "judge_version": judge,
    }
    return {
        "pinned": figures,
        "chosen": "pinned",
        "data": {
            "val_images": len(x_va),
            "test_images": len(x_te),
            "train_images": len(splits["train"][0]),
            "train_images_by_origin": count_by_origin(origins["train"]),
            "test_images_by_origin": count_by_origin(origins["test"]),
            "auto_tagged": len(rows),
        },
        "auto_tags": auto_figures(params, floors, by_source, rows, data["tags"], pred, trusted, out / "tags_best.csv"),
    }
