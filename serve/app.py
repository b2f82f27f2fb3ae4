"""The FastAPI app: the JSON API (OpenAPI docs at /docs) and the artist's page at /.

    GET  /healthz               liveness and what is deployed
    GET  /api/info              the served models, their sliders, conditions and model cards
    POST /api/generate          {count, seed, truncation, sliders, conditions, family} -> PNGs (micro-batched)
    POST /api/upscale           an image upload -> the 4x PNG (anime-sr, or anime-srgan with ?model=srgan)
    POST /api/sketch            {joints: 11 [x, y]}, or a drawn stick figure ({image: base64} or an upload) that
                                posenet reads -> the joints, stick figure, sketch and closest 3D-model reference
    POST /api/tag               an image upload -> the tagger's reading per attribute group
    POST /api/restore           a PNG this service made -> the settings stored in it (seed, model, sliders...)
    POST /admin/reload          (Authorization: Bearer $ANIME_ADMIN_TOKEN) load data/deploy again

Every PNG the service returns carries its settings as a tEXt chunk `anime-character` (JSON: seed, model, version,
truncation, sliders, conditions), so a downloaded image can be uploaded to /api/restore to get them back.
Bundles are loaded from the deploy stage's folder only (serve/bundles.py), never unpickled.

Limits come before work (serve/guards.py): a body over its route's limit is refused with 413 before it is read, a
JSON body nested too deep with 422 before it is parsed, a generate request that would overfill the micro-batcher's
queue with 503 and Retry-After, and a generate request whose client went away while it waited is dropped, never
computed. Every error has one shape (serve/guards.ErrorResponse). Model work runs off the event loop. A request is
answered by, and labelled with, the models it started with, even when a reload lands while it waits.

The OpenAPI schema (/openapi.json) names a response model for every route (/api/upscale: an image/png), the model
families, attribute groups, their values and the joints as enums (from serve/bundles.py and core/names.py), and each
error status a route can answer with why, all in the one error shape.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal, Required

import numpy as np
from fastapi import Depends, FastAPI, File, Header, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from PIL import Image, PngImagePlugin
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    model_validator,
    with_config,
)
from starlette.datastructures import UploadFile as StarletteUpload
from typing_extensions import TypeAliasType, TypedDict

from core.names import ATTRIBUTES, GROUPS, JOINTS
from serve.batching import Batcher, QueueFull
from serve.bundles import DEPLOYED, FAMILIES, BundleError, Models
from serve.guards import MAX_JSON_BYTES, MAX_JSON_DEPTH, BodyLimit, error_responses, install_error_shape

STATIC = Path(__file__).parent / "static"
META_KEY = "anime-character"
MAX_COUNT = 16
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_TAG_PIXELS = 1024 * 1024  # an image to tag: at most 1024 x 1024
MAX_UPSCALE_SIDE = 128  # an image to upscale: at most 128 x 128 (512 x 512 out)
MAX_DRAWING_PIXELS = 1024 * 1024  # a drawn figure to read joints from: at most 1024 x 1024
MAX_IMAGE_FIELD = (MAX_UPLOAD_BYTES + 2) // 3 * 4 + 64  # base64 of MAX_UPLOAD_BYTES, plus a data: URL's prefix
SEED_MAX = 2**31 - 1

# The names of the API as enums in its schema, each a named component, from the lists the rest of the project uses
# (a TypeAliasType of a Literal: the values stay plain strings in the handlers)
GENERATORS = ("dcgan", "stylegan")  # the families serve/bundles.Models serves as generators
UPSCALERS = ("sr", "srgan")  # ... and as upscalers
Family = TypeAliasType("Family", Literal[FAMILIES])
GeneratorFamily = TypeAliasType("GeneratorFamily", Literal[GENERATORS])
UpscalerFamily = TypeAliasType("UpscalerFamily", Literal[UPSCALERS])
Joint = TypeAliasType("Joint", Literal[JOINTS])
VALUES = {  # per attribute group, its values: hair_color -> HairColor
    g: TypeAliasType("".join(w.title() for w in g.split("_")), Literal[ATTRIBUTES[g]]) for g in GROUPS
}
# the six fixed groups as enums; a generator trained on annotators' extra groups takes those too (their names and
# values are the loaded generator's, listed by /api/info, and checked against it: an unknown one is a 422)
Conditions = TypedDict("Conditions", {g: VALUES[g] for g in GROUPS}, total=False, extra_items=str)  # type: ignore[call-arg]
Conditions.__doc__ = (
    "Attribute group -> its value, for the groups to fix; the others are drawn per seed. A generator may take more "
    "groups than these six (annotators' extra groups): /api/info lists each generator's groups and values."
)


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(4, ge=1, le=MAX_COUNT, description="images; seeds seed, seed+1, ...")
    seed: int = Field(0, ge=0, le=SEED_MAX - MAX_COUNT)
    truncation: float = Field(1.0, ge=0.0, le=1.0, description="psi: 1 = no truncation")
    sliders: dict[str, float] = Field(
        default_factory=dict,
        description="one per tag, within its range (/api/info): StyleGAN -1..1 (= -3..3 sigma along its direction); "
        "DCGAN 0..1 from the character's value to the tag, a yes/no group's -1..1",
    )
    conditions: Conditions = Field(
        default_factory=dict, description="a conditional generator's (/api/info): attribute group -> value"
    )
    family: GeneratorFamily | None = Field(None, description="default: the best by the evaluate stage (/api/info)")
    upscale: bool = Field(False, description="also return each image 4x upscaled (anime-sr)")


class SketchRequest(BaseModel):
    """Exactly one of `joints` (the pose as it is) and `image` (a drawn stick figure for posenet to read)."""

    model_config = ConfigDict(extra="forbid")
    joints: list[tuple[float, float]] | None = Field(
        None, min_length=len(JOINTS), max_length=len(JOINTS), description=f"{', '.join(JOINTS)} in pose pixels"
    )
    image: str | None = Field(
        None,
        max_length=MAX_IMAGE_FIELD,
        description="base64 PNG/JPEG/WebP (or a data: URL) of a stick figure drawn in one colour: posenet reads "
        "its joints (seen as facing the viewer: the arm whose shoulder is further right is the character's left)",
    )

    @model_validator(mode="after")
    def _one(self) -> SketchRequest:
        if (self.joints is None) == (self.image is None):
            raise ValueError("send either joints or image")
        return self


SKETCH_BODY = {  # the route reads JSON or a multipart upload itself: its OpenAPI body, written out
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": SketchRequest.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary", "description": "a drawn figure"}},
                    "required": ["file"],
                }
            },
        },
    }
}


# --- what the routes answer ------------------------------------------------------------------------------------
# Documents read from the deploy folder (deployed.json, card.json) and from a PNG's settings are TypedDicts that
# allow keys beyond those named: a response carries them as they are. Their keys are listed in the sorted order
# their writers use (core/atomic.write_json, png_bytes), which is the order a response gives them in.


@with_config(ConfigDict(extra="allow"))
class DeployedBundle(TypedDict, total=False):
    """A deployed family's registered model and version (deployed.json)."""

    model: Annotated[str, Field(description="the registered model, anime-<family>")]
    size: Annotated[int | None, Field(description="its image size in pixels")]
    version: str


