"""Stage `evaluate`: score this run's candidates beside the registry's champions, choose, promote, report.

    python -m stages.evaluate      # data/evaluate/ (comparison.json/.md, plots/), metrics/evaluate.json

For every registered model (anime-tagger, anime-posenet, anime-dcgan, anime-stylegan, anime-sr, anime-srgan,
anime-pose2sketch): the version this `dvc repro` trained (read from its stage's metrics file) and the version holding
`champion` are downloaded from the registry and scored by the same scorer (models/evaluate/scorers.py) on the same
validation and test data, sample count, seed and pinned extractor. models/evaluate/policy.py chooses on validation
(one primary metric per model, tie-breaks in order; never a worse model); models/promote.py moves `champion` to the
winner and `challenger` to the runner-up, recording who (`stage evaluate`) and why on the version.

The generator served by default is the better champion of anime-dcgan and anime-stylegan by validation fd_tagger
when both are at the same size (`serving.generator` in comparison.json). Its characters go through the anime-sr
champion as the page shows them (`sr_on_generated`: the extractor's agreement per group between the native and the
upscaled image, and docs/sr_on_generated.png).

In MLflow, each model gets an `evaluate` run in its family's experiment: the candidate's figures under the training
runs' names (`val_fd_tagger`, `fd_tagger`, ...), the champion's under `champion/...`, the decision as tags, and
`versions.md`, the table of every registered version's recorded figures (the registry's history is not a DVC
input, so it lives there, not in the DVC metrics). The DVC metrics (metrics/evaluate.json) describe this run.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import tempfile
from pathlib import Path

import numpy as np

from core import tracking
from core.atomic import atomic_path, write_bytes, write_json
from core.errors import BadInput, run_main
from core.names import JOINTS
from core.params import Params, load_params
from models.evaluate import policy, scorers
from models.promote import promote
from models.tagger.extractor import PIN, load_extractor
from stages.train import PATHS, png, rounded

OUT = Path("data/evaluate")
METRICS = Path("metrics/evaluate.json")
SR_SHEET = Path("docs/sr_on_generated.png")  # the served generator's characters, native / bicubic / anime-sr
# model -> (its stage's metrics file, the keys to this run's version in it, MLflow experiment)
CANDIDATES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "anime-tagger": ("metrics/tagger.json", ("tagger", "chosen_version"), "tagger"),
    "anime-posenet": ("metrics/pose.json", ("pose", "posenet", "version"), "posenet"),
    "anime-dcgan": ("metrics/dcgan.json", ("dcgan", "dcgan", "version"), "dcgan"),
    "anime-stylegan": ("metrics/stylegan.json", ("stylegan", "stylegan", "version"), "stylegan"),
    "anime-sr": ("metrics/sr.json", ("sr", "sr", "version"), "sr"),
    "anime-srgan": ("metrics/sr.json", ("sr", "srgan", "version"), "sr"),
    "anime-pose2sketch": ("metrics/pose2sketch.json", ("pose2sketch", "pose2sketch", "version"), "pose2sketch"),
}
GENERATORS = ("anime-dcgan", "anime-stylegan")


def candidate_version(model: str, root: Path = Path(".")) -> str | None:
    """The version of `model` this run trained, from its stage's metrics file (None: that stage has not run)."""
    file, keys, _ = CANDIDATES[model]
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


def evaluate_model(model: str, ctx: scorers.Context, tmp: Path) -> dict | None:
    """Score the candidate and the champion of `model`, decide, move the aliases; the record of comparison.json."""
    cand_v = candidate_version(model)
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


def _champion_folder(r: dict) -> str:
    """The downloaded bundle of the version that holds `champion` after this run's decision."""
    who = r["candidate"] if r["champion"] == r["candidate"]["version"] else r["champion_before"]
    return who["folder"]


SHEET_ROWS = 8


