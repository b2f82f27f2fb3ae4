"""Which version of a registered model is the champion: one primary metric per model, read on validation, with
tie-breaks in order; a candidate replaces the champion only when it is strictly better, so equal or worse never
moves the alias. Test figures are reported beside, never used to choose.

| model             | primary (validation)  | tie-breaks                 |
| ----------------- | --------------------- | -------------------------- |
| anime-tagger      | macro_f1, higher      | -                          |
| anime-posenet     | pck_0_05, higher      | -                          |
| anime-dcgan       | fd_tagger, lower      | precision, recall (higher) |
| anime-stylegan    | fd_tagger, lower      | precision, recall (higher) |
| anime-sr          | psnr_db, higher       | ssim (higher)              |
| anime-srgan       | fd_tagger, lower      | psnr_db (higher)           |
| anime-pose2sketch | pck_0_05, higher      | l1 (lower), ssim (higher)  |

Champions are compared within one profile and resolution: a champion trained under another profile or at another
size is not comparable (its figures are on other data), so the candidate does not replace it automatically; the
stage says so and a person decides with `python -m models.promote`.
"""

from __future__ import annotations

from dataclasses import dataclass

# (metric, higher_is_better)
Key = tuple[str, bool]

RULES: dict[str, list[Key]] = {
    "anime-tagger": [("macro_f1", True)],
    "anime-posenet": [("pck_0_05", True)],
    "anime-dcgan": [("fd_tagger", False), ("precision", True), ("recall", True)],
    "anime-stylegan": [("fd_tagger", False), ("precision", True), ("recall", True)],
    "anime-sr": [("psnr_db", True), ("ssim", True)],
    "anime-srgan": [("fd_tagger", False), ("psnr_db", True)],
    "anime-pose2sketch": [("pck_0_05", True), ("l1", False), ("ssim", True)],
}
# a difference below this is a tie (figures are rounded to 4 decimals in metrics files)
TOLERANCE = 1e-4


@dataclass
class Decision:
    winner: str  # "candidate" or "champion"
    reason: str


def compare(model: str, candidate: dict, champion: dict) -> tuple[int, str]:
    """(+1 when the candidate's validation figures are better, -1 when worse, 0 when every key ties; the metric
    that decided, "" on a tie)."""
    for metric, higher in RULES[model]:
        a, b = candidate.get(metric), champion.get(metric)
        if a is None or b is None:
            raise KeyError(f"{model}: metric {metric!r} missing from the scores")
        if abs(a - b) <= TOLERANCE:
            continue
        return (1 if (a > b) == higher else -1), metric
    return 0, ""


def decide(model: str, candidate: dict | None, champion: dict | None, comparable: str = "") -> Decision:
    """Who holds `champion` after this run. `candidate`/`champion`: validation figures (None: no such version);
    `comparable`: "" when both were trained under the same profile and size, else why not."""
    if candidate is None:
        return Decision("champion", "no candidate this run")
    if champion is None:
        return Decision("candidate", "no champion yet")
    if comparable:
        return Decision("champion", f"not comparable ({comparable}); promote by hand if wanted")
    verdict, metric = compare(model, candidate, champion)
    if verdict == 0:
        return Decision("champion", f"a tie on validation {RULES[model][0][0]} and every tie-break: the champion stays")
    higher = dict(RULES[model])[metric]
    way = "higher" if higher else "lower"
    a, b = candidate[metric], champion[metric]
    tie = "" if metric == RULES[model][0][0] else f" (tie on {RULES[model][0][0]})"
    return Decision(
        "candidate" if verdict > 0 else "champion",
        f"validation {metric}{tie}: candidate {a:.4f}, champion {b:.4f} ({way} is better)",
    )
