"""Stage `deploy`: export each family's champion as a serving bundle, smoke-test it, tell a running server.

    python -m stages.deploy        # data/deploy/<family>/ + data/deploy/deployed.json
    python -m models.promote anime-dcgan 3 --why "roll back" && python -m stages.deploy   # serve another version

For every model the evaluate stage scored, the version holding `champion` in the registry now (normally the one
evaluate chose; a person may have moved it since with models/promote.py, which this stage reports) is downloaded
into `data/deploy/<family>/` (family = the model name without `anime-`): weights in safetensors, `config.json`, its
arrays (StyleGAN's slider directions, posenet's retrieval index and the 3D-model projections it points at as
`references.npy`), and a model card (`card.json`, `README.md`: metrics on validation and test from the evaluate
stage, lineage tags, training data provenance and licence, the version's date). Discriminators stay in the
registry: serving needs generators only. Then the bundles are loaded in-process (serve/bundles.py) and each
operation runs once, and a server at $ANIME_SERVE_URL (default http://127.0.0.1:8000) is told to reload
(`POST /admin/reload` with $ANIME_ADMIN_TOKEN), or the stage says none runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from core import tracking
from core.atomic import atomic_path, write_json
from core.errors import BadInput, run_main
from core.names import JOINTS
from serve.bundles import DEPLOYED, BundleError, Models

OUT = Path("data/deploy")
EVALUATED = Path("data/evaluate/comparison.json")
INGEST_SUMMARY = Path("data/ingest/summary.json")
RENDER = Path("data/render")
SKIP = ("discriminator.safetensors", "discriminator.json")  # training-only files of a bundle
LINEAGE = ("git_commit", "git_dirty", "profile", "params_digest", "stage", "role", "size")


def _date(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d")


def provenance() -> dict:
    """What the models were trained on: the ingest source and licence, the pose set's origin."""
    try:
        s = json.loads(INGEST_SUMMARY.read_text())
    except (OSError, ValueError) as err:
        raise BadInput(f"{INGEST_SUMMARY}: {err}; run the ingest stage first") from None
    return {
        "images": {
            "source": s.get("source"),
            "licence": s.get("licence"),
            "images": s.get("images"),
            "layout": s.get("layout"),
            "by_split": s.get("images_by_split"),
        },
        "poses": {"source": "rendered by this project (synth/pose, stage render)", "licence": "CC0-1.0"},
    }


def card(model: str, version: str, record: dict | None, mv, prov: dict) -> dict:
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
        "size": int(scored["size"]) if scored else (int(tags["size"]) if tags.get("size", "").isdigit() else None),
    }


def card_markdown(c: dict) -> str:
    lines = [f"# {c['model']} version {c['version']}", "", f"Registered {c['date']} (MLflow run {c['run_id']}).", ""]
    if c["metrics"]:
        lines += ["| metric | validation | test |", "|---|---|---|"]
        for k in sorted(c["metrics"]["val"]):
            lines.append(f"| {k} | {c['metrics']['val'][k]} | {c['metrics']['test'].get(k, '-')} |")
        lines.append("")
    lines += ["Lineage:", ""] + [f"- {k}: {v}" for k, v in c["lineage"].items()] + [""]
    img = c["training_data"]["images"]
    lines += [
        f"Trained on: {img['images']} images from `{img['source']}` ({img['licence']}); poses: "
        f"{c['training_data']['poses']['source']} ({c['training_data']['poses']['licence']}).",
        "",
    ]
    return "\n".join(lines)


