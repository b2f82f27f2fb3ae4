"""OpenCV pose data: for one 3D pose and camera, a stick figure, a 3D-model projection and a sketch, all aligned.

- **Stick figure** (RGB): the 11 joints as dots and the 10 sticks, each stick in its own fixed colour (the OpenPose
  convention), so the character's left is readable from any camera; line width varies per image.
- **Projection** (grey): an articulated mannequin of capsules and spheres on the same skeleton (plus simulated elbows,
  hips, hands, feet and a nose), ray-cast per pixel with a depth buffer, Lambert-shaded under a random light,
  thresholded into cel tones (`cv2.threshold`), then Gaussian-blurred (`cv2.GaussianBlur`).
- **Drawn** (RGB): the same joints drawn the way a person draws a stick figure, in one colour (synth/pose/drawn.py);
  labelled by the one-colour left/right rule (synth/pose/skeleton.py `canonical_left_right`) where it is read.
- **Sketch** (grey): the outline of the same mannequin (body-part boundaries and depth folds of the depth buffer),
  with an anime-style head: spiky hair, and the eyes and mouth when the face turns to the camera. The target of
  pose -> sketch.

All share one random scale and translation per sample (so that stick figure -> sketch pairs align), and so
share one ground truth: the 11 joints in output pixels (pixel centres at integers), `left_*` the character's own left
(see synth/pose/skeleton.py). Everything is drawn `supersample` times larger and reduced with area averaging.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from core.params import DrawnStyle
from synth.pose.drawn import draw_drawn
from synth.pose.skeleton import ALL_POINTS, JOINTS, STICK_INDEX, Camera, P, Pose, fit_to_image

KINDS = ("stick", "projection", "sketch", "drawn")

# one colour per stick (RGB), in STICKS order; the character's left limbs warm, its right limbs cool
STICK_COLORS = (
    (230, 0, 120),  # head-neck
    (255, 120, 0),  # neck-left_shoulder
    (0, 150, 255),  # neck-right_shoulder
    (230, 200, 0),  # left arm
    (0, 90, 200),  # right arm
    (150, 0, 200),  # neck-pelvis
    (240, 60, 40),  # pelvis-left_knee
    (0, 200, 170),  # pelvis-right_knee
    (180, 30, 0),  # left shin
    (30, 140, 60),  # right shin
)

# the mannequin: (from, to, radius in body units, body part); a sphere has from == to
HEAD_R = 0.11
CAPSULES = (
    ("head", "head", HEAD_R, 1),
    ("nose", "nose", 0.028, 1),
    ("neck", "head", 0.045, 2),
    ("left_shoulder", "right_shoulder", 0.07, 2),
    ("neck", "pelvis", 0.1, 2),
    ("left_hip", "right_hip", 0.09, 2),
    ("left_shoulder", "left_elbow", 0.045, 3),
    ("left_elbow", "left_hand", 0.04, 3),
    ("left_hand", "left_hand", 0.05, 3),
    ("right_shoulder", "right_elbow", 0.045, 4),
    ("right_elbow", "right_hand", 0.04, 4),
    ("right_hand", "right_hand", 0.05, 4),
    ("left_hip", "left_knee", 0.065, 5),
    ("left_knee", "left_foot", 0.05, 5),
    ("left_foot", "left_foot", 0.055, 5),
    ("right_hip", "right_knee", 0.065, 6),
    ("right_knee", "right_foot", 0.05, 6),
    ("right_foot", "right_foot", 0.055, 6),
)
_SHIFT = 4  # cv2 drawing with 1/16-pixel precision
_ONE = 1 << _SHIFT


def _fixed(pt) -> tuple[int, int]:
    return int(round(pt[0] * _ONE)), int(round(pt[1] * _ONE))


def _downsample(img: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _to_canvas(xy: np.ndarray, ss: int) -> np.ndarray:
    """Output pixel coordinates -> canvas coordinates (pixel centres at integers in both)."""
    return (xy + 0.5) * ss - 0.5


def draw_stick(joints: np.ndarray, size: int, ss: int, rng: np.random.Generator) -> np.ndarray:
    """The stick figure of `joints` [11, 2] (output pixels): uint8 RGB [size, size, 3]."""
    c = size * ss
    bg = int(rng.integers(235, 256))
    img = np.full((c, c, 3), bg, np.uint8)
    pts = _to_canvas(joints, ss)
    width = rng.uniform(1.0, 2.6) * size / 64 * ss
    order = rng.permutation(len(STICK_INDEX))
    for k in order:
        a, b = STICK_INDEX[k]
        cv2.line(img, _fixed(pts[a]), _fixed(pts[b]), STICK_COLORS[k], max(1, round(width)), cv2.LINE_AA, _SHIFT)
    dot = max(1, round(width * rng.uniform(0.5, 0.9)))
    for p in pts:
        cv2.circle(img, _fixed(p), dot * _ONE, (40, 40, 40), -1, cv2.LINE_AA, _SHIFT)
    return _downsample(img, size)


def _raster_mannequin(uv: np.ndarray, depth: np.ndarray, scale: float, c: int) -> tuple[np.ndarray, ...]:
    """Ray-cast the capsules: (depth buffer, normals [c, c, 3] (x right, y up, z to the camera), part labels)."""
    zbuf = np.full((c, c), -np.inf, np.float32)
    normal = np.zeros((c, c, 3), np.float32)
    part = np.zeros((c, c), np.uint8)
    for a_name, b_name, radius, label in CAPSULES:
        a, b = uv[P[a_name]], uv[P[b_name]]
        za, zb = depth[P[a_name]], depth[P[b_name]]
        r = radius * scale
        x0, y0 = np.floor(np.minimum(a, b) - r).astype(int)
        x1, y1 = np.ceil(np.maximum(a, b) + r).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1 + 1, c), min(y1 + 1, c)
        if x0 >= x1 or y0 >= y1:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        ab = b - a
        ll = float(ab @ ab)
        t = np.zeros_like(xs) if ll < 1e-9 else np.clip(((xs - a[0]) * ab[0] + (ys - a[1]) * ab[1]) / ll, 0, 1)
        dx, dy = xs - (a[0] + t * ab[0]), ys - (a[1] + t * ab[1])
        d2 = dx * dx + dy * dy
        inside = d2 < r * r
        h = np.sqrt(np.maximum(r * r - d2, 0))
        z = za + t * (zb - za) + h
        win = inside & (z > zbuf[y0:y1, x0:x1])
        if not win.any():
            continue
        zbuf[y0:y1, x0:x1][win] = z[win]
        part[y0:y1, x0:x1][win] = label
        n = normal[y0:y1, x0:x1]
        n[..., 0][win] = dx[win] / r
        n[..., 1][win] = -dy[win] / r
        n[..., 2][win] = h[win] / r
    return zbuf, normal, part


def _projection(zbuf, normal, part, size: int, ss: int, rng: np.random.Generator) -> np.ndarray:
    light = np.array([rng.uniform(-0.7, 0.7), rng.uniform(0.2, 0.9), 1.0])
    light /= np.linalg.norm(light)
    ambient = rng.uniform(0.15, 0.35)
    shade = ambient + (1 - ambient) * np.clip(normal @ light.astype(np.float32), 0, 1)
    shade8 = (shade * 255).astype(np.uint8)
    _, lit = cv2.threshold(shade8, int(rng.uniform(0.7, 0.85) * 255), 255, cv2.THRESH_BINARY)
    _, mid = cv2.threshold(shade8, int(rng.uniform(0.4, 0.55) * 255), 255, cv2.THRESH_BINARY)
    body = part > 0
    tones = np.full(part.shape, int(rng.integers(235, 256)), np.uint8)
    dark, middle, light_t = int(rng.integers(40, 80)), int(rng.integers(110, 150)), int(rng.integers(185, 215))
    tones[body] = dark
    tones[body & (mid > 0)] = middle
    tones[body & (lit > 0)] = light_t
    sigma = rng.uniform(0.3, 0.9) * ss
    tones = cv2.GaussianBlur(tones, (0, 0), sigma)
    return _downsample(tones, size)


def _sketch(
    zbuf, part, joints_c: np.ndarray, pts_view: np.ndarray, scale: float, size: int, ss: int, rng
) -> np.ndarray:
    k = np.ones((3, 3), np.uint8)
    edges = cv2.dilate(part, k) != cv2.erode(part, k)  # silhouette and part boundaries
    z = np.where(np.isfinite(zbuf), zbuf, -1e4).astype(np.float32)
    jump = cv2.dilate(z, k) - cv2.erode(z, k)
    folds = (jump > 0.1 * scale) & (cv2.erode(part, k) > 0)  # a limb in front of its own part (a depth step)
    line = (edges | folds).astype(np.uint8) * 255
    width = max(1, round(rng.uniform(0.4, 0.8) * ss * size / 64))
    if width > 1:
        line = cv2.dilate(line, np.ones((width, width), np.uint8))
    img = 255 - line
    # the anime head: spiky hair over the head sphere; eyes and mouth when the face turns to the camera
    head, nose, neck = joints_c[P["head"]], joints_c[P["nose"]], joints_c[P["neck"]]
    r = HEAD_R * scale
    up = head - neck
    up = up / max(np.linalg.norm(up), 1e-6)
    side = np.array([-up[1], up[0]])
    spikes = int(rng.integers(5, 9))
    hair = []
    for i in range(2 * spikes + 1):  # a half circle of spikes centred on the top of the head
        t = math.pi * (-0.62 + 1.24 * i / (2 * spikes))
        rr = r * (rng.uniform(1.2, 1.45) if i % 2 else 1.02)
        hair.append(head + rr * (math.cos(t) * up + math.sin(t) * side))
    hair = np.array(hair)
    lw = max(1, width)
    cv2.fillPoly(img, [np.round(hair * _ONE).astype(np.int32)], 255, cv2.LINE_AA, _SHIFT)
    cv2.polylines(img, [np.round(hair * _ONE).astype(np.int32)], False, 0, lw, cv2.LINE_AA, _SHIFT)
    facing = pts_view[P["nose"], 2] - pts_view[P["head"], 2]
    if facing > 0.3 * HEAD_R:
        fwd = nose - head
        for s in (-1, 1):
            eye = head + 0.55 * fwd + s * 0.42 * r * side + 0.05 * r * up
            axes = (max(1, round(0.14 * r)) * _ONE, max(1, round(0.22 * r)) * _ONE)
            ang = math.degrees(math.atan2(side[1], side[0]))
            cv2.ellipse(img, _fixed(eye), axes, ang, 0, 360, 0, -1, cv2.LINE_AA, _SHIFT)
        mouth = head + 0.7 * fwd - 0.45 * r * up
        m = 0.15 * r * side
        cv2.line(img, _fixed(mouth - m), _fixed(mouth + m), 0, lw, cv2.LINE_AA, _SHIFT)
    else:  # the back of the head: hair strands
        for i in (-1, 0, 1):
            a, b = head + 0.9 * r * up + 0.4 * i * r * side, head - 0.6 * r * up + 0.5 * i * r * side
            cv2.line(img, _fixed(a), _fixed(b), 0, lw, cv2.LINE_AA, _SHIFT)
    return _downsample(img, size)


def place(pose: Pose, camera: Camera, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Where the pose's points land on a size x size image (one random scale and translation): (pixels
    [len(ALL_POINTS), 2], depth in body units [len(ALL_POINTS)], pixels per body unit)."""
    uv, depth = camera.project(pose.points3d())
    # the bounding box counts the head sphere and the hair
    ext = np.concatenate([uv, uv[P["head"]] + 1.5 * HEAD_R * np.array([[-1, -1], [1, 1], [-1, 1], [1, -1]])])
    scale, offset = fit_to_image(ext, size, rng)
    return uv * scale + offset, depth, scale