@with_config(ConfigDict(extra="allow"))
class Deployment(TypedDict, total=False):
    """What the deploy stage wrote (deployed.json)."""

    families: Required[dict[Family, DeployedBundle]]
    generator: Annotated[GeneratorFamily | None, Field(description="the generator the evaluate stage chose")]
    notes: list[str]
    profile: str | None
    smoke: Annotated[dict[str, Any], Field(description="what the deploy stage's smoke test ran and got")]


@with_config(ConfigDict(extra="allow"))
class SourceShare(TypedDict, total=False):
    images: int | None
    layout: str | None
    licence: str | None
    tagged: int | None


@with_config(ConfigDict(extra="allow"))
class ImagesSource(TypedDict, total=False):
    by_split: dict[str, int]
    by_source: Annotated[dict[str, SourceShare], Field(description="per source spec: its share of the images")]
    images: int | None
    layout: str | None
    licence: str | None
    source: str | None


@with_config(ConfigDict(extra="allow"))
class PosesSource(TypedDict, total=False):
    licence: str | None
    source: str | None


@with_config(ConfigDict(extra="allow"))
class TrainingData(TypedDict, total=False):
    images: ImagesSource
    poses: PosesSource


@with_config(ConfigDict(extra="allow"))
class CardMetrics(TypedDict, total=False):
    size: int | None
    test: dict[str, float | None]
    val: dict[str, float | None]


