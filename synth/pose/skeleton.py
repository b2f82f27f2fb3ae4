"""The 11-joint skeleton: 3D poses sampled within joint-angle limits, cameras, and their projection to pixels.

Joints, in this order everywhere (labels, models, files): head, neck, left_shoulder, right_shoulder, left_hand,
right_hand, pelvis, left_knee, right_knee, left_foot, right_foot; the 22-number vector is (x0, y0, x1, y1, ...) in
pixels of the image it belongs to, x to the right, y down.

**Left/right rule:** `left_*` is the character's own left, whatever the camera. Seen from the front (camera yaw 0)
the character's left is on the image's right; seen from the back, on the image's left.

**One-colour rule** (`canonical_left_right`): a figure drawn in one colour does not say which way it faces, so its
joints are labelled as if it faced the viewer: of the two arms, the one whose shoulder lies further right in the
image is the left arm (left_shoulder, left_hand); of the two legs, the one whose knee lies further right is the left
leg (left_knee, left_foot). posenet's targets for such figures and the truth they are scored against both follow it.

The body frame: x = the character's left, y = up, z = the way the character faces; the pelvis at the origin, a
standing body about 1.7 units tall. Elbows and hips are simulated (the mannequin bends there) but are not joints of
the 11. A camera turns the body by yaw (about y), pitch (about x) and roll (about the view axis) and projects with
a mild perspective; yaw 0 looks at the character's face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.names import JOINTS, POSE_FAMILIES, STICKS

J = {name: i for i, name in enumerate(JOINTS)}
STICK_INDEX = tuple((J[a], J[b]) for a, b in STICKS)
# the image's mirror swaps these joints (for flip augmentation): the character's left becomes its right
MIRROR = tuple(J[n.replace("left_", "#").replace("right_", "left_").replace("#", "right_")] for n in JOINTS)

_ARM = (J["left_shoulder"], J["left_hand"], J["right_shoulder"], J["right_hand"])
_LEG = (J["left_knee"], J["left_foot"], J["right_knee"], J["right_foot"])


def canonical_left_right(joints: np.ndarray) -> np.ndarray:
    """Joints [..., 11, 2] relabelled by the one-colour rule (see the module docstring): the arm whose shoulder has
    the larger x becomes the left arm, the leg whose knee has the larger x the left leg; a tie keeps the labels."""
    out = np.array(joints, copy=True)
    for left_a, left_b, right_a, right_b in (_ARM, _LEG):
        swap = out[..., left_a, 0] < out[..., right_a, 0]
        for a, b in ((left_a, right_a), (left_b, right_b)):
            la, ra = out[..., a, :].copy(), out[..., b, :].copy()
            out[..., a, :] = np.where(swap[..., None], ra, la)
            out[..., b, :] = np.where(swap[..., None], la, ra)
    return out


# simulated points beyond the 11 (the mannequin's elbows and hips, the face's direction)
EXTRA = ("left_elbow", "right_elbow", "left_hip", "right_hip", "nose")
ALL_POINTS = JOINTS + EXTRA
P = {name: i for i, name in enumerate(ALL_POINTS)}

FAMILIES = POSE_FAMILIES

# segment lengths (body units; a standing figure is ~1.7 tall)
SPINE, NECK, HEAD = 0.50, 0.10, 0.13
SHOULDER_W, HIP_W = 0.17, 0.09
UPPER_ARM, FOREARM = 0.28, 0.27
THIGH, SHIN = 0.42, 0.42

# joint-angle limits in degrees (every sampled pose stays inside them; tested)
LIMITS = {
    "lean": (-20.0, 35.0),  # spine forward (+) / backward
    "side_bend": (-15.0, 15.0),
    "twist": (-35.0, 35.0),  # upper body about the spine
    "head_tilt": (-20.0, 20.0),
    "head_turn": (-40.0, 40.0),
    "shoulder_flex": (-50.0, 180.0),  # arm forward (+) / back, from hanging down
    "shoulder_abd": (0.0, 180.0),  # arm out to the side; 180 = straight up
    "elbow": (0.0, 150.0),  # forearm folding forward
    "hip_flex": (-40.0, 120.0),  # thigh forward (+) / back
    "hip_abd": (-10.0, 50.0),
    "knee": (0.0, 150.0),  # shin folding back
}


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _limb_dir(flex: float, abd: float, side: int) -> np.ndarray:
    """Direction of a limb from hanging straight down: `flex` swings it forward (+z), `abd` out to `side`
    (+1 the character's left, -1 its right). Degrees."""
    f, b = math.radians(flex), math.radians(abd)
    d = np.array([side * math.sin(b), -math.cos(b) * math.cos(f), math.cos(b) * math.sin(f)])
    if abs(math.cos(b)) < 1e-6:
        return d / np.linalg.norm(d)
    return d / np.linalg.norm(d)


def _bend(d: np.ndarray, angle: float, forward: bool) -> np.ndarray:
    """Fold direction d by `angle` degrees in its sagittal plane, towards +z (forward) or -z."""
    axis = np.cross(d, np.array([0.0, 0.0, 1.0]))
    n = np.linalg.norm(axis)
    axis = np.array([-1.0, 0.0, 0.0]) if n < 1e-6 else axis / n
    t = math.radians(angle) * (1 if forward else -1)
    return d * math.cos(t) + np.cross(axis, d) * math.sin(t) + axis * (axis @ d) * (1 - math.cos(t))


@dataclass(frozen=True)
class Pose:
    """Joint angles in degrees; `family` only records which sampler drew it."""

    family: str
    lean: float = 0.0
    side_bend: float = 0.0
    twist: float = 0.0
    head_tilt: float = 0.0
    head_turn: float = 0.0
    l_shoulder_flex: float = 0.0
    l_shoulder_abd: float = 10.0
    l_elbow: float = 10.0
    r_shoulder_flex: float = 0.0
    r_shoulder_abd: float = 10.0
    r_elbow: float = 10.0
    l_hip_flex: float = 0.0
    l_hip_abd: float = 5.0
    l_knee: float = 5.0
    r_hip_flex: float = 0.0
    r_hip_abd: float = 5.0
    r_knee: float = 5.0

    def angles(self) -> dict[str, float]:
        return {k: v for k, v in self.__dict__.items() if k != "family"}

    def within_limits(self) -> bool:
        for k, v in self.angles().items():
            key = k[2:] if k[:2] in ("l_", "r_") else k
            lo, hi = LIMITS[key]
            if not lo - 1e-9 <= v <= hi + 1e-9:
                return False
        return True

    def points3d(self) -> np.ndarray:
        """[len(ALL_POINTS), 3] in the body frame."""
        pts = np.zeros((len(ALL_POINTS), 3))
        r_torso = (
            _rot_y(math.radians(self.twist)) @ _rot_z(math.radians(-self.side_bend)) @ _rot_x(math.radians(self.lean))
        )
        r_pelvis = _rot_y(math.radians(self.twist * 0.3))
        pts[P["pelvis"]] = 0.0
        neck = r_torso @ np.array([0.0, SPINE, 0.0])
        pts[P["neck"]] = neck
        r_head = r_torso @ _rot_y(math.radians(self.head_turn)) @ _rot_x(math.radians(self.head_tilt))
        head = neck + r_head @ np.array([0.0, NECK + HEAD * 0.6, 0.0])
        pts[P["head"]] = head
        pts[P["nose"]] = head + r_head @ np.array([0.0, -0.01, HEAD * 0.8])
        for side, tag, a in ((1, "left", "l_"), (-1, "right", "r_")):
            ang = self.angles()
            shoulder = neck + r_torso @ np.array([side * SHOULDER_W, -0.03, 0.0])
            upper = r_torso @ _limb_dir(ang[a + "shoulder_flex"], ang[a + "shoulder_abd"], side)
            elbow = shoulder + UPPER_ARM * upper
            hand = elbow + FOREARM * _bend(upper, ang[a + "elbow"], forward=True)
            hip = r_pelvis @ np.array([side * HIP_W, -0.03, 0.0])
            thigh = r_pelvis @ _limb_dir(ang[a + "hip_flex"], ang[a + "hip_abd"], side)
            knee = hip + THIGH * thigh
            foot = knee + SHIN * _bend(thigh, ang[a + "knee"], forward=False)
            pts[P[f"{tag}_shoulder"]], pts[P[f"{tag}_elbow"]], pts[P[f"{tag}_hand"]] = shoulder, elbow, hand
            pts[P[f"{tag}_hip"]], pts[P[f"{tag}_knee"]], pts[P[f"{tag}_foot"]] = hip, knee, foot
        return pts


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def sample_pose(rng: np.random.Generator, family: str | None = None) -> Pose:
    """A pose of `family` (or a random family) with every angle inside LIMITS."""
    family = family or str(rng.choice(FAMILIES))
    if family not in FAMILIES:
        raise ValueError(f"unknown pose family {family!r}; expected one of {FAMILIES}")
    u = lambda lo, hi: _u(rng, lo, hi)  # noqa: E731
    common = {
        "lean": u(-5, 10),
        "side_bend": u(-6, 6),
        "twist": u(-15, 15),
        "head_tilt": u(-15, 15),
        "head_turn": u(-30, 30),
    }
    arm = lambda: {"flex": u(-20, 30), "abd": u(5, 35), "elbow": u(0, 40)}  # noqa: E731
    leg = lambda: {"flex": u(-5, 10), "abd": u(0, 12), "knee": u(0, 12)}  # noqa: E731
    la, ra, ll, rl = arm(), arm(), leg(), leg()
    if family == "walking":
        s = u(15, 35) * (1 if rng.random() < 0.5 else -1)
        ll, rl = {"flex": s, "abd": u(0, 6), "knee": u(0, 25)}, {"flex": -s, "abd": u(0, 6), "knee": u(5, 45)}
        la = {"flex": -s * u(0.5, 1.2), "abd": u(5, 15), "elbow": u(5, 40)}
        ra = {"flex": s * u(0.5, 1.2), "abd": u(5, 15), "elbow": u(5, 40)}
    elif family == "running":
        s = u(35, 75) * (1 if rng.random() < 0.5 else -1)
        common["lean"] = u(8, 25)
        ll = {"flex": s, "abd": u(0, 8), "knee": u(30, 110) if s > 0 else u(60, 140)}
        rl = {"flex": -s * u(0.4, 0.8), "abd": u(0, 8), "knee": u(60, 140) if s > 0 else u(30, 110)}
        la = {"flex": -s * u(0.6, 1.1), "abd": u(5, 20), "elbow": u(70, 120)}
        ra = {"flex": s * u(0.6, 1.1), "abd": u(5, 20), "elbow": u(70, 120)}
    elif family == "sitting":
        ll = {"flex": u(70, 105), "abd": u(0, 25), "knee": u(60, 110)}
        rl = {"flex": u(70, 105), "abd": u(0, 25), "knee": u(60, 110)}
        la = {"flex": u(10, 60), "abd": u(5, 30), "elbow": u(20, 100)}
        ra = {"flex": u(10, 60), "abd": u(5, 30), "elbow": u(20, 100)}
        common["lean"] = u(-15, 20)
    elif family == "arms_raised":
        la = {"flex": u(-10, 40), "abd": u(120, 178), "elbow": u(0, 45)}
        ra = {"flex": u(-10, 40), "abd": u(120, 178), "elbow": u(0, 45)}
        common["lean"] = u(-15, 5)
    elif family == "waving":
        wave = {"flex": u(0, 40), "abd": u(70, 140), "elbow": u(30, 120)}
        la, ra = (wave, ra) if rng.random() < 0.5 else (la, wave)
    elif family == "kicking":
        kick = {"flex": u(50, 110), "abd": u(0, 25), "knee": u(0, 60)}
        ll, rl = (kick, rl) if rng.random() < 0.5 else (ll, kick)
        la = {"flex": u(-30, 60), "abd": u(20, 80), "elbow": u(0, 60)}
        ra = {"flex": u(-30, 60), "abd": u(20, 80), "elbow": u(0, 60)}
    kw = dict(common)
    for p, a in (("l_", la), ("r_", ra)):
        kw.update({p + "shoulder_flex": a["flex"], p + "shoulder_abd": a["abd"], p + "elbow": a["elbow"]})
    for p, leg_ in (("l_", ll), ("r_", rl)):
        kw.update({p + "hip_flex": leg_["flex"], p + "hip_abd": leg_["abd"], p + "knee": leg_["knee"]})
    for k, v in kw.items():  # clip into the limits (the family ranges above already nearly respect them)
        lo, hi = LIMITS[k[2:] if k[:2] in ("l_", "r_") else k]
        kw[k] = float(min(max(v, lo), hi))
    return Pose(family=family, **kw)


@dataclass(frozen=True)
class Camera:
    yaw: float  # degrees about the vertical; 0 looks at the character's face, 180 at its back
    pitch: float  # degrees; positive looks down from above
    roll: float  # degrees about the view axis
    distance: float = 4.0  # body units from the pelvis; perspective weakens as it grows

    def rotation(self) -> np.ndarray:
        return _rot_z(math.radians(self.roll)) @ _rot_x(math.radians(self.pitch)) @ _rot_y(math.radians(-self.yaw))

    def view(self, pts: np.ndarray) -> np.ndarray:
        """Body-frame points [N, 3] -> camera frame [N, 3]: x right, y up, z towards the camera."""
        centre = np.array([0.0, 0.15, 0.0])
        return (pts - centre) @ self.rotation().T

    def project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(uv [N, 2] in body units on the image plane, x right and y down; depth [N], larger is nearer)."""
        v = self.view(pts)
        s = self.distance / (self.distance - v[:, 2])
        return np.stack([v[:, 0] * s, -v[:, 1] * s], axis=1), v[:, 2]


def sample_camera(rng: np.random.Generator, max_yaw: float, back_view: float) -> Camera:
    """Yaw within +-max_yaw of the front, or (with probability back_view) within +-max_yaw of the back."""
    yaw = _u(rng, -max_yaw, max_yaw) + (180.0 if rng.random() < back_view else 0.0)
    return Camera(yaw=yaw, pitch=_u(rng, -10, 25), roll=_u(rng, -8, 8), distance=_u(rng, 3.5, 6.0))


def fit_to_image(
    uv: np.ndarray, size: int, rng: np.random.Generator, fill: tuple[float, float] = (0.6, 0.9)
) -> tuple[float, np.ndarray]:
    """A random scale and translation that put the figure's bounding box (plus a margin for the head and line
    width) inside a size x size image, its larger side covering `fill` of the image: (scale, offset); pixels are
    uv * scale + offset."""
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    extent = max(float((hi - lo).max()), 1e-6)
    scale = _u(rng, *fill) * size / extent
    margin = 0.06 * size
    offset = np.empty(2)
    for k in range(2):
        a = margin - lo[k] * scale
        b = size - margin - hi[k] * scale
        offset[k] = _u(rng, min(a, b), max(a, b))
    return scale, offset
