"""Hand-drawn-style stick figures: what a person draws with a mouse, a pen or a pencil, for posenet to read.

One ink colour on a plain or paper-tinted background, no joint dots, no colour code for the limbs: the character's
left cannot be read from such a figure, so its joints are labelled by the canonical rule of
synth/pose/skeleton.py (`canonical_left_right`: the figure seen as facing the viewer).

A figure is a few strokes, drawn the way people draw them: the spine; the arms either as one stroke (hand, shoulder,
neck, shoulder, hand) or as a shoulder line plus one stroke per arm, bent at the elbow for a share `elbows` of the
figures; the legs either as one stroke (foot, knee, pelvis, knee, foot) or one per leg; the head as a circle (one
stroke, not quite closed or overshooting), two or three arcs, or a filled disk, with a neck stroke up to it (or,
for a share `no_neck`, the head sitting on the neck). Every stroke wobbles (low-frequency noise across it, up to
`wobble` px), its ends stop short of or run past their joint (up to `ends` px), its width varies per stroke and
along it (`width` px per figure). Ink: black, ballpoint blue or pencil grey (lighter, grainy). All sizes are pixels
of a 64 px image, scaled with the image; drawn `ss` times larger with anti-aliasing, then area-averaged down.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from core.params import DrawnStyle
from synth.pose.skeleton import P

_SHIFT = 4  # cv2 drawing with 1/16-pixel precision
_ONE = 1 << _SHIFT

# ink colours (RGB) with their share; pencil is drawn lighter and grainy
INKS = (("black", 0.45), ("blue", 0.3), ("pencil", 0.25))


def _ink(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    kind = str(rng.choice([k for k, _ in INKS], p=[w for _, w in INKS]))
    if kind == "black":
        g = rng.uniform(10, 60)
        return np.array([g, g, g]) + rng.uniform(-8, 8, 3), kind
    if kind == "blue":
        return np.array([rng.uniform(15, 60), rng.uniform(30, 90), rng.uniform(120, 200)]), kind
    g = rng.uniform(70, 130)
    return np.array([g, g, g + rng.uniform(0, 12)]), kind


def _background(c: int, rng: np.random.Generator) -> np.ndarray:
    """float32 [c, c, 3]: white, paper-tinted or light grey, with a faint lighting gradient."""
    pick = rng.random()
    if pick < 0.45:
        base = np.full(3, rng.uniform(238, 255))
    elif pick < 0.8:  # paper: warm, a little darker in blue
        base = np.array([rng.uniform(236, 252), rng.uniform(228, 246), rng.uniform(205, 235)])
    else:
        base = np.full(3, rng.uniform(215, 240)) + rng.uniform(-4, 4, 3)
    t = np.linspace(-1, 1, c, dtype=np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    ramp = math.cos(ang) * t[None, :] + math.sin(ang) * t[:, None]
    shade = 1 - rng.uniform(0, 0.06) * (ramp + 1) / 2
    return (shade[..., None] * base[None, None, :]).astype(np.float32)


def _wobbly(points: np.ndarray, amp: float, rng: np.random.Generator, closed: bool = False) -> np.ndarray:
    """A polyline through `points` [K, 2], resampled densely, displaced across itself by low-frequency noise of
    amplitude up to `amp` (canvas px): [M, 2]."""
    seg = np.diff(points, axis=0)
    lengths = np.linalg.norm(seg, axis=1)
    total = float(lengths.sum())
    if total < 1e-6:
        return points.copy()
    n = max(8, int(total / 3))
    s = np.linspace(0, total, n)
    cum = np.concatenate([[0.0], np.cumsum(lengths)])
    xy = np.stack([np.interp(s, cum, points[:, k]) for k in range(2)], axis=1)
    # the normal of the segment each sample lies on
    k = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
    d = seg[k] / np.maximum(lengths[k], 1e-6)[:, None]
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
    u = s / total
    off = np.zeros(n)
    for _ in range(3):  # a few slow waves: 0.5 to 2.5 periods over the stroke
        f = rng.uniform(0.5, 2.5) if not closed else float(rng.integers(1, 4))
        off += rng.uniform(0.3, 1.0) * np.sin(2 * math.pi * f * u + rng.uniform(0, 2 * math.pi))
    off *= amp / max(np.abs(off).max(), 1e-6) * rng.uniform(0.4, 1.0)
    return xy + normal * off[:, None]


def _extend(points: np.ndarray, ends: float, rng: np.random.Generator) -> np.ndarray:
    """Move the first and last point along their segment: past the joint (overshoot) or short of it (gap)."""
    out = points.astype(np.float64).copy()
    for i, j in ((0, 1), (-1, -2)):
        d = out[i] - out[j]
        n = float(np.linalg.norm(d))
        if n > 1e-6:
            out[i] = out[i] + d / n * min(rng.uniform(-ends, ends), 0.4 * n)
    return out


def _stroke(mask: np.ndarray, xy: np.ndarray, width: float, rng: np.random.Generator) -> None:
    """Draw polyline xy on `mask` (uint8) with a width that swells and thins along it (pen pressure)."""
    n = len(xy)
    phase, wave = rng.uniform(0, 2 * math.pi), rng.uniform(0.1, 0.25)
    for i in range(n - 1):
        w = width * (1 + wave * math.sin(phase + 2 * math.pi * i / max(n - 1, 1)))
        a, b = xy[i], xy[i + 1]
        pa = int(round(a[0] * _ONE)), int(round(a[1] * _ONE))
        pb = int(round(b[0] * _ONE)), int(round(b[1] * _ONE))
        cv2.line(mask, pa, pb, 255, max(1, int(round(w))), cv2.LINE_AA, _SHIFT)


def _ellipse(centre: np.ndarray, r: float, rng: np.random.Generator, start: float, sweep: float) -> np.ndarray:
    ax, ay = r * rng.uniform(0.88, 1.12), r * rng.uniform(0.88, 1.12)
    rot = rng.uniform(0, math.pi)
    t = start + np.linspace(0, sweep, max(12, int(abs(sweep) * r / 2)))
    x, y = ax * np.cos(t), ay * np.sin(t)
    c, s = math.cos(rot), math.sin(rot)
    return np.stack([centre[0] + c * x - s * y, centre[1] + s * x + c * y], axis=1)


HEADS, HEAD_SHARES = ("circle", "arcs", "filled"), (0.55, 0.25, 0.2)


def _head(mask: np.ndarray, centre: np.ndarray, r: float, kind: str, amp: float, width: float, rng) -> None:
    """A circle (one stroke, a little short of closing or past it), two or three overlapping arcs, or a disk."""
    if kind == "filled":
        ring = _wobbly(_ellipse(centre, r, rng, 0, 2 * math.pi), amp, rng, closed=True)
        cv2.fillPoly(mask, [np.round(ring * _ONE).astype(np.int32)], 255, cv2.LINE_AA, _SHIFT)
    elif kind == "arcs":
        k = int(rng.integers(2, 4))
        start = rng.uniform(0, 2 * math.pi)
        for i in range(k):
            a0 = start + 2 * math.pi * i / k - rng.uniform(0.1, 0.4)
            arc = _ellipse(centre, r, rng, a0, 2 * math.pi / k + rng.uniform(0.2, 0.6))
            _stroke(mask, _wobbly(arc, amp, rng), width * rng.uniform(0.8, 1.2), rng)
    else:
        sweep = 2 * math.pi * rng.uniform(0.9, 1.12) * (1 if rng.random() < 0.5 else -1)
        ring = _ellipse(centre, r, rng, rng.uniform(0, 2 * math.pi), sweep)
        _stroke(mask, _wobbly(ring, amp, rng, closed=True), width * rng.uniform(0.8, 1.2), rng)


def draw_drawn(points: np.ndarray, size: int, ss: int, rng: np.random.Generator, style: DrawnStyle) -> np.ndarray:
    """The hand-drawn-style figure of `points` [len(ALL_POINTS), 2] (output pixels; the 11 joints first, then the
    simulated elbows): uint8 RGB [size, size]."""
    c = size * ss
    unit = size / 64 * ss  # canvas px per px of a 64 px image
    pts = (np.asarray(points, np.float64) + 0.5) * ss - 0.5
    at = {name: pts[i] for name, i in P.items()}
    mask = np.zeros((c, c), np.uint8)
    width = rng.uniform(style.width.lo, style.width.hi) * unit
    amp, ends = style.wobble * unit, style.ends * unit

    def stroke(names_or_pts, closed: bool = False, extend: bool = True) -> None:
        poly = np.array([at[n] if isinstance(n, str) else n for n in names_or_pts], np.float64)
        if extend:
            poly = _extend(poly, ends, rng)
        _stroke(mask, _wobbly(poly, amp, rng, closed), width * rng.uniform(0.8, 1.25), rng)

    def arm(side: str) -> list[str]:
        bend = rng.random() < style.elbows
        return [f"{side}_shoulder"] + ([f"{side}_elbow"] if bend else []) + [f"{side}_hand"]

    strokes: list = [lambda: stroke(["neck", "pelvis"])]
    if rng.random() < 0.4:  # both arms in one stroke through the shoulders and the neck
        arms = arm("left")[::-1] + ["neck"] + arm("right")
        strokes.append(lambda: stroke(arms))
    else:
        left, right = arm("left"), arm("right")
        strokes += [
            lambda: stroke(["left_shoulder", "neck", "right_shoulder"]),
            lambda: stroke(left),
            lambda: stroke(right),
        ]
    if rng.random() < 0.4:
        strokes.append(lambda: stroke(["left_foot", "left_knee", "pelvis", "right_knee", "right_foot"]))
    else:
        strokes += [
            lambda: stroke(["pelvis", "left_knee", "left_foot"]),
            lambda: stroke(["pelvis", "right_knee", "right_foot"]),
        ]

    head, neck = at["head"], at["neck"]
    reach = float(np.linalg.norm(head - neck))
    up = (head - neck) / max(reach, 1e-6)
    if rng.random() < style.no_neck:
        r = reach * rng.uniform(0.9, 1.05)  # the head sits on the neck
    else:
        r = reach * rng.uniform(0.5, 0.85)
        chin = head - up * r
        strokes.append(lambda: stroke([neck, chin]))
    r = max(r, 1.5 * unit)
    head_style = str(rng.choice(HEADS, p=HEAD_SHARES))
    strokes.append(lambda: _head(mask, head, r, head_style, amp * 0.5, width, rng))
    for k in rng.permutation(len(strokes)):  # the drawing order moves nothing, but the random draws do
        strokes[k]()

    ink, kind = _ink(rng)
    alpha = mask.astype(np.float32) / 255
    if kind == "pencil":  # lighter, with paper grain
        alpha *= rng.uniform(0.55, 0.9) * rng.uniform(0.6, 1.0, alpha.shape).astype(np.float32)
    bg = _background(c, rng)
    img = bg * (1 - alpha[..., None]) + ink.astype(np.float32)[None, None, :] * alpha[..., None]
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)