@with_config(ConfigDict(extra="allow"))
class ModelCard(TypedDict, total=False):
    """A deployed version's model card (serve/cards.py): its figures, lineage, training data and licence."""

    date: Annotated[str, Field(description="registered, YYYY-MM-DD")]
    lineage: Annotated[dict[str, str], Field(description="its registry tags: git commit, profile, DVC hashes...")]
    metrics: Annotated[CardMetrics | None, Field(description="validation and test figures; null: not scored")]
    model: str
    primary_metric: str | None
    run_id: str
    size: int | None
    training_data: TrainingData
    version: str


# [x, y] and [low, high]: an array of two numbers (not a tuple: OpenAPI tools read `prefixItems` poorly)
Pair = Annotated[list[float], Field(min_length=2, max_length=2)]


class HealthResponse(BaseModel):
    status: Literal["ok", "no models"]
    # the liveness check answers whatever deployed.json holds beyond the loader's checks: loosely typed, never a 500
    deployed: dict[Family, dict[str, Any]] = Field(
        description="each loaded family's entry of deployed.json (model, version, size); empty when no models are loaded"
    )
    error: str | None = Field(description="why no models are loaded (the deploy folder's problem)")


class GeneratorInfo(BaseModel):
    size: int = Field(description="image size in pixels")
    sliders: list[str] = Field(description="one per tag (group=value)")
    slider_ranges: dict[str, Pair] = Field(description="slider -> [low, high]")
    control_success_by_tag: dict[str, float] = Field(description="slider -> how often moving it shows its tag")
    conditional: bool = Field(description="takes conditions")
    conditions: dict[str, list[str]] = Field(
        description="group -> its values, the six fixed groups first, then any extra one; empty when not conditional"
    )
    extra_groups: list[str] = Field(
        default_factory=list,
        description="the groups beyond the six (annotators' extra groups) this generator was trained on",
    )


class InfoResponse(BaseModel):
    generator: GeneratorFamily = Field(description="the default generator")
    generators: dict[GeneratorFamily, GeneratorInfo]
    upscalers: list[UpscalerFamily]
    pose2sketch: bool
    posenet: bool = Field(description="drawn stick figures can be read")
    joints: list[Joint] = Field(description="the order of a pose's joints")
    pose_size: int | None = Field(description="the pose canvas in pixels; null without pose2sketch")
    tagger: bool
    cards: dict[Family, ModelCard]
    deployed: Deployment


class Image64(BaseModel):
    seed: int | None = None
    png: str = Field(description="base64 PNG")


class GenerateResponse(BaseModel):
    family: GeneratorFamily
    version: str
    images: list[Image64]
    upscaled: list[Image64] | None = Field(None, description="with `upscale`: the same images 4x (anime-sr)")


class SketchResponse(BaseModel):
    size: int = Field(description="the pose canvas in pixels")
    source: Literal["joints", "image"] = Field(description="the pose as sent, or read from a drawing")
    joints: list[Pair] = Field(
        min_length=len(JOINTS), max_length=len(JOINTS), description="the pose used, [x, y] in pose pixels"
    )
    stick: str = Field(description="base64 PNG: the stick figure")
    sketch: str = Field(description="base64 PNG: the sketch drawn from it")
    reference: str | None = Field(description="base64 PNG: the closest 3D-model projection; null without posenet")
    reference_id: str | None
    version: str = Field(description="the pose2sketch version")


READINGS = {
    g: create_model(
        f"{VALUES[g].__name__}Reading",
        value=(VALUES[g], ...),
        p=(float, Field(description="the tagger's probability of the value")),
    )
    for g in GROUPS
}
Tags = create_model("Tags", __doc__="Per attribute group, the value read.", **{g: (READINGS[g], ...) for g in GROUPS})


class TagResponse(BaseModel):
    tags: Tags
    version: str = Field(description="the tagger version")


