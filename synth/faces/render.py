"""Renderer of the built-in generated set: anime-style faces with known attributes, drawn with OpenCV.

Each character has fixed attributes (hair colour and length, eye colour, glasses) and a fixed style (face shape,
skin, clothes, bangs); each of its views draws a new expression (smile, blush) and new nuisance: head tilt, scale,
position, brightness, a cluttered background, occluders, line-width and colour jitter. Everything is drawn
anti-aliased at `supersample` times the output size and downsampled with area interpolation. Deterministic: the
image of (seed, character, view) is the same on every machine and in every process.

Its command line is synth/faces/__main__.py (`python -m synth.faces`): it needs the source writer (source.py), which
imports this module, so it is not here.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from core.names import ATTRIBUTES
from core.params import GeneratedParams, NuisanceParams

VERSION = "facegen-1"  # bump when the drawing changes: it is part of the source lock

# Named colours as HSV (h in [0,1], s, v); jitter is applied around them per character.
HAIR_HSV = {
    "black": (0.62, 0.35, 0.16),
    "brown": (0.07, 0.65, 0.42),
    "blonde": (0.13, 0.55, 0.95),
    "red": (0.99, 0.80, 0.80),
    "blue": (0.60, 0.75, 0.85),
    "pink": (0.93, 0.40, 0.97),
    "silver": (0.60, 0.06, 0.82),
    "green": (0.36, 0.65, 0.65),
}
EYE_HSV = {
    "blue": (0.58, 0.85, 0.90),
    "green": (0.33, 0.80, 0.70),
    "red": (0.00, 0.85, 0.80),
    "brown": (0.07, 0.75, 0.45),
    "purple": (0.78, 0.65, 0.75),
}
PRIORS = {"glasses": 0.3, "smile": 0.5, "blush": 0.35}  # probability of "yes"


@dataclass(frozen=True)
class Character:
    """What stays fixed across a character's views."""

    hair_color: str
    hair_length: str
    eye_color: str
    glasses: str
    hair_rgb: tuple[float, float, float]
    eye_rgb: tuple[float, float, float]
    skin_rgb: tuple[float, float, float]
    clothes_rgb: tuple[float, float, float]
    frame_rgb: tuple[float, float, float]
    face_width: float  # fraction of the canvas
    chin: float  # how pointed the chin is, 0..1
    bangs: int  # spikes across the forehead
    eye_tilt: float
    glasses_round: bool


def _hsv_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1)))
    return (r * 255.0, g * 255.0, b * 255.0)


def _jitter_hsv(rng: np.random.Generator, hsv: tuple[float, float, float], amount: float) -> tuple[float, float, float]:
    h, s, v = hsv
    return _hsv_rgb(h + rng.normal(0, amount * 0.25), s + rng.normal(0, amount), v + rng.normal(0, amount))


def sample_character(rng: np.random.Generator, nz: NuisanceParams) -> Character:
    hair = str(rng.choice(ATTRIBUTES["hair_color"]))
    eye = str(rng.choice(ATTRIBUTES["eye_color"]))
    skin_v = rng.uniform(0.88, 1.0)
    return Character(
        hair_color=hair,
        hair_length=str(rng.choice(ATTRIBUTES["hair_length"])),
        eye_color=eye,
        glasses="yes" if rng.random() < PRIORS["glasses"] else "no",
        hair_rgb=_jitter_hsv(rng, HAIR_HSV[hair], nz.color_jitter),
        eye_rgb=_jitter_hsv(rng, EYE_HSV[eye], nz.color_jitter),
        skin_rgb=_hsv_rgb(rng.uniform(0.04, 0.08), rng.uniform(0.12, 0.28), skin_v),
        clothes_rgb=_hsv_rgb(rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.3, 0.95)),
        frame_rgb=_hsv_rgb(rng.random(), rng.uniform(0.0, 0.8), rng.uniform(0.05, 0.45)),
        face_width=rng.uniform(0.36, 0.44),
        chin=rng.uniform(0.3, 1.0),
        bangs=int(rng.integers(4, 8)),
        eye_tilt=rng.uniform(-0.04, 0.06),
        glasses_round=bool(rng.random() < 0.5),
    )


def _darker(rgb: tuple[float, float, float], f: float = 0.45) -> tuple[float, float, float]:
    return tuple(c * f for c in rgb)  # type: ignore[return-value]


