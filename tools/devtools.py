"""One DevTools-protocol session on a headless Chromium page (the browser tests: the labeling page, the service's
page): send a command and wait for its answer, evaluate JavaScript. Driven with the `websockets` package."""

from __future__ import annotations

import json


class DevtoolsPage:
    def __init__(self, ws):
        self.ws, self.n = ws, 0

    async def call(self, method: str, **params):
        """Send `method` and return its result (events arriving meanwhile are skipped)."""
        self.n += 1
        await self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def js(self, expression: str):
        """The value of a JavaScript expression (promises awaited); a page exception is raised here."""
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r.get("result", {}).get("value")

    async def text(self) -> str:
        return await self.js("document.body ? document.body.innerText : ''") or ""
