"""What the evaluate stage reports: comparison.md, metrics/evaluate.json (`dvc_metrics`), and each model's
`evaluate` run in MLflow with `versions.md`, the table of every registered version's recorded figures."""

from __future__ import annotations

from core import tracking
from core.params import Params
from models.evaluate import policy


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


def log_to_mlflow(params: Params, model: str, experiment: str, r: dict, inputs: list[str]) -> None:
    """The model's `evaluate-<model>` run in its family's MLflow `experiment`: both versions' figures, the decision."""
    import mlflow

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