def _lighter(rgb: tuple[float, float, float], f: float = 0.45) -> tuple[float, float, float]:
    return tuple(c + (255.0 - c) * f for c in rgb)  # type: ignore[return-value]


class _Pen:
    """Draws on a float canvas in unit coordinates (0..1 of the canvas side), anti-aliased, with jittered widths."""

    def __init__(self, img: np.ndarray, mask: np.ndarray, rng: np.random.Generator, width_jitter: float):
        self.img, self.mask, self.rng = img, mask, rng
        self.side = img.shape[0]
        self.wj = width_jitter

    def pts(self, xy: np.ndarray) -> np.ndarray:
        return np.round(np.asarray(xy, np.float64) * self.side * 16).astype(np.int32)  # 4 fractional bits

    def width(self, w: float) -> int:
        return max(1, int(round(w * self.side * (1.0 + self.rng.uniform(-self.wj, self.wj)))))

    def poly(self, xy: np.ndarray, fill, line=None, lw: float = 0.006) -> None:
        p = self.pts(xy).reshape(-1, 1, 2)
        cv2.fillPoly(self.img, [p], fill, cv2.LINE_AA, shift=4)
        cv2.fillPoly(self.mask, [p], 1.0, cv2.LINE_AA, shift=4)
        if line is not None:
            cv2.polylines(self.img, [p], True, line, self.width(lw), cv2.LINE_AA, shift=4)

    def curve(self, xy: np.ndarray, color, lw: float, closed: bool = False) -> None:
        p = self.pts(xy).reshape(-1, 1, 2)
        w = self.width(lw)
        cv2.polylines(self.img, [p], closed, color, w, cv2.LINE_AA, shift=4)
        cv2.polylines(self.mask, [p], closed, 1.0, w, cv2.LINE_AA, shift=4)

    def ellipse(self, c, axes, angle: float, fill, line=None, lw: float = 0.005) -> None:
        xy = _ellipse_pts(c, axes, angle)
        self.poly(xy, fill, line, lw)

    def blend_ellipse(self, c, axes, color, alpha: float) -> None:
        layer = np.zeros(self.img.shape[:2], np.float32)
        cv2.fillPoly(layer, [self.pts(_ellipse_pts(c, axes, 0)).reshape(-1, 1, 2)], 1.0, cv2.LINE_AA, shift=4)
        a = cv2.GaussianBlur(layer, (0, 0), self.side * axes[1] * 0.3)[..., None] * alpha
        self.img[:] = self.img * (1 - a) + np.asarray(color, np.float32) * a


def _ellipse_pts(c, axes, angle: float, n: int = 48, t0: float = 0.0, t1: float = 2 * math.pi) -> np.ndarray:
    t = np.linspace(t0, t1, n)
    ca, sa = math.cos(angle), math.sin(angle)
    x, y = axes[0] * np.cos(t), axes[1] * np.sin(t)
    return np.stack([c[0] + x * ca - y * sa, c[1] + x * sa + y * ca], axis=1)