def render_sample(
    pose: Pose,
    camera: Camera,
    size: int,
    ss: int,
    rng: np.random.Generator,
    drawn: tuple[DrawnStyle, np.random.Generator] | None = None,
) -> dict:
    """{'stick': RGB [S, S, 3], 'projection': grey [S, S], 'sketch': grey [S, S], 'joints': float32 [11, 2]}, plus
    'drawn' (RGB [S, S, 3]) when `drawn` gives its style and its own generator (so that the drawn figure's draws
    never change the other kinds' images)."""
    pts = pose.points3d()
    out_xy, depth, scale = place(pose, camera, size, rng)
    joints = out_xy[: len(JOINTS)].astype(np.float32)
    c = size * ss
    canvas = _to_canvas(out_xy, ss)
    zc = depth * scale * ss
    zbuf, normal, part = _raster_mannequin(canvas, zc, scale * ss, c)
    out = {
        "stick": draw_stick(joints, size, ss, rng),
        "projection": _projection(zbuf, normal, part, size, ss, rng),
        "sketch": _sketch(zbuf, part, canvas, camera.view(pts), scale * ss, size, ss, rng),
        "joints": joints,
    }
    if drawn is not None:
        out["drawn"] = draw_drawn(out_xy, size, ss, drawn[1], drawn[0])
    return out


assert len(STICK_COLORS) == len(STICK_INDEX) and len(ALL_POINTS) == len(set(ALL_POINTS))