def references(folder: Path) -> np.ndarray:
    """The 3D-model projection behind each retrieval-index entry, in index order (grey uint8 [N, S, S])."""
    from synth.pose.poseset import PoseSet

    ids = json.loads((folder / "index.json").read_text())["ids"]
    try:
        ps = PoseSet(RENDER)
    except FileNotFoundError as err:
        raise BadInput(str(err)) from None
    row = {m["id"]: int(m["index"]) for m in ps.meta}
    missing = [i for i in ids if i not in row]
    if missing:
        raise BadInput(
            f"{RENDER}: the pose index names {len(missing)} projections the pose set lacks (e.g. {missing[0]})"
        )
    proj = ps.array("projection")
    return np.stack([np.asarray(proj[row[i]]) for i in ids]) if ids else np.zeros((0, ps.size, ps.size), np.uint8)


def smoke(root: Path) -> dict:
    """Load every bundle as the service does and run each operation once; returns what ran."""
    models = Models.load(root)
    ran = {}
    for f in models.generators:
        img = models.generate([1, 2], family=f)
        ran[f"generate/{f}"] = list(img.shape)
        if models.upscalers:
            up = models.upscale(img[:1], next(iter(models.upscalers)))
            ran["upscale"] = list(up.shape)
    if models.pose2sketch is not None:
        size = int(models.pose2sketch.config["size"])
        t = np.linspace(0.3, 0.7, len(JOINTS))
        out = models.sketch(np.stack([t * size, t[::-1] * size], axis=1))
        ran["sketch"] = list(out["sketch"].shape)
    if models.tagger is not None:
        ran["tag"] = sorted(models.tag(np.full((64, 64, 3), 128, np.uint8)))
    return ran


def reload_server(url: str, token: str | None) -> str:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
            r.read()
    except (urllib.error.URLError, OSError):
        return f"no server answers at {url}; `make serve` serves data/deploy"
    if not token:
        return f"a server runs at {url}: set ANIME_ADMIN_TOKEN to have it reload (or restart it)"
    req = urllib.request.Request(f"{url}/admin/reload", method="POST", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return f"the server at {url} reloaded: {r.read().decode()[:200]}"
    except urllib.error.HTTPError as err:
        return f"the server at {url} refused the reload: HTTP {err.code}"
    except (urllib.error.URLError, OSError) as err:
        return f"the server at {url} did not answer the reload ({err})"


def run(evaluated: Path, out: Path) -> dict:
    try:
        doc = json.loads(evaluated.read_text())
    except (OSError, ValueError) as err:
        raise BadInput(f"{evaluated}: {err}; run the evaluate stage first") from None
    tracking.preflight()
    _, client = tracking.connect()
    prov = provenance()
    deployed: dict = {"families": {}, "generator": None, "profile": doc.get("profile"), "notes": []}
    with tempfile.TemporaryDirectory() as td, atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        for model, record in doc["models"].items():
            family = model.removeprefix("anime-")
            version = tracking.alias_version(model, "champion")
            if version is None:
                raise BadInput(f"{model} has no champion; run the evaluate stage")
            if str(version) != str(record["champion"]):
                deployed["notes"].append(
                    f"{model}: champion is v{version}, moved since evaluate chose v{record['champion']}"
                )
            src = Path(tracking.download_version(model, version, Path(td) / family))
            dst = tmp / family
            dst.mkdir()
            for f in sorted(src.iterdir()):
                if f.is_file() and f.name not in SKIP:
                    shutil.copyfile(f, dst / f.name)
            if family == "posenet":
                np.save(dst / "references.npy", references(dst), allow_pickle=False)
            c = card(model, version, record, client.get_model_version(model, version), prov)
            write_json(dst / "card.json", c)
            (dst / "README.md").write_text(card_markdown(c))
            deployed["families"][family] = {"model": model, "version": str(version), "size": c["size"]}
        gen = doc.get("serving", {}).get("generator")
        deployed["generator"] = gen.removeprefix("anime-") if gen else None
        write_json(tmp / DEPLOYED, deployed)
        try:
            deployed["smoke"] = smoke(tmp)
        except (BundleError, KeyError, ValueError, RuntimeError) as err:
            raise BadInput(f"a deployed bundle failed its smoke test: {err}") from None
        write_json(tmp / DEPLOYED, deployed)
    return deployed


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
