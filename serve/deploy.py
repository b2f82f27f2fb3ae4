"""The deploy folder the service serves (data/deploy/), written by the deploy stage (stages/deploy.py).

`export` copies each evaluated model's champion from the registry into `<out>/<family>/` (family = the model name
without `anime-`): weights in safetensors, `config.json`, its arrays (StyleGAN's slider directions, posenet's
retrieval index and the 3D-model projections it points at as `references.npy`) and a model card (serve/cards.py).
Discriminators stay in the registry: serving needs generators only. `smoke` loads the bundles as the service does
(serve/bundles.py) and runs each operation once; `reload_server` tells a running server to load them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from core import tracking
from core.atomic import atomic_path, write_json
from core.errors import BadInput
from core.names import JOINTS
from serve.bundles import DEPLOYED, BundleError, Models, bundle_size
from serve.cards import card, card_markdown

SKIP = ("discriminator.safetensors", "discriminator.json")  # training-only files of a bundle


def references(folder: Path, render: Path) -> np.ndarray:
    """The 3D-model projection behind each retrieval-index entry, in index order (grey uint8 [N, S, S]), from the
    pose sets in `render` (the render stage's output)."""
    from synth.pose.poseset import PoseSet

    ids = json.loads((folder / "index.json").read_text())["ids"]
    try:
        ps = PoseSet(render)
    except FileNotFoundError as err:
        raise BadInput(str(err)) from None
    row = {m["id"]: int(m["index"]) for m in ps.meta}
    missing = [i for i in ids if i not in row]
    if missing:
        raise BadInput(
            f"{render}: the pose index names {len(missing)} projections the pose set lacks (e.g. {missing[0]})"
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


def export(doc: dict, out: Path, client, prov: dict, render: Path) -> dict:
    """Write `out` (atomically) from evaluate's comparison.json `doc`: each model's champion now as a bundle with its
    card, `deployed.json`, then the smoke test (a failure: BadInput, and the previous `out` stays); last, each card
    becomes its version's description in the registry. Returns what deployed.json holds."""
    deployed: dict = {"families": {}, "generator": None, "profile": doc.get("profile"), "notes": []}
    described: list[tuple[str, str, str]] = []
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
                np.save(dst / "references.npy", references(dst, render), allow_pickle=False)
            c = card(model, version, record, client.get_model_version(model, version), prov, bundle_size(dst))
            write_json(dst / "card.json", c)
            (dst / "README.md").write_text(card_markdown(c))
            described.append((model, str(version), card_markdown(c)))
            deployed["families"][family] = {"model": model, "version": str(version), "size": c["size"]}
        gen = doc.get("serving", {}).get("generator")
        deployed["generator"] = gen.removeprefix("anime-") if gen else None
        write_json(tmp / DEPLOYED, deployed)
        try:
            deployed["smoke"] = smoke(tmp)
        except (BundleError, KeyError, ValueError, TypeError, RuntimeError) as err:
            raise BadInput(f"a deployed bundle failed its smoke test: {err}") from None
        write_json(tmp / DEPLOYED, deployed)
    for model, version, text in described:  # served and smoke-tested: the card becomes the version's description
        client.update_model_version(model, version, description=describe(text))
    return deployed


DESCRIPTION_LIMIT = 5000  # characters MLflow's database stores for a version's description


def describe(card_text: str) -> str:
    """The card's Markdown as a registry description, cut at a line within MLflow's limit, saying so."""
    if len(card_text) <= DESCRIPTION_LIMIT:
        return card_text
    note = "\n\n(cut to fit the registry; the whole card is the bundle's README.md)"
    return card_text[: card_text.rfind("\n", 0, DESCRIPTION_LIMIT - len(note))] + note


def reload_server(url: str, token: str | None) -> str:
    """Ask the server at `url` to load the deploy folder again (POST /admin/reload with `token`); what happened."""
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
