"""How high `control_success` can go under the judge: the renderer of the built-in set as a perfect slider.

    .venv/bin/python -m experiments.slider_ceiling          # after `make pipeline` (needs data/tagger/judge)
    ANIME_MLFLOW_STORE=<clone>/mlruns .venv/bin/python -m experiments.slider_ceiling --data <clone>/data
    -> experiments/results/slider-ceiling-<profile>-<machine kind>.json

`control_success` (models/metrics/generators.slider_moves) asks the judge tagger to read a slider's tag cross while
it reads every other group as before. A generator cannot do better than the world its images come from, and the
built-in set has a world that can: its renderer (synth/faces/render.py) draws the same character in the same view
with exactly one attribute changed (`with_value`, and `render_view`'s `expression` for smile and blush), every other
part drawn from the same random numbers (`render_view(parts=True)`: a stream per part, so that drawing glasses does
not move the bangs or the framing). Those pairs go through the ingest's own resize to the generators' size and
the judge reads them by the generators' rule: the share that succeeds is the figure's **ceiling** with that reader,
at that size. Where a slider's ceiling is under the 0.5 bar, no generator can meet the bar as it is scored.

Characters come from a seed no split uses (`seed` below), one view each, drawn from the set's own prior. Readers:
the judge (data/tagger/judge, which scores the sliders) and the pinned extractor (data/extractor/pin.json), each at
the ingest's sizes it was trained for. Also reported: each reader's accuracy on the unmoved images (the real
attribute is known), and how often each group's reading changes when another group moves.

The result names the judge it read (`judge`: whether it reads each image with its mirror, and its validation
macro-F1 from the same run's metrics/tagger.json, `--metrics`), so that a table built from it can tell a ceiling of
the committed record's judge from one of an earlier record's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import yaml

from core.names import ATTRIBUTES, GROUPS
from core.params import load_params
from dataset.imageio import resize_square
from experiments import ROOT, write_result
from models.metrics.generators import slider_moves, slider_tags
from models.sr.net import SrNet
from models.tagger.extractor import Tagger, load_extractor, load_judge
from synth.faces.render import render_view, sample_character, with_value

EXPRESSION = ("smile", "blush")


def _readings(reader: Tagger, images: np.ndarray) -> np.ndarray:
    """[N, groups] class indices the reader reads."""
    _, read = reader.read(images)
    return np.stack([read[g] for g in GROUPS], axis=1)


def moves() -> list[tuple[str, str, int, float, str]]:
    """(tag, group, class index, sign, the value moved to) of every slider's full moves, as control_success moves."""
    out = []
    for name, group, k in slider_tags():
        two_sided = list(ATTRIBUTES[group]) == ["no", "yes"]
        for sign in (1.0, -1.0) if two_sided else (1.0,):
            out.append((name, group, k, sign, ATTRIBUTES[group][k] if sign > 0 else "no"))
    return out