def sr_on_generated(records: dict, serving: dict, ctx: scorers.Context) -> tuple[dict | None, np.ndarray | None]:
    """The upscaler as the page uses it: the served generator's characters (its native size, fixed seeds, psi 1)
    through the champion of anime-sr. No true large image exists, so the figure is agreement: per attribute group,
    the share of characters the pinned extractor reads the same at native size and upscaled. Also the contact
    sheet: native (nearest), bicubic and anime-sr, one row per character."""
    from models.sr.net import SrNet
    from models.sr.train import bicubic, upscale
    from synth.sheet import tile

    gen, sr = serving.get("generator"), records.get("anime-sr")
    if gen is None or sr is None:
        return None, None
    folder = Path(_champion_folder(records[gen]))
    n, seed = ctx.params.sr.samples, ctx.params.seed + 31
    if gen == "anime-dcgan":
        from models.dcgan.conditions import ConditionPrior
        from models.dcgan.family import sampler
        from models.dcgan.net import Generator

        cond = folder / "conditions.safetensors"
        small = sampler(Generator.load(folder), ConditionPrior.load(cond) if cond.exists() else None)(n, None, seed)
    else:
        from models.stylegan.net import Generator
        from models.stylegan.task import sampler

        small = sampler(Generator.load(folder))(n, None, seed)
    net = SrNet.load(_champion_folder(sr))
    scale = ctx.params.sr.scale
    big = upscale(net, small)
    _, read_small = ctx.extractor.read(small)
    _, read_big = ctx.extractor.read(big)
    by_group = {g: float(np.mean(read_small[g] == read_big[g])) for g in read_small}
    figures = {
        "generator": f"{gen}/{records[gen]['champion']}",
        "upscaler": f"anime-sr/{sr['champion']}",
        "images": n,
        "size": int(small.shape[1]),
        "upscaled_size": int(big.shape[1]),
        "tag_agreement": float(np.mean(list(by_group.values()))),
        "tag_agreement_by_group": by_group,
    }
    rows = small[:SHEET_ROWS]
    nearest = np.repeat(np.repeat(rows, scale, axis=1), scale, axis=2)
    sheet = tile(
        np.stack([nearest, bicubic(rows, scale), big[:SHEET_ROWS]], axis=1).reshape(-1, *big.shape[1:]), cols=3, pad=2
    )
    return figures, sheet


def versions_table(model: str) -> list[dict]:
    """Every registered version of `model`: its role, size, profile, aliases and recorded primary figures."""
    _, client = tracking.connect()
    primary = policy.RULES[model][0][0]
    holders = {a: tracking.alias_version(model, a) for a in ("champion", "challenger")}
    rows = []
    for mv in sorted(client.search_model_versions(f"name='{model}'"), key=lambda m: int(m.version)):
        m = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
        rows.append(
            {
                "version": int(mv.version),
                "role": mv.tags.get("role", ""),
                "size": mv.tags.get("size", ""),
                "profile": mv.tags.get("profile", ""),
                "aliases": ",".join(a for a in ("champion", "challenger") if holders[a] == str(mv.version)),
                f"val_{primary}": m.get(f"val_{primary}"),
                primary: m.get(primary),
            }
        )
    return rows


def markdown(rows: list[dict]) -> str:
    if not rows:
        return "(none)\n"
    cols = list(rows[0])
    fmt = [
        " | ".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c] if r[c] is not None else "-") for c in cols)
        for r in rows
    ]
    return "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n" + "".join(f"| {f} |\n" for f in fmt)


def _cell(x: dict | None, p: str) -> str:
    return f"v{x['version']}: {x['val'][p]:.4f} / {x['test'][p]:.4f}" if x else "-"


def comparison_markdown(records: dict, serving: dict) -> str:
    lines = ["# Candidates against champions (validation chooses; test beside)", ""]
    lines.append(
        "| model | primary | candidate (val / test) | champion before (val / test) | decision | champion now |"
    )
    lines.append("|---|---|---|---|---|---|")
    for model, r in records.items():
        p = r["primary"]
        c, b = r["candidate"], r["champion_before"]
        arrow = "lower" if not r["higher_is_better"] else "higher"
        lines.append(
            f"| {model} | {p} ({arrow} is better) | {_cell(c, p)} | {_cell(b, p)} | {r['decision']}: {r['reason']} | "
            f"v{r['champion']} |"
        )
    lines += ["", f"Served generator: {serving['generator']} ({serving['why']}).", ""]
    return "\n".join(lines)


def _csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    path.write_text(buf.getvalue())


