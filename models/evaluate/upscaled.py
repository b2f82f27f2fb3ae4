"""The upscaler as the page uses it (`sr_on_generated` in comparison.json and metrics/evaluate.json, and
docs/sr_on_generated.png): the served generator's characters through the champion of anime-sr."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.evaluate import scorers


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
    from models.dcgan.conditions import ConditionPrior
    from models.dcgan.family import sampler

    if gen == "anime-dcgan":
        from models.dcgan.net import Generator

        G = Generator.load(folder)
    else:
        from models.stylegan.conditional import load_generator

        G = load_generator(folder)
    cond = folder / "conditions.safetensors"
    if G.conditional or gen == "anime-dcgan":
        small = sampler(G, ConditionPrior.load(cond) if cond.exists() else None)(n, None, seed)
    else:  # a StyleGAN version of the unconditional route
        from models.stylegan.task import sampler as w_sampler

        small = w_sampler(G)(n, None, seed)
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
