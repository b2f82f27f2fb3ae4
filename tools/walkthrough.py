"""The artist's page, step by step, in screenshots: what docs/artist.md shows, taken from a real deploy folder.

    .venv/bin/python -m tools.walkthrough                              # data/deploy -> docs/screens/
    .venv/bin/python -m tools.walkthrough --deploy DIR --out DIR

It starts the service (`python -m serve`) on the deploy folder and headless Chromium (tools/browser.py), and goes
through the page as an artist does, with real key presses, mouse and pen strokes and file choices: the first grid;
two sliders moved to their end (a colour and glasses, on the generator the page offers first); a character clicked
(the 4x view and its download); a stick figure drawn with the pen, then one of its joints dragged; a picture of a
stick figure uploaded; the downloaded PNG restored in a fresh page. Every step writes its screenshot, whatever it
shows (uncurated): `NN-<step>.png`. The inputs are fixed (seed 0 on the page, poses drawn from fixed seeds), so a
second run on the same deploy folder gives the same pictures. Both processes are stopped at the end, on an error too.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from core.names import JOINTS
from tools.browser import REPO, Page, chromium, figure_strokes, serving

VIEWPORT = (1400, 2000)  # tall enough for every slider of the attribute panel
STEPS = (
    "01-open", "02-slider-colour", "03-slider-glasses", "04-upscaled", "05-drawn", "06-joint-dragged",
    "07-uploaded", "08-restored",
)  # fmt: skip


def figure(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(joints as posed [11, 2], a hand-drawn-style picture of them uint8 [size, size, 3]) from `seed`: the render
    stage's pose sampler and its held-out drawing style (params.yaml's `render`)."""
    from core.params import load_params
    from synth.pose.drawn import draw_drawn
    from synth.pose.figure import place
    from synth.pose.skeleton import sample_camera, sample_pose

    p = load_params(REPO / "params.yaml").render
    rng = np.random.default_rng(seed)
    pose = sample_pose(rng, str(rng.choice(p.families)))
    xy, _, _ = place(pose, sample_camera(rng, p.max_yaw, p.back_view), size, rng)
    return xy[:11], draw_drawn(xy, size, 2, np.random.default_rng(seed + 1), p.drawn.held_out)


async def _slider_to_end(page: Page, tag: str) -> None:
    n = await page.js("window.generations")
    await page.js(f"document.querySelector('[data-slider=\"{tag}\"]').scrollIntoView({{block: 'center'}})")
    await page.js(f"document.querySelector('[data-slider=\"{tag}\"]').focus()")
    await page.key("End", 35)  # a range input's End key: its maximum
    await page.idle("generations", n)
    await page.js("window.scrollTo(0, 0)")


async def walk(ws_url: str, url: str, out: Path, tmp: Path) -> list[Path]:
    import websockets
    from PIL import Image

    shots: list[Path] = []

    async def shot(page: Page, step: str) -> None:
        assert step in STEPS, step
        shots.append(await page.shot(out / f"{step}.png"))

    async with websockets.connect(ws_url, max_size=None) as ws:
        page = Page(ws)
        await page.open(url, *VIEWPORT)
        await shot(page, "01-open")
        tags = await page.js("[...document.querySelectorAll('input[data-slider]')].map(i => i.dataset.slider)")
        colour = "hair_color=blonde" if "hair_color=blonde" in tags else tags[0]
        await _slider_to_end(page, colour)
        await shot(page, "02-slider-colour")
        if "glasses=yes" in tags:
            await _slider_to_end(page, "glasses=yes")
        await shot(page, "03-slider-glasses")
        n = await page.js("window.upscales || 0")
        await page.js("document.querySelector('#grid img').click()")
        await page.idle("upscales", n)
        await page.js("document.getElementById('upscaled-img').scrollIntoView({block: 'center'})")
        await shot(page, "04-upscaled")
        href = await page.js("document.getElementById('upscaled-download').href")
        data = await page.js(f"fetch({json.dumps(href)}).then(r => r.arrayBuffer())"
                             ".then(b => btoa(String.fromCharCode(...new Uint8Array(b))))")  # fmt: skip
        download = tmp / "character.png"
        download.write_bytes(base64.b64decode(data))
        # a stick figure drawn with the pen
        left, top, width, size = await page.pose_canvas()

        def to_page(p) -> tuple[float, float]:
            return float(left + (p[0] + 0.5) * width / size), float(top + (p[1] + 0.5) * width / size)

        joints, picture = figure(size, seed=11)
        await page.click("#tool-pen")
        await page.click("#drawing-clear")
        for stroke in figure_strokes(joints):
            await page.stroke([to_page(p) for p in stroke], pointer="pen")
        await page.wait("window.readVersion === window.inkVersion && document.body.dataset.busy === '0'",
                        what="posenet's reading of the drawing")  # fmt: skip
        await shot(page, "05-drawn")
        # the joints read stay handles: drag the left hand
        await page.click("#tool-joints")
        read = await page.js("window.poseJoints.map(p => p.slice())")
        hand = read[JOINTS.index("left_hand")]
        x0, y0 = to_page(np.array(hand) - 0.5)
        n = await page.js("window.sketches")
        await page.mouse("mouseMoved", x0, y0)
        await page.mouse("mousePressed", x0, y0, buttons=1)
        for t in range(1, 7):
            await page.mouse("mouseMoved", x0 + 8 * width / size * t / 6, y0 - 6 * width / size * t / 6, buttons=1)
        await page.mouse("mouseReleased", x0 + 8 * width / size, y0 - 6 * width / size)
        await page.idle("sketches", n)
        await shot(page, "06-joint-dragged")
        # a picture of a stick figure, uploaded
        _, other = figure(size, seed=12)
        Image.fromarray(other).resize((4 * size, 4 * size), Image.Resampling.BILINEAR).save(tmp / "figure.png")
        v = await page.js("window.inkVersion")
        await page.upload("#drawing-upload", tmp / "figure.png")
        await page.wait(f"window.inkVersion > {v} && window.readVersion === window.inkVersion"
                        " && document.body.dataset.busy === '0'", what="the upload read")  # fmt: skip
        await shot(page, "07-uploaded")
        # the download restored in a fresh page
        await page.open(url, *VIEWPORT)
        n = await page.js("window.generations")
        await page.upload("#restore", download)
        await page.idle("generations", n)
        await page.js("window.scrollTo(0, 0)")
        await shot(page, "08-restored")
    return shots


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deploy", default=str(REPO / "data" / "deploy"), help="a deploy folder (the deploy stage's)")
    ap.add_argument("--out", default=str(REPO / "docs" / "screens"))
    args = ap.parse_args(argv)
    deploy, out = Path(args.deploy), Path(args.out)
    if not (deploy / "deployed.json").exists():
        print(f"{deploy}: no deployed.json; run the pipeline first (make pipeline)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        try:
            with serving(deploy, tmp) as url, chromium(tmp / "chromium") as ws_url:
                shots = asyncio.run(walk(ws_url, url, out, tmp))
        except FileNotFoundError as err:
            print(err, file=sys.stderr)
            return 2
    for path in shots:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