LOSS_FILES = {  # model -> the file of its loss curves in plots/ (dvc.yaml `plots:` names them)
    "anime-dcgan": "loss_dcgan.csv",
    "anime-stylegan": "loss_stylegan.csv",
    "anime-srgan": "loss_srgan.csv",
    "anime-pose2sketch": "loss_pose2sketch.csv",
    "anime-tagger": "loss_tagger.csv",
    "anime-posenet": "loss_posenet.csv",
}


def loss_curves(run_id: str) -> list[dict]:
    """The run's loss histories, one row per step: {"step", "loss_g", "loss_d"} or {"step", "train_loss"}."""
    _, client = tracking.connect()
    keys = [k for k in client.get_run(run_id).data.metrics if k in ("loss_g", "loss_d", "train_loss")]
    rows: dict[int, dict] = {}
    for k in sorted(keys):
        for m in client.get_metric_history(run_id, k):
            rows.setdefault(m.step, {"step": m.step})[k] = round(m.value, 6)
    return [rows[s] for s in sorted(rows)]


def write_plots(records: dict, folder: Path, ctx: scorers.Context) -> None:
    """The files `dvc plots show` reads (dvc.yaml `plots:`): loss and learning curves of this run's candidates,
    candidate against champion, every registered version, the tagger's precision-recall curve and posenet's error
    per joint."""
    folder.mkdir(parents=True, exist_ok=True)
    comp, versions = [], []
    for model, r in records.items():
        if model in LOSS_FILES and r["candidate"]["run_id"]:
            _csv(folder / LOSS_FILES[model], loss_curves(r["candidate"]["run_id"]))
        p = r["primary"]
        for who, x in (("candidate", r["candidate"]), ("champion", r["champion_before"])):
            if x:
                comp.append({"label": f"{model} {who} v{x['version']} ({p})", "val_primary": round(x["val"][p], 4)})
        for row in versions_table(model):
            if row[f"val_{p}"] is not None:
                label = f"{model} v{row['version']} {row['role']} ({p})"
                versions.append({"label": label, "val_primary": round(row[f"val_{p}"], 4)})
    _csv(folder / "comparison.csv", comp)
    _csv(folder / "versions.csv", versions)
    if "anime-tagger" in records:
        _csv(folder / "tagger_pr.csv", tagger_pr(ctx, records["anime-tagger"]["candidate"]))
    if "anime-posenet" in records:
        _csv(folder / "pose_joint_error.csv", joint_error(ctx))


def tagger_pr(ctx: scorers.Context, cand: dict) -> list[dict]:
    """Micro-averaged one-vs-rest precision-recall curve of the candidate tagger on validation (every tag)."""
    from sklearn.metrics import precision_recall_curve

    from core.names import GROUPS
    from models.tagger.baseline import LinearTagger
    from models.tagger.net import TaggerNet, predict_proba

    folder = Path(cand["folder"])
    cfg = json.loads((folder / "config.json").read_text())
    x, y = ctx.tagger_split(cand["size"], "val")
    probs = (
        LinearTagger.load(folder).probabilities(x)
        if cfg.get("kind") == "hog-colour-logreg"
        else predict_proba(TaggerNet.load(folder), x)
    )
    truth, score = [], []
    for k, g in enumerate(GROUPS):
        known = y[:, k] >= 0
        onehot = np.eye(probs[g].shape[1], dtype=bool)[y[known, k]]
        truth.append(onehot.ravel())
        score.append(probs[g][known].ravel())
    prec, rec, _ = precision_recall_curve(np.concatenate(truth), np.concatenate(score))
    keep = np.unique(np.linspace(0, len(prec) - 1, min(200, len(prec))).astype(int))
    return [{"recall": round(float(rec[i]), 4), "precision": round(float(prec[i]), 4)} for i in keep]


def joint_error(ctx: scorers.Context) -> list[dict]:
    """Mean pixel error per joint of the posenet in data/pose on the validation stick figures."""
    from models.pose.net import PoseNet, predict

    net = PoseNet.load(ctx.paths["posenet"])
    rows = []
    x, y = ctx.poses.split("val", "stick")
    err = np.linalg.norm(predict(net, x) - y, axis=-1).mean(axis=0)
    rows += [{"joint": j, "error_px": round(float(e), 3)} for j, e in zip(JOINTS, err, strict=True)]
    return rows


