"""The labeling page of a pose task in headless Chromium (Debian's package; nothing is downloaded): it loads, logged
in as the admin, and holds the posenet pre-annotation: one keypoint per joint, under its name, where the registered
model put it. The screenshot is kept in artifacts/.

Chromium is driven over the DevTools protocol (the `websockets` package): log in through Label Studio's own form
with the standard library, hand the session cookie to the browser, open the task, read the page's text and the
editor's regions (`window.Htx`, the labeling editor's store: what the annotator sees and drags). Then the left
hand's point is selected and the key c pressed, as an annotator marks a joint occluded: the editor's result holds
the visibility choice under the point's region id, and the label stage's parser reads it.
"""

from __future__ import annotations

import asyncio
import base64
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from core.names import JOINTS
from labeling import configs
from labeling.labels import Parsed, parse_pose
from tests.conftest import REPO
from tests.labeling.champions import register_posenet
from tools.devtools import DevtoolsPage

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _session_cookie(url: str, email: str, password: str) -> dict:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{url}/user/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "email": email, "password": password}).encode()
    req = urllib.request.Request(f"{url}/user/login/", data=body, headers={"Referer": f"{url}/user/login/"})
    opener.open(req, timeout=30).read()
    cookies = {c.name: c.value for c in jar}
    assert "sessionid" in cookies, "login through the form failed"
    return cookies


# the regions of the annotation the editor shows (a draft made from the prediction): [joint, x %, y %]
REGIONS = "Htx.annotationStore.selected.regionStore.regions.map(r => [r.labelName, r.x, r.y])"


# select the left hand's point in the editor and give back its region id (what its per-region results carry)
SELECT_HAND = """(() => { const a = Htx.annotationStore.selected;
  const r = a.regionStore.regions.find(r => r.labelName === 'left_hand'); a.selectArea(r); return r.cleanId; })()"""
RESULT = "JSON.stringify(Htx.annotationStore.selected.serializeAnnotation())"


async def _press(page: DevtoolsPage, key: str) -> None:
    code = ord(key.upper())
    for kind in ("keyDown", "keyUp"):
        await page.call(
            "Input.dispatchKeyEvent", type=kind, key=key, code=f"Key{key.upper()}", windowsVirtualKeyCode=code
        )


async def _mark_occluded(page: DevtoolsPage) -> tuple[str, list]:
    """The left hand marked occluded as an annotator does it (its point selected, the key c): (its region id, the
    editor's result)."""
    region = await page.js(SELECT_HAND)
    await asyncio.sleep(0.5)
    await _press(page, "c")
    await asyncio.sleep(0.5)
    return region, json.loads(await page.js(RESULT))


async def _open_task(
    ws_url: str, base: str, cookies: dict, path: str, shot: Path, timeout: float = 90.0
) -> tuple[str, list, tuple[str, list]]:
    """(the page's text, the editor's keypoint regions, _mark_occluded's answer) once the task has loaded; a
    screenshot at `shot` (before the marking)."""
    import websockets

    async with websockets.connect(ws_url, max_size=None) as ws:
        page = DevtoolsPage(ws)
        await page.call("Page.enable")
        await page.call("Network.enable")
        for name, value in cookies.items():
            await page.call("Network.setCookie", name=name, value=value, url=base)
        await page.call(
            "Emulation.setDeviceMetricsOverride", width=1400, height=1700, deviceScaleFactor=1, mobile=False
        )
        await page.call("Page.navigate", url=base + path)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            text = await page.text()
            if all(text.count(j) >= 3 for j in JOINTS) and "Submit" in text:
                await asyncio.sleep(1.0)  # let the canvas draw the points
                break
        shot.parent.mkdir(parents=True, exist_ok=True)
        png = await page.call("Page.captureScreenshot", format="png")
        shot.write_bytes(base64.b64decode(png["data"]))
        r = await page.call("Runtime.evaluate", expression=f"window.Htx ? {REGIONS} : []", returnByValue=True)
        return text, r.get("result", {}).get("value") or [], await _mark_occluded(page)


