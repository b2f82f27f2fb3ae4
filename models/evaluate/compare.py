"""This run's candidate against the registry's champion, one model at a time: score both with the same scorer
(scorers.py), decide by the policy (policy.py), move `champion` / `challenger` (models/promote.py); and the generator
served by default. Called by the evaluate stage (stages/evaluate.py), which names each model's candidate.
"""

from __future__ import annotations

import json
from pathlib import Path

from core import tracking
from core.errors import BadInput
from models.evaluate import policy, scorers
from models.promote import promote

GENERATORS = ("anime-dcgan", "anime-stylegan")


def candidate_version(file: str, keys: tuple[str, ...], root: Path = Path(".")) -> str | None:
    """The version a stage trained, at `keys` in its metrics file `file` (None: that stage has not run)."""
    try:
        node = json.loads((root / file).read_text())
    except FileNotFoundError:
        return None
    except ValueError as err:
        raise BadInput(f"{file}: not JSON ({err})") from None
    for k in keys:
        if not isinstance(node, dict) or k not in node:
            raise BadInput(f"{file}: no {'.'.join(keys)}; re-run its stage (dvc repro)")
        node = node[k]
    return str(node)


def _version_info(model: str, version: str) -> dict:
    _, client = tracking.connect()
    mv = client.get_model_version(model, version)
    return {
        "version": version,
        "run_id": mv.run_id,
        "profile": mv.tags.get("profile", "?"),
        "role": mv.tags.get("role", ""),
    }


def _comparable(cand: dict, champ: dict) -> str:
    why = []
    if cand["profile"] != champ["profile"]:
        why.append(f"profile {champ['profile']} vs {cand['profile']}")
    if cand["size"] != champ["size"]:
        why.append(f"size {champ['size']} vs {cand['size']}")
    return ", ".join(why)


def evaluate_model(model: str, cand_v: str | None, ctx: scorers.Context, tmp: Path) -> dict | None:
    """Score the candidate `cand_v` (None: its stage has not run, nothing to do) and the champion of `model`, decide,
    move the aliases; the record of comparison.json."""
    if cand_v is None:
        return None
    champ_v = tracking.alias_version(model, "champion")
    scored: dict[str, dict] = {}
    for v in dict.fromkeys(x for x in (cand_v, champ_v) if x is not None):
        folder = Path(tracking.download_version(model, v, tmp / f"{model}-{v}"))
        scored[v] = {**_version_info(model, v), **scorers.score(model, folder, ctx), "folder": str(folder)}
    cand = scored[cand_v]
    champ = scored.get(champ_v) if champ_v is not None else None
    if champ_v == cand_v:
        decision = policy.Decision("champion", "the candidate already holds champion")
    else:
        comparable = _comparable(cand, champ) if champ is not None else ""
        decision = policy.decide(model, cand["val"], champ["val"] if champ else None, comparable)
    if decision.winner == "candidate":
        promote(model, cand_v, "champion", decision.reason, by="stage evaluate")
        if champ_v is not None:
            promote(model, champ_v, "challenger", "the champion it replaced", by="stage evaluate")
    elif champ_v != cand_v:
        promote(model, cand_v, "challenger", decision.reason, by="stage evaluate")
    return {
        "candidate": cand,
        "champion_before": champ,
        "decision": decision.winner,
        "reason": decision.reason,
        "champion": cand_v if decision.winner == "candidate" else champ_v,
        "primary": policy.RULES[model][0][0],
        "higher_is_better": policy.RULES[model][0][1],
    }


def serving_generator(records: dict) -> dict:
    """The generator served by default: the better champion by validation fd_tagger at the same size."""
    have = {m: records[m] for m in GENERATORS if records.get(m)}
    if not have:
        return {"generator": None, "why": "no generator was evaluated"}

    def champ_scores(r: dict) -> dict:
        return r["candidate"] if r["decision"] == "candidate" or r["champion_before"] is None else r["champion_before"]

    scores = {m: champ_scores(r) for m, r in have.items()}
    sizes = {s["size"] for s in scores.values()}
    if len(sizes) > 1:
        best = max(scores, key=lambda m: (scores[m]["size"], m == "anime-stylegan"))
        return {"generator": best, "why": f"the larger size ({scores[best]['size']} px); sizes differ"}
    best = min(scores, key=lambda m: (scores[m]["val"]["fd_tagger"], m))
    line = ", ".join(f"{m} {s['val']['fd_tagger']:.4f}" for m, s in scores.items())
    return {"generator": best, "why": f"lowest validation fd_tagger among the champions ({line})"}