def log_to_mlflow(params: Params, model: str, r: dict, inputs: list[str]) -> None:
    import mlflow

    experiment = CANDIDATES[model][2]
    with tracking.start_run(experiment, params, "evaluate", [], inputs, run_name=f"evaluate-{model}"):
        mlflow.set_tags(
            {
                "role": "evaluate",
                "model": model,
                "decision": r["decision"],
                "reason": r["reason"][:5000],
                "candidate_version": r["candidate"]["version"],
                "champion_version": str(r["champion"]),
            }
        )
        c = r["candidate"]
        tracking.log_metrics({**{f"val_{k}": v for k, v in c["val"].items()}, **c["test"]})
        if r["champion_before"]:
            b = r["champion_before"]
            tracking.log_metrics(
                {
                    **{f"champion/val_{k}": v for k, v in b["val"].items()},
                    **{f"champion/{k}": v for k, v in b["test"].items()},
                }
            )
        mlflow.log_text(markdown(versions_table(model)), "versions.md")


def run(params: Params, out: Path, models: list[str] | None = None, pin: str = PIN) -> dict:
    tracking.preflight()
    try:
        extractor = load_extractor(pin)
    except FileNotFoundError as err:
        raise BadInput(str(err)) from None
    ctx = scorers.Context(params, PATHS, extractor)
    inputs = [str(PATHS[k]) for k in ("data", "labels", "render", "posenet")]
    records: dict = {}
    with tempfile.TemporaryDirectory() as td, atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        for model in models or list(CANDIDATES):
            r = evaluate_model(model, ctx, Path(td))
            if r is None:
                print(f"evaluate: {model}: no candidate (its stage has not run); skipped")
                continue
            records[model] = r
        for model, r in records.items():  # after every choice: the tables show the aliases as they now are
            log_to_mlflow(params, model, r, inputs)
        serving = serving_generator(records)
        upscaled, sheet = sr_on_generated(records, serving, ctx)
        write_plots(records, tmp / "plots", ctx)  # reads the candidates' downloaded bundles (the PR curve)
        for r in records.values():
            for who in ("candidate", "champion_before"):
                if r[who]:
                    r[who].pop("folder", None)  # a temporary download
        doc = rounded(
            {
                "models": records,
                "serving": serving,
                "sr_on_generated": upscaled,
                "extractor_version": extractor.version,
                "profile": params.profile,
            }
        )
        write_json(tmp / "comparison.json", doc)
        (tmp / "comparison.md").write_text(comparison_markdown(records, serving))
    if sheet is not None:
        write_bytes(SR_SHEET, png(sheet))
    return doc


def dvc_metrics(doc: dict) -> dict:
    """metrics/evaluate.json: per model the candidate's and the champion's validation primary figure and who won."""
    out = {}
    for model, r in doc["models"].items():
        p = r["primary"]
        champ = r["candidate"] if r["decision"] == "candidate" or r["champion_before"] is None else r["champion_before"]
        out[model] = {
            "primary": p,
            f"candidate_val_{p}": r["candidate"]["val"][p],
            f"candidate_{p}": r["candidate"]["test"][p],
            f"champion_val_{p}": champ["val"][p],
            f"champion_{p}": champ["test"][p],
            "candidate_version": int(r["candidate"]["version"]),
            "champion_version": int(r["champion"]),
            "promoted": r["decision"] == "candidate",
        }
    extra = {"sr_on_generated": doc["sr_on_generated"]} if doc.get("sr_on_generated") else {}
    return {"evaluate": {**out, "serving_generator": doc["serving"]["generator"], **extra}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--metrics", default=str(METRICS))
    ap.add_argument("--model", action="append", choices=list(CANDIDATES), help="only these (repeatable)")
    args = ap.parse_args()
    doc = run(load_params(args.params), Path(args.out), args.model)
    write_json(args.metrics, dvc_metrics(doc))
    for model, r in doc["models"].items():
        print(
            f"evaluate: {model}: candidate v{r['candidate']['version']}, champion v{r['champion']} ({r['decision']}: {r['reason']})"
        )
    print(f"evaluate: served generator {doc['serving']['generator']} ({doc['serving']['why']})")


if __name__ == "__main__":
    run_main(main, "evaluate")