def _background(rng: np.random.Generator, side: int, nz: NuisanceParams) -> np.ndarray:
    top = np.array(_hsv_rgb(rng.random(), rng.uniform(0, 0.6), rng.uniform(0.4, 1.0)), np.float32)
    bottom = np.array(_hsv_rgb(rng.random(), rng.uniform(0, 0.6), rng.uniform(0.4, 1.0)), np.float32)
    ramp = np.linspace(0, 1, side, dtype=np.float32)[:, None, None]
    bg = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (side, side, 3)).copy()
    if rng.random() >= nz.clutter:
        return bg
    kind = rng.integers(3)
    if kind == 0:  # stripes
        period = rng.uniform(0.04, 0.15) * side
        angle = rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
        band = (np.sin((xx * math.cos(angle) + yy * math.sin(angle)) / period * 2 * math.pi) > 0)[..., None]
        other = np.array(_hsv_rgb(rng.random(), rng.uniform(0, 0.8), rng.uniform(0.3, 1.0)), np.float32)
        bg = np.where(band, bg, other)
    n_shapes = int(rng.integers(6, 30)) if kind != 0 else int(rng.integers(0, 8))
    for _ in range(n_shapes):  # clutter in any colour, hair colours included: colour alone must not give hair away
        color = _hsv_rgb(rng.random(), rng.uniform(0, 1), rng.uniform(0.15, 1))
        c = (int(rng.uniform(0, side)), int(rng.uniform(0, side)))
        r = int(rng.uniform(0.02, 0.2) * side)
        shape = rng.integers(3)
        if shape == 0:
            cv2.circle(bg, c, r, color, -1 if rng.random() < 0.6 else max(1, r // 6), cv2.LINE_AA)
        elif shape == 1:
            d = (int(rng.uniform(0.02, 0.25) * side), int(rng.uniform(0.02, 0.25) * side))
            cv2.rectangle(bg, (c[0] - d[0], c[1] - d[1]), (c[0] + d[0], c[1] + d[1]), color, -1, cv2.LINE_AA)
        else:
            end = (int(rng.uniform(0, side)), int(rng.uniform(0, side)))
            cv2.line(bg, c, end, color, max(1, int(rng.uniform(0.005, 0.03) * side)), cv2.LINE_AA)
    return bg


def _draw_character(
    pen: _Pen,
    ch: Character,
    smile: bool,
    blush: bool,
    rng: np.random.Generator,
    occlude: bool,
    part: Callable[[str], np.random.Generator] | None = None,
) -> None:
    """Draws the character; each part (hair, face, eyes, mouth, glasses...) draws its randomness from `part(name)`,
    by default the one shared stream (the data set's images), or a stream of its own (`render_view(parts=True)`)."""
    part = part or (lambda name: rng)
    rng = pen.rng = part("line")
    hair, hair_dark, hair_light = ch.hair_rgb, _darker(ch.hair_rgb), _lighter(ch.hair_rgb, 0.35)
    skin, line = ch.skin_rgb, _darker(ch.skin_rgb, rng.uniform(0.12, 0.35))
    fx, fy, fw = 0.5, 0.46, ch.face_width
    fh = fw * 1.18
    length = ch.hair_length

    rng = pen.rng = part("back_hair")
    # Back hair: a cap, and for medium/long a curtain behind the shoulders.
    cap = _ellipse_pts((fx, fy - 0.06 * fh), (fw * 0.62, fh * 0.62), 0, 40, math.pi, 2 * math.pi)
    drop = {"short": fy + 0.05 * fh, "medium": fy + 0.55 * fh, "long": 0.99}[length]
    spread = {"short": 0.56, "medium": 0.64, "long": 0.74}[length] * fw
    back = np.concatenate([cap, [[fx + spread, drop], [fx - spread, drop]]])
    pen.poly(back, hair, hair_dark, 0.006)

    rng = pen.rng = part("neck")
    # Neck and shoulders.
    pen.poly(
        np.array(
            [
                [fx - 0.08 * fw, fy + 0.3 * fh],
                [fx + 0.08 * fw, fy + 0.3 * fh],
                [fx + 0.09 * fw, fy + 0.8 * fh],
                [fx - 0.09 * fw, fy + 0.8 * fh],
            ]
        ),
        skin,
        line,
        0.004,
    )
    pen.poly(
        np.array(
            [
                [fx - 0.12 * fw, fy + 0.72 * fh],
                [fx + 0.12 * fw, fy + 0.72 * fh],
                [fx + 0.95 * fw, 1.02],
                [fx - 0.95 * fw, 1.02],
            ]
        ),
        ch.clothes_rgb,
        _darker(ch.clothes_rgb),
        0.005,
    )

    rng = pen.rng = part("face")
    # Face: round top, pointed chin.
    top = _ellipse_pts((fx, fy), (fw * 0.5, fh * 0.45), 0, 30, math.pi, 2 * math.pi)
    jaw_y = fy + 0.18 * fh
    chin_w = 0.12 * fw * (1.2 - ch.chin)
    face = np.concatenate(
        [
            top,
            [
                [fx + 0.5 * fw, fy],
                [fx + 0.42 * fw, jaw_y],
                [fx + chin_w, fy + 0.48 * fh],
                [fx - chin_w, fy + 0.48 * fh],
                [fx - 0.42 * fw, jaw_y],
                [fx - 0.5 * fw, fy],
            ],
        ]
    )
    pen.poly(face, skin, line, 0.005)

    rng = pen.rng = part("eyes")
    # Eyes: white, iris in the eye colour, pupil, highlight, thick upper lash; brows in dark hair colour.
    ey = fy + 0.08 * fh
    ew, eh = 0.13 * fw, 0.15 * fh
    lash = _darker(ch.hair_rgb, 0.25) if rng.random() < 0.5 else (20.0, 15.0, 20.0)
    for side in (-1, 1):
        ex = fx + side * 0.22 * fw
        tilt = -side * ch.eye_tilt
        pen.ellipse((ex, ey), (ew, eh * 0.85), tilt, (250.0, 250.0, 252.0), line, 0.003)
        pen.ellipse((ex, ey + 0.01 * fh), (ew * 0.72, eh * 0.8), 0, ch.eye_rgb, _darker(ch.eye_rgb, 0.5), 0.004)
        pen.ellipse((ex, ey + 0.03 * fh), (ew * 0.36, eh * 0.42), 0, _darker(ch.eye_rgb, 0.3))
        pen.ellipse((ex - side * 0.25 * ew, ey - 0.25 * eh), (ew * 0.2, eh * 0.16), 0, (255.0, 255.0, 255.0))
        pen.curve(
            _ellipse_pts((ex, ey + 0.01 * fh), (ew * 1.1, eh * 0.95), tilt, 16, math.pi * 1.05, math.pi * 1.95),
            lash,
            0.011,
        )
        pen.curve(
            _ellipse_pts((ex, ey - 0.16 * fh), (ew * 1.0, eh * 0.35), 0, 12, math.pi * 1.1, math.pi * 1.9),
            hair_dark,
            0.006,
        )

    pen.curve(np.array([[fx, fy + 0.21 * fh], [fx - 0.012 * fw, fy + 0.25 * fh]]), line, 0.003)  # nose

    rng = pen.rng = part("mouth")
    # Mouth: a smile curves up (sometimes open); otherwise flat, a small frown, or a small "o".
    my, mw = fy + 0.35 * fh, rng.uniform(0.07, 0.12) * fw
    mouth_line = (110.0, 40.0, 40.0)
    if smile:
        if rng.random() < 0.5:
            pen.poly(
                _ellipse_pts((fx, my - 0.01 * fh), (mw, 0.05 * fh), 0, 20, 0, math.pi),
                (150.0, 40.0, 50.0),
                mouth_line,
                0.003,
            )
        else:
            pen.curve(_ellipse_pts((fx, my - 0.02 * fh), (mw, 0.04 * fh), 0, 16, 0.1, math.pi - 0.1), mouth_line, 0.006)
    else:
        kind = rng.integers(3)
        if kind == 0:
            pen.curve(np.array([[fx - mw * 0.8, my], [fx + mw * 0.8, my]]), mouth_line, 0.005)
        elif kind == 1:
            pen.curve(
                _ellipse_pts((fx, my + 0.02 * fh), (mw * 0.8, 0.025 * fh), 0, 16, math.pi + 0.2, 2 * math.pi - 0.2),
                mouth_line,
                0.005,
            )
        else:
            pen.ellipse((fx, my), (0.025 * fw, 0.025 * fh), 0, (150.0, 40.0, 50.0), mouth_line, 0.003)

    rng = pen.rng = part("blush")
    if blush:
        for side in (-1, 1):
            cx, cy = fx + side * 0.25 * fw, fy + 0.24 * fh
            pen.blend_ellipse((cx, cy), (0.1 * fw, 0.045 * fh), (245.0, 95.0, 120.0), rng.uniform(0.55, 0.8))
            for k in range(3):
                x0 = cx + (k - 1) * 0.04 * fw
                pen.curve(
                    np.array([[x0 + 0.015 * fw, cy - 0.02 * fh], [x0 - 0.015 * fw, cy + 0.02 * fh]]),
                    (215.0, 60.0, 90.0),
                    0.003,
                )

    rng = pen.rng = part("glasses")
    if ch.glasses == "yes":
        frame = ch.frame_rgb
        for side in (-1, 1):
            ex = fx + side * 0.22 * fw
            if ch.glasses_round:
                pen.curve(_ellipse_pts((ex, ey + 0.01 * fh), (ew * 1.35, eh * 1.2), 0, 32), frame, 0.008, closed=True)
            else:
                x0, x1, y0, y1 = ex - ew * 1.4, ex + ew * 1.4, ey - eh * 1.0, ey + eh * 1.15
                pen.curve(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), frame, 0.008, closed=True)
            pen.curve(
                np.array([[ex + side * ew * 1.38, ey - 0.02 * fh], [fx + side * 0.5 * fw, ey - 0.04 * fh]]),
                frame,
                0.006,
            )
        pen.curve(np.array([[fx - 0.22 * fw + ew * 1.3, ey], [fx + 0.22 * fw - ew * 1.3, ey]]), frame, 0.007)

    rng = pen.rng = part("bangs")
    # Bangs: spikes from the hairline down to the brows; side locks whose length shows the hair length.
    hair_top = fy - 0.5 * fh
    xs = np.linspace(fx - 0.55 * fw, fx + 0.55 * fw, ch.bangs + 1)
    bangs = [[fx - 0.6 * fw, fy - 0.05 * fh], [fx - 0.6 * fw, hair_top + 0.1 * fh]]
    bangs += [[fx + 0.6 * fw, hair_top + 0.1 * fh], [fx + 0.6 * fw, fy - 0.05 * fh]]
    spikes = []
    for i in range(ch.bangs):
        tip_y = fy - rng.uniform(0.02, 0.14) * fh
        spikes += [[xs[i], fy - 0.16 * fh], [(xs[i] + xs[i + 1]) / 2 + rng.uniform(-0.03, 0.03) * fw, tip_y]]
    spikes.append([xs[-1], fy - 0.16 * fh])
    cap_front = _ellipse_pts((fx, fy - 0.12 * fh), (fw * 0.6, fh * 0.5), 0, 24, math.pi, 2 * math.pi)
    pen.poly(np.concatenate([cap_front, np.array(spikes[::-1])]), hair, hair_dark, 0.006)
    lock_end = {"short": fy + 0.12 * fh, "medium": fy + 0.55 * fh, "long": 0.97}[length]
    for side in (-1, 1):
        x_in, x_out = fx + side * 0.42 * fw, fx + side * 0.62 * fw
        pen.poly(
            np.array(
                [
                    [x_in, fy - 0.2 * fh],
                    [x_out, fy - 0.2 * fh],
                    [x_out + side * 0.05 * fw, lock_end],
                    [(x_in + x_out) / 2, lock_end + 0.03 * fh],
                ]
            ),
            hair,
            hair_dark,
            0.006,
        )
    pen.curve(
        _ellipse_pts((fx, fy - 0.16 * fh), (fw * 0.42, fh * 0.22), 0, 16, math.pi * 1.2, math.pi * 1.8),
        hair_light,
        0.012,
    )

    rng = pen.rng = part("occluder")
    if occlude:
        if rng.random() < 0.5:  # a hand at the cheek, fingers up
            side = rng.choice([-1, 1])
            hx, hy = fx + side * rng.uniform(0.35, 0.6) * fw, fy + rng.uniform(0.35, 0.6) * fh
            pen.ellipse((hx, hy), (0.16 * fw, 0.2 * fh), side * 0.3, skin, line, 0.004)
            for k in range(3):
                x = hx - side * (0.05 + 0.05 * k) * fw
                pen.curve(np.array([[x, hy - 0.15 * fh], [x + side * 0.02 * fw, hy]]), line, 0.003)
        else:  # stray strands across the forehead and cheeks
            for _ in range(int(rng.integers(2, 5))):
                x0 = fx + rng.uniform(-0.5, 0.5) * fw
                pts = np.array(
                    [
                        [x0, fy - 0.3 * fh],
                        [x0 + rng.uniform(-0.15, 0.15) * fw, fy - 0.05 * fh],
                        [x0 + rng.uniform(-0.25, 0.25) * fw, fy + rng.uniform(0.1, 0.4) * fh],
                    ]
                )
                pen.curve(pts, hair, 0.007)


def with_value(ch: Character, group: str, value: str, rng: np.random.Generator, nz: NuisanceParams) -> Character:
    """The same character with one of its own groups (hair colour, hair length, eye colour, glasses) set to `value`:
    a new colour is drawn around that value's hue from `rng`, everything else stays; a character that has the value
    already comes back as it is. Expression groups (smile, blush) belong to a view: `render_view` takes them."""
    if value not in ATTRIBUTES[group]:
        raise ValueError(f"{group}={value}: its values are {', '.join(ATTRIBUTES[group])}")
    if group in ("hair_color", "hair_length", "eye_color", "glasses") and getattr(ch, group) == value:
        return ch
    if group == "hair_color":
        return replace(ch, hair_color=value, hair_rgb=_jitter_hsv(rng, HAIR_HSV[value], nz.color_jitter))
    if group == "eye_color":
        return replace(ch, eye_color=value, eye_rgb=_jitter_hsv(rng, EYE_HSV[value], nz.color_jitter))
    if group in ("hair_length", "glasses"):
        return replace(ch, **{group: value})
    raise ValueError(f"{group} is drawn per view: pass it to render_view")


def render_view(
    ch: Character,
    seed_seq: list[int],
    size: int,
    supersample: int,
    nz: NuisanceParams,
    expression: dict[str, str] | None = None,
    parts: bool = False,
) -> tuple[np.ndarray, dict[str, str]]:
    """One view of a character: an RGB uint8 image [size, size, 3] and its full attribute dict.

    `expression` ({"smile": "yes", ...}) overrides the view's drawn smile or blush. `parts` gives every part of the
    drawing and the view's framing a random stream of its own (from `seed_seq` and the part's name), so that a
    character changed in one attribute (`with_value`, `expression`) is drawn with every other part the same, pixel
    for pixel; the data set's images use one shared stream (parts=False): the same prior, other images."""
    rng = np.random.default_rng(seed_seq)
    names = ("line", "back_hair", "neck", "face", "eyes", "mouth", "blush", "glasses", "bangs", "occluder", "view")
    streams = {n: np.random.default_rng([*seed_seq, 1 + i]) for i, n in enumerate(names)} if parts else None
    side = size * supersample
    smile = rng.random() < PRIORS["smile"]
    blush = rng.random() < PRIORS["blush"]
    for group, value in (expression or {}).items():
        if group not in ("smile", "blush") or value not in ("no", "yes"):
            raise ValueError(f"expression {group}={value}: smile or blush, yes or no")
        smile, blush = (value == "yes", blush) if group == "smile" else (smile, value == "yes")
    bg = _background(rng, side, nz)
    layer = np.zeros((side, side, 3), np.float32)
    mask = np.zeros((side, side, 1), np.float32)
    pen = _Pen(layer, mask, rng, nz.line_width_jitter)
    _draw_character(pen, ch, smile, blush, rng, rng.random() < nz.occluder, streams.get if streams else None)
    if streams:
        rng = streams["view"]
    angle = rng.uniform(-nz.tilt_deg, nz.tilt_deg)
    scale = rng.uniform(nz.scale.lo, nz.scale.hi)
    shift = rng.uniform(-nz.jitter, nz.jitter, size=2) * side
    m = cv2.getRotationMatrix2D((side * 0.5, side * 0.55), angle, scale)
    m[:, 2] += shift
    layer = cv2.warpAffine(layer, m, (side, side), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(mask, m, (side, side), flags=cv2.INTER_LINEAR)[..., None]
    img = bg * (1 - alpha) + layer * alpha
    img *= rng.uniform(nz.brightness.lo, nz.brightness.hi)
    if supersample > 1:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    attrs = {
        "hair_color": ch.hair_color,
        "hair_length": ch.hair_length,
        "eye_color": ch.eye_color,
        "glasses": ch.glasses,
        "smile": "yes" if smile else "no",
        "blush": "yes" if blush else "no",
    }
    return out, attrs


def render_index(index: int, seed: int, p: GeneratedParams) -> tuple[np.ndarray, dict[str, str], int]:
    """Image number `index` of the set: (image, attributes, character number). Pure function of its arguments."""
    char_id, view = divmod(index, p.views_per_character)
    ch = sample_character(np.random.default_rng([seed, 0, char_id]), p.nuisance)
    img, attrs = render_view(ch, [seed, 1, char_id, view], p.render_size, p.supersample, p.nuisance)
    return img, attrs, char_id


if __name__ == "__main__":  # the command line moved to synth/faces/__main__.py
    raise SystemExit("python -m synth.faces.render is now python -m synth.faces (same flags)")