@with_config(ConfigDict(extra="allow", strict=True))
class Settings(TypedDict, total=False):
    """The settings a PNG of this service carries (tEXt chunk `anime-character`)."""

    conditions: dict[str, str]
    model: Annotated[str, Field(description="anime-<family>")]
    seed: int
    sliders: dict[str, float]
    truncation: float
    upscaled: UpscalerFamily
    version: str


SETTINGS = TypeAdapter(Settings)


class ReloadResponse(BaseModel):
    reloaded: dict[Family, DeployedBundle] = Field(description="what is served now")


NO_MODELS = "no models deployed: run the deploy stage (`dvc repro deploy`), then /admin/reload"
JSON_413 = f"a request body over {MAX_JSON_BYTES} bytes, refused before it is read"
UPLOAD_413 = (
    f"an upload over {MAX_UPLOAD_BYTES} bytes, or an image over the route's pixels (read from its header, not decoded)"
)
UPLOAD_415 = "an image that is not PNG, JPEG or WebP"
UPLOAD_400 = "a multipart body that cannot be parsed"
UPLOAD_422 = "no file, an empty or unreadable one"
UPLOAD_ERRORS = {400: UPLOAD_400, 413: UPLOAD_413, 415: UPLOAD_415}  # an upload route's, before its own 422 and 503