def test_pose_task_page_shows_the_models_keypoints(labelstudio_empty, smoke_params, store, tmp_path):
    if CHROMIUM is None:  # a skip on a laptop; under CI (where .ci/run installs it) a missing browser is a failure
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Debian's chromium is not installed: .ci/run should have installed it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from dataset.imageio import decode_image
    from labeling.client import connect
    from labeling.push import push
    from models.pose.net import predict
    from stages import render

    labelstudio = labelstudio_empty
    render.run(smoke_params, tmp_path / "render", workers=1)
    version, net = register_posenet(tmp_path / "posenet", smoke_params, 64)
    params = smoke_params.model_copy(
        update={"label": smoke_params.label.model_copy(update={"pose_tasks": 2, "tag_tasks": 0})}
    )
    srv = connect(labelstudio["url"], labelstudio["creds"].token)
    pushed = push(
        srv,
        params,
        labelstudio["docs"],
        tmp_path / "render",
        tmp_path / "none",
        tmp_path / "none.csv",
        projects=tmp_path / "projects.json",
    )
    pid = pushed["pose"]["project"]
    task = next(iter(srv.client().tasks.list(project=pid, fields="all")))
    png = labelstudio["docs"] / "labeling" / "pose" / f"{task.data['ref_id']}.png"  # the image the task shows
    joints = predict(net, decode_image(png.read_bytes(), 1 << 20)[None])[0]  # where the model puts them, in pixels

    creds = labelstudio["creds"]
    cookies = _session_cookie(labelstudio["url"], creds.username, creds.password)
    profile = tmp_path / "chromium"
    proc = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        shot = REPO / "artifacts" / "labelstudio_pose_task.png"
        text, regions, (hand, result) = asyncio.run(
            _open_task(ws_url, labelstudio["url"], cookies, f"/projects/{pid}/data?task={task.id}", shot)
        )
    finally:
        proc.kill()
        proc.wait()
    # each joint name three times: in the label bar, among the out-of-frame boxes, as a region of the pre-annotation
    missing = [j for j in JOINTS if text.count(j) < 3]
    assert not missing, f"the labeling page shows no keypoint for {missing}; screenshot {shot}; text: {text[:800]!r}"
    assert f"anime-posenet/{version}" in text  # the prediction's model_version is on the page
    # the editor holds one keypoint per joint, at the model's reading of this sketch (pixel x -> 100 (x + 0.5) / S %)
    shown = {name: (x, y) for name, x, y in regions}
    assert len(regions) == len(JOINTS) and set(shown) == set(JOINTS), regions
    expected = (joints + 0.5) / 64 * 100
    assert np.allclose([shown[j] for j in JOINTS], expected, atol=1e-3), (regions, expected.tolist())
    assert len({(round(x, 1), round(y, 1)) for x, y in shown.values()}) > 3  # not all on one spot
    assert shot.stat().st_size > 10_000
    # every out-of-frame box shows the key the config gave it (none left for Label Studio to pick from its own)
    assert all(f"{j}[{k}]" in text for j, k in zip(JOINTS, configs.OUT_OF_FRAME_HOTKEYS)), text
    # the hotkey c on the selected point: a per-region visibility result under the point's id, which the parser reads
    seen = [r for r in result if r["from_name"] == configs.VISIBILITY_CONTROL]
    assert [(r["id"], r["value"]["choices"]) for r in seen] == [(hand, ["occluded"])], result
    parsed = Parsed()
    parse_pose([{"ref_id": "t", "annotations": [{"id": 1, "result": result}]}], parsed)
    assert not parsed.problems and parsed.joints["t"][0].visibility == tuple(
        "occluded" if j == "left_hand" else "visible" for j in JOINTS
    )
