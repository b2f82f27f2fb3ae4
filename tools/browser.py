"""The artist's page in headless Chromium, for the browser tests (tests/serve/test_browser.py) and the walkthrough
that screenshots the page for the docs (tools/walkthrough.py): the service and Chromium started as subprocesses and
always stopped, a DevTools page with real input events (keys, mouse, pen, strokes), and how a person draws a stick
figure.

Chromium is Debian's package (`apt-get install chromium`; nothing is downloaded), driven over the DevTools protocol
with the `websockets` package.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from core.names import JOINTS
from tools.devtools import DevtoolsPage

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after 10 s; with `group`, whatever is left of its process group too (Chromium's)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if group:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session (start_new_session): only its helpers
        except (ProcessLookupError, PermissionError):
            pass


@contextlib.contextmanager
def serving(folder: Path, tmp: Path) -> Iterator[str]:
    """`python -m serve` on the deploy `folder` while the block runs: its URL. The log goes to tmp/server.log."""
    port = free_port()
    log = (tmp / "server.log").open("w")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "serve", "--root", str(folder), "--port", str(port)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = json.loads(urllib.request.urlopen(f"{url}/healthz", timeout=2).read())
                assert health["status"] == "ok", health
                break
            except (OSError, ValueError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the server did not start: {(tmp / 'server.log').read_text()[-3000:]}"
                    ) from None
                time.sleep(0.2)
        yield url
    finally:
        stop(proc)
        log.close()


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[str]:
    """Headless Chromium with its profile in `profile` while the block runs: the DevTools websocket URL of its
    page. Raises FileNotFoundError when Chromium is not installed."""
    if CHROMIUM is None:
        raise FileNotFoundError("Debian's chromium is not installed (apt-get install chromium)")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        yield next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
    finally:
        stop(proc, group=True)


class Page(DevtoolsPage):
    """The service's page: waits on its hooks, real input, screenshots."""

    async def wait(self, expression: str, timeout: float = 60.0, what: str = ""):
        """Until `expression` is truthy (its value), or fail with the page's status line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        status = await self.js("document.getElementById('status').textContent")
        raise AssertionError(f"timed out waiting for {what or expression}; status line: {status!r}")

    async def idle(self, counter: str, above: int, timeout: float = 60.0) -> None:
        await self.wait(f"window.{counter} > {above} && document.body.dataset.busy === '0'", timeout,
                        f"{counter} > {above} and the page idle")  # fmt: skip

    async def key(self, key: str, code: int) -> None:
        for kind in ("rawKeyDown", "keyUp"):
            await self.call("Input.dispatchKeyEvent", type=kind, key=key, code=key, windowsVirtualKeyCode=code,
                            nativeVirtualKeyCode=code)  # fmt: skip

    async def mouse(self, kind: str, x: float, y: float, buttons: int = 0, pointer: str = "mouse") -> None:
        """A mouse event, or a pen's (`pointer="pen"`, pressed with force 0.6): the page sees pointer events."""
        extra = {"pointerType": pointer, "force": 0.6 if buttons else 0.0} if pointer != "mouse" else {}
        await self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", buttons=buttons, clickCount=1,
                        **extra)  # fmt: skip

    async def stroke(self, points, pointer: str = "mouse", step: float = 4.0) -> None:
        """Press, move through `points` (page px) every `step` px or so, release: one stroke of a drawing."""
        await self.mouse("mouseMoved", *points[0], pointer=pointer)
        await self.mouse("mousePressed", *points[0], buttons=1, pointer=pointer)
        for a, b in zip(points[:-1], points[1:]):
            n = max(1, int(math.hypot(b[0] - a[0], b[1] - a[1]) / step))
            for k in range(1, n + 1):
                t = k / n
                await self.mouse("mouseMoved", a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), 1, pointer)
        await self.mouse("mouseReleased", *points[-1], pointer=pointer)

    async def click(self, selector: str) -> None:
        """A real click in the middle of the element."""
        x, y = await self.js(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                             ".getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()")  # fmt: skip
        await self.mouse("mousePressed", x, y, buttons=1)
        await self.mouse("mouseReleased", x, y)

    async def upload(self, selector: str, path: Path) -> None:
        """Choose `path` in the file input `selector`, as a person picking a file does."""
        doc = await self.call("DOM.getDocument")
        node = await self.call("DOM.querySelector", nodeId=doc["root"]["nodeId"], selector=selector)
        await self.call("DOM.setFileInputFiles", files=[str(path)], nodeId=node["nodeId"])

    async def shot(self, path: Path) -> Path:
        """A screenshot of the viewport as it is, to `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        png = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(png["data"]))
        return path

    async def open(self, url: str, width: int = 1400, height: int = 1000) -> None:
        """Load the page fresh and wait for its first grid of characters."""
        await self.call("Page.enable")
        await self.call("Runtime.enable")
        await self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                        mobile=False)  # fmt: skip
        await self.call("Page.navigate", url=url + "/")
        await self.wait("window.generations >= 1 && document.body.dataset.busy === '0'", what="the first grid")

    async def pose_canvas(self) -> tuple[float, float, float, int]:
        """(left, top, width, pose size) of the pose canvas, scrolled into view."""
        await self.js("document.getElementById('pose-panel').scrollIntoView({block: 'center'})")
        size = await self.js("fetch('/api/info').then(r => r.json()).then(i => i.pose_size)")
        left, top, width = await self.js("(() => { const r = document.getElementById('pose').getBoundingClientRect();"
                                         " return [r.left, r.top, r.width]; })()")  # fmt: skip
        return left, top, width, size


def figure_strokes(j) -> list[list[tuple[float, float]]]:
    """How a person draws the stick figure of joints j [11, 2]: spine, shoulders, arms, legs, neck, a round head."""
    at = {name: (float(x), float(y)) for name, (x, y) in zip(JOINTS, j)}
    head, neck = j[JOINTS.index("head")], j[JOINTS.index("neck")]
    reach = max(float(math.dist(head, neck)), 2.0)
    up = (head - neck) / reach
    r = 0.7 * reach
    chin = head - up * r
    circle = [(head[0] + r * math.cos(t), head[1] + r * math.sin(t)) for t in [2 * math.pi * k / 24 for k in range(25)]]
    return [
        [at["neck"], at["pelvis"]],
        [at["left_shoulder"], at["neck"], at["right_shoulder"]],
        [at["left_shoulder"], at["left_hand"]],
        [at["right_shoulder"], at["right_hand"]],
        [at["pelvis"], at["left_knee"], at["left_foot"]],
        [at["pelvis"], at["right_knee"], at["right_foot"]],
        [at["neck"], (float(chin[0]), float(chin[1]))],
        circle,
    ]
