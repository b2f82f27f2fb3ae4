"""Reading a picture of a stick figure: framing it the way posenet saw its training figures, and mapping the joints
it reads back onto the picture.

posenet learnt from figures that fill about three quarters of a square image at the pose size. A drawing or a photo
of one can be any size and shape, with the figure anywhere in it. So: pad the picture to a square with its own
background colour (the median of its border), find the ink (pixels that differ from the background by more than a
third of the largest difference, and at least `MIN_CONTRAST` grey levels; a dark background is ink on black, read
the other way round), cut a square around the ink's bounding box so that the box fills `FILL` of it, reduce that
square to the pose size (area averaging), read the joints, and map them back to the padded picture, in pixels of
the pose size: where the figure's joints lie on the picture, whatever its size.

    joints = read_drawing(net, rgb)    # float32 [11, 2], pixels of the pose size over the (square-padded) picture
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FILL = 0.75  # the ink's bounding box fills this share of the square posenet reads (its training figures: 0.5-1)
MIN_CONTRAST = 24  # grey levels: below this nothing counts as ink
DARK = 100  # a background darker than this (mean grey level) is read inverted


class NoDrawing(ValueError):
    """The picture holds nothing that stands out from its background."""


@dataclass(frozen=True)
class Framed:
    """The square posenet reads (uint8 [size, size, 3]) and where it lies on the padded picture."""

    image: np.ndarray
    x0: float  # the square's corner on the padded picture (its pixels)
    y0: float
    side: float  # the square's side in pixels of the padded picture
    picture: int  # the padded picture's side

    def to_picture(self, joints: np.ndarray, size: int) -> np.ndarray:
        """Joints in the square's pixels [..., 2] -> pixels of the pose size over the padded picture."""
        k = self.side / len(self.image)
        on_picture = (joints + 0.5) * k - 0.5 + np.array([self.x0, self.y0])
        return ((on_picture + 0.5) * size / self.picture - 0.5).astype(np.float32)


def _square(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the picture padded to a square with its border's median colour, that colour)."""
    h, w = rgb.shape[:2]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    bg = np.median(border, axis=0)
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    out = cv2.copyMakeBorder(rgb, top, side - h - top, left, side - w - left, cv2.BORDER_CONSTANT, value=bg.tolist())
    return out, bg


def frame_drawing(rgb: np.ndarray, size: int) -> Framed:
    """The square around the figure in `rgb` (uint8 [H, W, 3]), reduced to `size`; NoDrawing when there is no ink."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"expected an RGB image [H, W, 3], got {rgb.shape}")
    square, bg = _square(rgb)
    grey = square.astype(np.float32).mean(axis=2)
    diff = np.abs(grey - float(bg.mean()))
    top = float(diff.max())
    if top < MIN_CONTRAST:
        raise NoDrawing(f"nothing stands out from the background (largest difference {top:.0f} grey levels)")
    ys, xs = np.nonzero(diff > max(MIN_CONTRAST, top / 3))
    lo, hi = np.array([xs.min(), ys.min()], np.float64), np.array([xs.max(), ys.max()], np.float64) + 1
    side = max(float((hi - lo).max()) / FILL, 8.0)
    x0, y0 = (lo + hi) / 2 - side / 2
    # cut the square (it may reach past the picture: padded with the background), then reduce it to the pose size
    pad = int(np.ceil(side))
    padded = cv2.copyMakeBorder(square, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=bg.tolist())
    a, b = int(round(x0)) + pad, int(round(y0)) + pad
    n = int(round(side))
    crop = padded[b : b + n, a : a + n]
    interp = cv2.INTER_AREA if n >= size else cv2.INTER_LINEAR
    image = cv2.resize(crop, (size, size), interpolation=interp)
    if bg.mean() < DARK:  # chalk on a board: posenet knows dark ink on light paper
        image = 255 - image
    return Framed(image, float(a - pad), float(b - pad), float(n), len(square))


def read_drawing(net, rgb: np.ndarray) -> np.ndarray:
    """posenet's joints of the figure in `rgb`: float32 [11, 2] in pixels of the pose size over the picture padded
    to a square (its left and right by the one-colour rule, as it was trained for drawn figures)."""
    from models.pose.net import predict

    size = int(net.config["size"])
    framed = frame_drawing(rgb, size)
    found = predict(net, framed.image[None])[0]
    return np.clip(framed.to_picture(found, size), 0, size - 1)