def png_bytes(img: np.ndarray, meta: dict | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    if meta is not None:
        info.add_text(META_KEY, json.dumps(meta, sort_keys=True))
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def b64(img: np.ndarray, meta: dict | None = None) -> str:
    return base64.b64encode(png_bytes(img, meta)).decode()


async def read_image(upload: UploadFile, max_pixels: int) -> tuple[np.ndarray, Image.Image]:
    """An uploaded PNG/JPEG/WebP as uint8 RGB, refused (413/415/422) before decoding when too large or not an image."""
    return decode_image(await upload.read(MAX_UPLOAD_BYTES + 1), max_pixels)


def decode_image(data: bytes, max_pixels: int) -> tuple[np.ndarray, Image.Image]:
    """PNG/JPEG/WebP bytes (an upload's, or a base64 field's) as uint8 RGB, refused like an upload."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"upload over {MAX_UPLOAD_BYTES} bytes")
    if not data:
        raise HTTPException(422, "empty upload")
    try:
        im = Image.open(io.BytesIO(data))  # reads the header only
        if im.format not in ("PNG", "JPEG", "WEBP"):
            raise HTTPException(415, f"{im.format} images are not accepted; send PNG, JPEG or WebP")
        w, h = im.size
        if w * h > max_pixels or w < 1 or h < 1:
            raise HTTPException(413, f"{w}x{h} pixels: over the limit of {max_pixels} pixels")
        rgb = np.asarray(im.convert("RGB"))
    except HTTPException:
        raise
    except Image.DecompressionBombError:  # PIL refuses headers claiming far more pixels than anything we take
        raise HTTPException(413, f"the image claims more than {max_pixels} pixels") from None
    except (OSError, ValueError) as err:
        raise HTTPException(422, f"not a readable image ({type(err).__name__})") from None
    return rgb, im


async def _sketch_input(request: Request) -> tuple[np.ndarray | None, list | None]:
    """(the drawn figure of a /api/sketch request as uint8 RGB, None) for an upload `file` or a JSON `image`;
    (None, the joints) for JSON `joints`. Refusals in the service's one error shape."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=4)
        upload = form.get("file")
        if not isinstance(upload, StarletteUpload):
            raise RequestValidationError([{"loc": ("body", "file"), "msg": "an image upload is required"}])
        return (await read_image(upload, MAX_DRAWING_PIXELS))[0], None
    try:
        req = SketchRequest.model_validate_json(await request.body())
    except ValidationError as err:
        raise RequestValidationError(
            [{"loc": ("body", *e["loc"]), "msg": e["msg"]} for e in err.errors(include_url=False)]
        ) from None
    if req.joints is not None:
        return None, req.joints
    text = req.image.split(",", 1)[1] if req.image.startswith("data:") else req.image
    try:
        data = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise HTTPException(422, "image: not base64") from None
    return decode_image(data, MAX_DRAWING_PIXELS)[0], None


UPLOAD_ROUTES = ("/api/upscale", "/api/tag", "/api/restore", "/api/sketch")
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around an upload
RETRY_AFTER_S = 1


class ClientGone(Exception):
    """The client closed its connection while its request waited."""


async def unless_disconnected(request: Request, work):
    """The result of the awaitable `work`, or ClientGone (work cancelled) as soon as the client disconnects."""

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    task, watch = asyncio.ensure_future(work), asyncio.ensure_future(gone())
    try:
        done, _ = await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
    if task in done:
        return task.result()
    task.cancel()
    raise ClientGone


def create_app(
    root: str | Path = "data/deploy",
    window_ms: float = 10.0,
    max_images: int = 64,
    admin_token: str | None = None,
    max_queue: int = 512,
    strict: bool = False,
    warm: bool = True,
) -> FastAPI:
    """The app over the deploy folder `root`. A missing deploy starts it with every model call answering 503 (and
    a reload later can bring models); a deploy that is there but broken raises BundleError when `strict` (what
    `python -m serve` does: exit 2 naming the file) and is reported like a missing one otherwise. Loaded models
    are warmed (`Models.warm`: each network once at every padded batch size it will run) before they answer, at
    start and on a reload; `warm=False` leaves that to the first requests (what the tests of the API's answers do,
    which time nothing)."""
    app = FastAPI(title="anime character service", version="1", description=__doc__)
    install_error_shape(app)
    limits = {path: MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD for path in UPLOAD_ROUTES}
    app.add_middleware(BodyLimit, limits=limits)
    state: dict = {"models": None, "error": None}
    token = admin_token if admin_token is not None else os.environ.get("ANIME_ADMIN_TOKEN")

    def load() -> None:
        models = Models.load(root)
        # before it answers anything: a reload swaps in warmed models only
        app.state.warm_seconds = models.warm(max_images, MAX_COUNT) if warm else None
        state["models"] = models
        state["error"] = None

    try:
        load()
    except BundleError as err:  # the service still starts, says why on every call, and can be reloaded
        if strict and (Path(root) / DEPLOYED).exists():
            raise
        state["error"] = str(err)

    def models() -> Models:
        if state["models"] is None:
            raise HTTPException(503, f"no models deployed: {state['error']} (run `dvc repro deploy`)")
        return state["models"]

    def run_batch(key, seeds: list[int]) -> np.ndarray:
        m, family, psi, sliders, conditions = key  # the models the request started with, not the current ones
        return m.generate(seeds, family, psi, dict(sliders), dict(conditions))

    batcher = Batcher(run_batch, window_ms, max_images, max_queue)
    app.state.batcher = batcher

    def admin(authorization: Annotated[str | None, Header()] = None) -> None:
        if not token:
            raise HTTPException(403, "admin endpoints are off: start the server with ANIME_ADMIN_TOKEN set")
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "a valid admin token is required (Authorization: Bearer ...)")

    @app.get("/healthz", response_model=HealthResponse)
    def healthz() -> dict:
        m = state["models"]
        return {
            "status": "ok" if m is not None else "no models",
            "deployed": m.deployed["families"] if m else {},
            "error": state["error"],
        }

    @app.get("/api/info", response_model=InfoResponse, responses=error_responses({503: NO_MODELS}))
    def info() -> dict:
        return models().info()

    generate_errors = error_responses(
        {
            400: "a body that cannot be parsed (not UTF-8)",
            413: JSON_413,
            422: f"a field out of its range or an unknown one, a family, slider or condition the deployed generator "
            f"does not have, no upscaler deployed for `upscale`, or JSON nested deeper than {MAX_JSON_DEPTH} levels",
            499: "the client closed its connection while the request waited: dropped, never computed (nobody sees it)",
            503: f"{NO_MODELS}; or busy: the micro-batcher's queue is full, retry after `Retry-After` seconds",
        }
    )
    generate_errors[503]["headers"] = {
        "Retry-After": {"description": "when busy: seconds to wait", "schema": {"type": "integer"}}
    }

    @app.post("/api/generate", response_model=GenerateResponse, responses=generate_errors)
    async def generate(req: GenerateRequest, request: Request) -> Response:
        m = models()
        family = req.family or m.default_generator
        if family not in m.generators:
            raise HTTPException(422, f"family {family!r}: deployed generators are {', '.join(m.generators)}")
        try:
            m.generators[family].check(req.sliders, req.conditions)
        except ValueError as err:
            raise HTTPException(422, str(err)) from None
        if req.upscale and "sr" not in m.upscalers:
            raise HTTPException(422, "no upscaler deployed")
        seeds = list(range(req.seed, req.seed + req.count))
        key = (
            m,
            family,
            round(req.truncation, 6),
            tuple(sorted(req.sliders.items())),
            tuple(sorted(req.conditions.items())),
        )
        try:
            images = await unless_disconnected(request, batcher.submit(key, seeds))
        except QueueFull as err:
            raise HTTPException(
                503, f"busy: {err}; retry shortly", headers={"Retry-After": str(RETRY_AFTER_S)}
            ) from None
        except ClientGone:
            raise HTTPException(499, "the client closed the request before its turn") from None
        version = m.deployed["families"][family]["version"]
        meta = {
            "model": f"anime-{family}",
            "version": version,
            "truncation": req.truncation,
            "sliders": req.sliders,
            "conditions": req.conditions,
        }

        def encode(imgs, extra: dict) -> list[Image64]:
            return [
                Image64(seed=s, png=b64(img, {**meta, "seed": s, **extra})) for s, img in zip(seeds, imgs, strict=True)
            ]

        # PNG encoding (zlib releases the GIL) off the event loop: it overlaps other requests' parsing and batching
        out = GenerateResponse(family=family, version=version, images=await asyncio.to_thread(encode, images, {}))
        if req.upscale:
            big = await asyncio.to_thread(m.upscale, images, "sr")
            out.upscaled = await asyncio.to_thread(encode, big, {"upscaled": "sr"})
        # one serialisation to bytes (pydantic's own encoder) instead of a dict of copies and json.dumps' chunks:
        # a response of upscaled images is a few hundred KB of base64 text
        return Response(out.model_dump_json(), media_type="application/json")

    @app.post(
        "/api/upscale",
        response_class=Response,
        responses={
            200: {
                "description": "the image 4x as PNG, with the upload's settings (if any) and `upscaled`",
                "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            },
            **error_responses(
                {
                    400: UPLOAD_400,
                    413: f"{UPLOAD_413}, or over {MAX_UPSCALE_SIDE} px a side",
                    415: UPLOAD_415,
                    422: f"{UPLOAD_422}, or an upscaler that is not deployed",
                    503: NO_MODELS,
                }
            ),
        },
    )
    async def upscale(
        file: Annotated[UploadFile, File()],
        model: Annotated[UpscalerFamily, Query(description="anime-sr, or the adversarial anime-srgan")] = "sr",
    ) -> Response:
        m = models()
        if model not in m.upscalers:
            raise HTTPException(422, f"upscaler {model!r} is not deployed ({', '.join(m.upscalers) or 'none'})")
        rgb, im = await read_image(file, MAX_UPSCALE_SIDE * MAX_UPSCALE_SIDE)
        if max(rgb.shape[:2]) > MAX_UPSCALE_SIDE:
            raise HTTPException(
                413, f"{rgb.shape[1]}x{rgb.shape[0]}: the upscaler takes at most {MAX_UPSCALE_SIDE} px a side"
            )
        big = await asyncio.to_thread(m.upscale, rgb[None], model)
        meta = json.loads(im.info[META_KEY]) if isinstance(im.info.get(META_KEY), str) else {}
        if not isinstance(meta, dict):
            meta = {}
        return Response(png_bytes(big[0], {**meta, "upscaled": model}), media_type="image/png")

    @app.post(
        "/api/sketch",
        response_model=SketchResponse,
        openapi_extra=SKETCH_BODY,
        responses=error_responses(
            {
                400: f"{UPLOAD_400}, or one with more than a file",
                413: UPLOAD_413,
                415: UPLOAD_415,
                422: "neither or both of joints and image, joints off the canvas, an unreadable drawing or none "
                "found in it, or no pose2sketch (or, for a drawing, posenet) deployed",
                503: NO_MODELS,
            }
        ),
    )
    async def sketch(request: Request) -> dict:
        """A pose -> its stick figure, sketch and closest 3D-model reference. The pose is `joints`, or the joints
        posenet reads from a drawn figure: JSON `image` (base64) or a multipart upload `file`, within the upload
        limits. The answer's `joints` are the pose used: for a drawing, pixels of the pose size over the picture
        padded to a square, left and right as for a figure facing the viewer."""
        m = models()
        if m.pose2sketch is None:
            raise HTTPException(422, "no pose -> sketch model deployed")
        size = int(m.pose2sketch.config["size"])
        rgb, given = await _sketch_input(request)
        if rgb is not None:
            if m.posenet is None:
                raise HTTPException(422, "no posenet deployed to read a drawing; send joints")
            from models.pose.drawing import NoDrawing

            try:
                joints = await asyncio.to_thread(m.read_drawing, rgb)
            except NoDrawing as err:
                raise HTTPException(422, f"no stick figure found: {err}") from None
            joints = joints * (size / int(m.posenet.config["size"]))
        else:
            joints = np.array(given, np.float64)  # checked before the float32 cast, which would overflow
            if not np.isfinite(joints).all() or (joints < -size).any() or (joints > 2 * size).any():
                raise HTTPException(422, f"joints are pixel coordinates of a {size} x {size} canvas")
        joints = joints.astype(np.float32)
        out = await asyncio.to_thread(m.sketch, joints)
        return {
            "size": size,
            "source": "image" if rgb is not None else "joints",
            "joints": [[round(float(x), 2), round(float(y), 2)] for x, y in joints],
            "stick": b64(out["stick"]),
            "sketch": b64(np.repeat(out["sketch"][..., None], 3, axis=2)),
            "reference": b64(np.repeat(out["reference"][..., None], 3, axis=2))
            if out["reference"] is not None
            else None,
            "reference_id": out["reference_id"],
            "version": m.deployed["families"]["pose2sketch"]["version"],
        }

    @app.post(
        "/api/tag",
        response_model=TagResponse,
        responses=error_responses({**UPLOAD_ERRORS, 422: f"{UPLOAD_422}, or no tagger deployed", 503: NO_MODELS}),
    )
    async def tag(file: Annotated[UploadFile, File()]) -> dict:
        m = models()
        if m.tagger is None:
            raise HTTPException(422, "no tagger deployed")
        rgb, _ = await read_image(file, MAX_TAG_PIXELS)
        tags = await asyncio.to_thread(m.tag, rgb)  # off the event loop: it may wait for a generate pass's lock
        return {"tags": tags, "version": m.deployed["families"]["tagger"]["version"]}

    @app.post(
        "/api/restore",
        response_model=Settings,
        responses=error_responses(
            {
                **UPLOAD_ERRORS,
                422: f"{UPLOAD_422}, or a PNG that carries no settings of this service or unreadable ones",
            }
        ),
    )
    async def restore(file: Annotated[UploadFile, File()]) -> dict:
        _, im = await read_image(file, MAX_TAG_PIXELS)
        raw = im.info.get(META_KEY)
        if not isinstance(raw, str):
            raise HTTPException(422, "this PNG carries no settings (it was not made by this service)")
        try:
            meta = SETTINGS.validate_python(json.loads(raw))  # a JSON object whose named settings have their types
        except ValueError:  # pydantic's ValidationError is one
            raise HTTPException(422, "this PNG's settings are not readable") from None
        return meta

    @app.post(
        "/admin/reload",
        response_model=ReloadResponse,
        dependencies=[Depends(admin)],
        responses=error_responses(
            {
                401: "no valid admin token (Authorization: Bearer ...)",
                403: "admin endpoints are off: the server was started without ANIME_ADMIN_TOKEN",
                409: "the deploy folder did not load: the previous models stay",
                413: JSON_413,
                422: f"a body nested deeper than {MAX_JSON_DEPTH} levels (the route reads none)",
            }
        ),
    )
    def reload() -> dict:
        try:
            load()
        except BundleError as err:
            raise HTTPException(409, f"reload failed, the previous models stay: {err}") from None
        return {"reloaded": state["models"].deployed["families"]}

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    return app
