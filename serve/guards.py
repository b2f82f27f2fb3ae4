"""What the service refuses before any work, and the one shape of every error it answers.

- `BodyLimit` (ASGI middleware): a request body over its route's limit is refused with 413 before it is read: at
  once from its Content-Length, else as soon as the streamed bytes pass the limit (nothing is spooled to disk: the
  body is held in memory up to the limit and replayed to the app). A body (anything but a multipart upload: FastAPI
  parses `*/*+json` and untyped bodies as JSON too) nested deeper than `MAX_JSON_DEPTH` is refused with 422 before
  it is parsed (Python's parser would recurse until it fails).
- `install_error_shape`: every 4xx and 5xx is `{"detail": "<one line>", "errors": [{"loc": [...], "msg": ...}]}`
  (`errors` lists the fields of a validation error, empty otherwise), whether FastAPI's validation, an
  HTTPException of a route or a refusal above raised it. NaN, Infinity and `1e400` (which Python's JSON parser reads
  as floats) fail the fields' own range checks and come back in this shape with 422. A value outside an enum (a
  family, an attribute group's value) is named in the message beside the values allowed.
- `error_responses`: what a route declares in `responses=`, so that the OpenAPI schema names each error status it
  can answer, why, and this one shape.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

MAX_JSON_BYTES = 64 * 1024  # a JSON request: the largest valid one (a generate with every slider) is under 2 KB
MAX_JSON_DEPTH = 32  # nesting levels of a JSON body; the deepest valid request has 3


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="where in the request: body, then the field path")
    msg: str


class ErrorResponse(BaseModel):
    """The body of every error answer."""

    detail: str = Field(description="what was wrong, one line")
    errors: list[FieldError] = Field(
        default_factory=list, description="per field, for a request that failed validation"
    )


def error_response(status: int, detail: str, errors: list[dict] | None = None, headers: dict | None = None):
    body = ErrorResponse(detail=detail, errors=[FieldError(**e) for e in errors or []])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def error_responses(reasons: dict[int, str]) -> dict[int, dict]:
    """A route's `responses=` for the error statuses it can answer (status -> why): each in the one shape."""
    if any(status < 400 for status in reasons):
        raise ValueError(f"not error statuses: {sorted(s for s in reasons if s < 400)}")
    return {status: {"model": ErrorResponse, "description": why} for status, why in sorted(reasons.items())}


ENUM_ERRORS = ("literal_error", "enum")  # pydantic's: "Input should be 'a' or 'b'", which does not say what came


def _field_errors(exc: RequestValidationError) -> list[dict]:
    out = []
    for e in exc.errors():
        loc = [x if isinstance(x, int) else str(x) for x in e.get("loc", ())]
        msg = str(e.get("msg", "invalid"))
        given = e.get("input")
        if e.get("type") in ENUM_ERRORS and isinstance(given, str):
            shown = given if len(given) <= 40 else given[:37] + "..."
            msg += f", not {shown!r}"
        out.append({"loc": loc, "msg": msg})
    return out


def install_error_shape(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = _field_errors(exc)
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(x) for x in first["loc"] if x != "body")
        return error_response(422, f"{where}: {first['msg']}" if where else first["msg"], errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return error_response(exc.status_code, detail, headers=getattr(exc, "headers", None))


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for c in body:
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:  # backslash
                escaped = True
            elif c == 0x22:  # quote
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif c in (0x5D, 0x7D):
            depth -= 1
    return deepest


class BodyLimit:
    """ASGI middleware: per-path body limits (`limits`: path -> bytes; others get MAX_JSON_BYTES)."""

    def __init__(self, app, limits: dict[str, int]):
        self.app, self.limits = app, limits

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        limit = self.limits.get(scope["path"], MAX_JSON_BYTES)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await self._refuse(scope, receive, send, 413, f"request body over {limit} bytes")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away before its request was whole: nothing to do
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await self._refuse(scope, receive, send, 413, f"request body over {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        # any body FastAPI may parse as JSON (application/json, */*+json, or none given): not the multipart uploads
        is_upload = headers.get(b"content-type", b"").startswith(b"multipart/")
        if not is_upload and json_depth(body) > MAX_JSON_DEPTH:
            return await self._refuse(scope, receive, send, 422, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the server's own messages (a disconnect)

        return await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope, receive, send, status: int, detail: str) -> None:
        # Connection: close, so that the client does not go on sending a body nobody reads
        await error_response(status, detail, headers={"Connection": "close"})(scope, receive, send)