def pairs(params, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(start images [n, S, S, 3], true classes [n, groups], {"group=value": moved images}): one view per
    character, at the set's render size S."""
    g = params.generated

    def small(image: np.ndarray) -> np.ndarray:
        return image

    chars = [sample_character(np.random.default_rng([seed, 0, i]), g.nuisance) for i in range(n)]
    seqs = [[seed, 1, i, 0] for i in range(n)]
    starts = [
        render_view(c, s, g.render_size, g.supersample, g.nuisance, parts=True)
        for c, s in zip(chars, seqs, strict=True)
    ]
    truth = np.array([[ATTRIBUTES[k].index(attrs[k]) for k in GROUPS] for _, attrs in starts])
    moved: dict[str, np.ndarray] = {}
    for _, group, _, _, value in moves():
        key = f"{group}={value}"
        if key in moved:
            continue
        out = []
        for i, (c, s) in enumerate(zip(chars, seqs, strict=True)):
            if group in EXPRESSION:
                out.append(
                    small(render_view(c, s, g.render_size, g.supersample, g.nuisance, {group: value}, parts=True)[0])
                )
            else:
                c2 = with_value(c, group, value, np.random.default_rng([seed, 2, i, GROUPS.index(group)]), g.nuisance)
                out.append(small(render_view(c2, s, g.render_size, g.supersample, g.nuisance, parts=True)[0]))
        moved[key] = np.stack(out)
    return np.stack([small(im) for im, _ in starts]), truth, moved


def route(name: str, sr=None):
    """images at the render size -> what the reader is shown: `32` (the ingest's resize to 32 px, what a 32 px
    generator makes), `32_sr` (that, then the 4x upscaler: what the page shows), `64` (the resize to 64 px, the
    taggers' own size)."""
    from models.sr.train import upscale

    size = int(name.split("_")[0])

    def show(images: np.ndarray) -> np.ndarray:
        out = np.stack([resize_square(im, size) for im in images])
        return upscale(sr, out) if name.endswith("_sr") else out

    return show


def ceiling(reader: Tagger, starts: np.ndarray, truth: np.ndarray, moved: dict[str, np.ndarray], show) -> dict:
    start = _readings(reader, show(starts))
    ok: dict[str, int] = {}
    counted: dict[str, int] = {}
    changed: dict[str, list[float]] = {g: [] for g in GROUPS}
    for name, group, k, sign, value in moves():
        col = GROUPS.index(group)
        after = _readings(reader, show(moved[f"{group}={value}"]))
        good, n_moves = slider_moves(start, after, col, k, sign)
        ok[name], counted[name] = ok.get(name, 0) + good, counted.get(name, 0) + n_moves
        for j, other in enumerate(GROUPS):
            if j != col:
                changed[other].append(float((after[:, j] != start[:, j]).mean()))
    by_tag = {name: round(ok[name] / counted[name], 4) if counted[name] else 0.0 for name in ok}
    return {
        "ceiling": round(float(np.mean(list(by_tag.values()))), 4),
        "ceiling_by_tag": by_tag,
        "lowest": min(by_tag, key=by_tag.get),
        "accuracy_on_starts": {g: round(float((start[:, i] == truth[:, i]).mean()), 4) for i, g in enumerate(GROUPS)},
        "changed_when_another_group_moves": {g: round(float(np.mean(v)), 4) for g, v in changed.items()},
    }


def judge_identity(judge: Tagger, metrics: Path) -> dict:
    """Which judge a result read: its mirrored read, and its validation macro-F1 as the tagger stage recorded it in
    the same run's metrics (None when that file is not there)."""
    f = metrics / "tagger.json"
    figures = json.loads(f.read_text())["tagger"].get("judge", {}) if f.exists() else {}
    return {"read_flip": bool(judge.flip), "val_macro_f1": figures.get("val_macro_f1")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--n", type=int, help="characters (default: the settings file's)")
    ap.add_argument(
        "--data", default=str(ROOT / "data"), help="the pipeline's outputs (tagger/judge, extractor/pin.json, train/sr)"
    )
    ap.add_argument(
        "--metrics", default=str(ROOT / "metrics"), help="the same run's metrics folder (the judge's figure)"
    )
    ap.add_argument("--out", help="result file (default: experiments/results/slider-ceiling-<profile>-<machine>.json)")
    args = ap.parse_args()
    settings = yaml.safe_load((ROOT / "experiments/slider_ceiling.yaml").read_text())
    n = args.n or settings["n"]
    params = load_params(ROOT / "params.yaml", args.profile)
    data = Path(args.data)
    readers = {
        "judge": load_judge(data / "tagger/judge"),
        "extractor": load_extractor(pinned=str(data / "extractor/pin.json")),
    }
    sr_folder = data / "train/sr" / f"sr-{params.sr.sizes[0]}"
    sr = SrNet.load(sr_folder) if any(r.endswith("_sr") for r in settings["routes"]) else None
    t0 = time.perf_counter()
    starts, truth, moved = pairs(params, n, settings["seed"])
    doc = {
        "what": "control_success of the renderer's own one-attribute changes (a perfect slider), read by each reader",
        "n": n,
        "seed": settings["seed"],
        "render_size": params.generated.render_size,
        "upscaler": str(sr_folder.relative_to(data)) if sr else None,
        "judge": judge_identity(readers["judge"], Path(args.metrics)),
        "routes": {},
    }
    for name in settings["routes"]:
        show = route(name, sr)
        doc["routes"][name] = {}
        for who, reader in readers.items():
            r = {"version": reader.version, **ceiling(reader, starts, truth, moved, show)}
            doc["routes"][name][who] = r
            low = r["lowest"]
            print(f"{name} {who}: ceiling {r['ceiling']}, lowest {low} {r['ceiling_by_tag'][low]}", flush=True)
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    write_result(doc, "slider-ceiling", args.profile, args.out)


if __name__ == "__main__":
    main()
