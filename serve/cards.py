"""The model card of a deployed bundle (`card.json` and `README.md` beside the weights): the version's figures on
validation and test as the evaluate stage scored them, its lineage tags, what it was trained on and its licence,
its registration date. Written by the deploy stage (stages/deploy.py); the service shows `card.json`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from core.errors import BadInput

LINEAGE = ("git_commit", "git_dirty", "profile", "params_digest", "stage", "role", "size")


def _date(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d")


def provenance(ingest_summary: Path) -> dict:
    """What the models were trained on: the ingest sources, with each one's images, tagged images and licence (the
    ingest stage's summary.json), and the pose set's origin."""
    try:
        s = json.loads(ingest_summary.read_text())
    except (OSError, ValueError) as err:
        raise BadInput(f"{ingest_summary}: {err}; run the ingest stage first") from None
    return {
        "images": {
            "source": s.get("source"),
            "licence": s.get("licence"),
            "images": s.get("images"),
            "layout": s.get("layout"),
            "by_split": s.get("images_by_split"),
            "by_source": {
                spec: {k: v.get(k) for k in ("images", "tagged", "layout", "licence")}
                for spec, v in (s.get("sources") or {}).items()
                if isinstance(v, dict)
            },
        },
        "poses": {"source": "rendered by this project (synth/pose, stage render)", "licence": "CC0-1.0"},
    }


def card(model: str, version: str, record: dict | None, mv, prov: dict, bundle_size: int | None = None) -> dict:
    """The card of registered `model` version `version` (`mv`: its MLflow ModelVersion); `record`: evaluate's record of
    the model in comparison.json (None or a record that did not score this version: no figures). The size is the one
    evaluate scored, else the version's `size` tag, else `bundle_size` (its bundle's config.json), else None."""
    tags = dict(mv.tags)
    lineage = {k: tags[k] for k in LINEAGE if k in tags}
    lineage.update({k: v for k, v in tags.items() if k.startswith("dvc_md5/")})
    scored = None
    if record:
        for who in ("candidate", "champion_before"):
            x = record.get(who)
            if x and str(x["version"]) == str(version):
                scored = {"val": x["val"], "test": x["test"], "size": x["size"]}
    return {
        "model": model,
        "version": str(version),
        "date": _date(mv.creation_timestamp),
        "run_id": mv.run_id,
        "metrics": scored,  # None: a version evaluate did not score this run (moved by hand since)
        "primary_metric": record.get("primary") if record else None,
        "lineage": lineage,
        "training_data": prov,
        "size": int(scored["size"])
        if scored
        else (int(tags["size"]) if tags.get("size", "").isdigit() else bundle_size),
    }


def card_markdown(c: dict) -> str:
    """The card as the bundle's README.md."""
    lines = [f"# {c['model']} version {c['version']}", "", f"Registered {c['date']} (MLflow run {c['run_id']}).", ""]
    if c["metrics"]:
        lines += ["| metric | validation | test |", "|---|---|---|"]
        for k in sorted(c["metrics"]["val"]):
            lines.append(f"| {k} | {c['metrics']['val'][k]} | {c['metrics']['test'].get(k, '-')} |")
        lines.append("")
    lines += ["Lineage:", ""] + [f"- {k}: {v}" for k, v in c["lineage"].items()] + [""]
    img = c["training_data"]["images"]
    shares = img.get("by_source") or {}
    if len(shares) > 1:
        each = "; ".join(
            f"{v['images']} from `{spec}` ({v['licence']}, {v['tagged']} with tags)" for spec, v in shares.items()
        )
        images = f"{img['images']} images: {each}"
    else:
        images = f"{img['images']} images from `{img['source']}` ({img['licence']})"
    poses = c["training_data"]["poses"]
    lines += [f"Trained on: {images}; poses: {poses['source']} ({poses['licence']}).", ""]
    return "\n".join(lines)
