"""The labeling page of a pose task in headless Chromium (Debian's package; nothing is downloaded): it loads, logged
in as the admin, and shows the 11 keypoints of the posenet pre-annotation. The screenshot is kept in artifacts/.

Chromium is driven over the DevTools protocol (the `websockets` package): log in through Label Studio's own form
with the standard library, hand the session cookie to the browser, open the task, read the page's text.
"""

from __future__ import annotations

import asyncio
import base64
import http.cookiejar
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from dataset.skeleton import JOINTS
from tests.conftest import REPO
from tests.test_labelstudio_server import labelstudio  # noqa: F401 (the session's server)

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


class _Page:
    def __init__(self, ws):
        self.ws, self.n = ws, 0

    async def call(self, method: str, **params):
        self.n += 1
        await self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def text(self) -> str:
        r = await self.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''")
        return r.get("result", {}).get("value", "")


async def _open_task(ws_url: str, base: str, cookies: dict, path: str, shot: Path, timeout: float = 90.0) -> str:
    import websockets

    async with websockets.connect(ws_url, max_size=None) as ws:
        page = _Page(ws)
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
            if all(text.count(j) >= 2 for j in JOINTS) and "Submit" in text:
                await asyncio.sleep(1.0)  # let the canvas draw the points
                break
        shot.parent.mkdir(parents=True, exist_ok=True)
        png = await page.call("Page.captureScreenshot", format="png")
        shot.write_bytes(base64.b64decode(png["data"]))
        return text


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_pose_task_page_shows_the_11_keypoints(labelstudio, smoke_params, store, tmp_path, monkeypatch):  # noqa: F811
    from core import checkpoint
    from labeling import sync
    from stages import pose, render

    monkeypatch.setattr(checkpoint, "ROOT", tmp_path / "ckpt")
    render.run(smoke_params, tmp_path / "render", workers=1)
    pose.run(smoke_params, tmp_path / "render", tmp_path / "pose")
    params = smoke_params.model_copy(
        update={"label": smoke_params.label.model_copy(update={"pose_tasks": 2, "tag_tasks": 0})}
    )
    srv = sync.connect(labelstudio["url"], labelstudio["creds"].token)
    pushed = sync.push(srv, params, labelstudio["docs"], tmp_path / "render", tmp_path / "none", tmp_path / "none.csv")
    pid = pushed["pose"]["project"]
    task = next(iter(srv.client().tasks.list(project=pid, fields="all")))

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
        text = asyncio.run(
            _open_task(ws_url, labelstudio["url"], cookies, f"/projects/{pid}/data?task={task.id}", shot)
        )
    finally:
        proc.kill()
        proc.wait()
    # each joint name twice: once in the label bar of the config, once as a region of the pre-annotation
    missing = [j for j in JOINTS if text.count(j) < 2]
    assert not missing, f"the labeling page shows no keypoint for {missing}; screenshot {shot}; text: {text[:800]!r}"
    assert "anime-posenet/" in text  # the prediction's model_version is on the page
    assert shot.stat().st_size > 10_000
