"""Face cropping for full illustrations: `ingest.crop` none | center | animeface | cascade (auto: the layout's).

`none` keeps the whole picture, padded to a square by edge replication; `center` keeps the largest centred square.
Two detectors find the face:

- `animeface`: the AnimeFace 2009 detector (nagadomi's imager-animeface, via the `animeface` package, Apache-2.0),
  built into its wheel: nothing to download. The default of the Danbooru layout.
- `cascade`: OpenCV's cascade detector with lbpcascade_animeface (nagadomi, MIT; a file the user downloads), the
  common practice: equalised grey image, scale factor 1.1, 5 neighbours, 24 px minimum.

Either way the largest face is kept and cut as a square from y - 0.1h to y + 0.9h (plus `ingest.cascade.margin`),
padded by edge replication where it leaves the picture; an image with no face is rejected (`no_face`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from core.errors import BadInput
from dataset.imageio import RejectedImage, center_square

if TYPE_CHECKING:
    from core.params import CascadeParams


@dataclass(frozen=True)
class Cascade:
    """The cascade settings a worker needs: ingest.cascade as a plain value (workers never import pydantic)."""

    path: str
    scale_factor: float
    min_neighbors: int
    min_size: int
    margin: float

    @classmethod
    def of(cls, cp: CascadeParams | Cascade) -> Cascade:
        return cls(str(Path(cp.path).resolve()), cp.scale_factor, cp.min_neighbors, cp.min_size, cp.margin)


@lru_cache(maxsize=4)
def _detector(path: str) -> cv2.CascadeClassifier:
    if not Path(path).is_file():
        raise BadInput(
            f"ingest.cascade.path: {path} not found; download lbpcascade_animeface.xml from the "
            "nagadomi/lbpcascade_animeface repository on GitHub and put it there (see docs/data.md, face cropping)"
        )
    try:
        det = cv2.CascadeClassifier(path)
    except (cv2.error, SystemError):  # OpenCV raises on some malformed files, returns an empty one on others
        det = None
    if det is None or det.empty():
        raise BadInput(f"ingest.cascade.path: {path} is not an OpenCV cascade file")
    return det


def check_cascade(cp: CascadeParams | Cascade) -> None:
    """Fail at once, before the workers start, when the cascade file is missing or bad."""
    _detector(str(Path(cp.path).resolve()))


def detect_face(img: np.ndarray, cp: CascadeParams | Cascade) -> tuple[int, int, int, int] | None:
    """The largest face (x, y, w, h) in an RGB image, or None."""
    grey = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
    faces = _detector(str(Path(cp.path).resolve())).detectMultiScale(
        grey, scaleFactor=cp.scale_factor, minNeighbors=cp.min_neighbors, minSize=(cp.min_size, cp.min_size)
    )
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: int(f[2]) * int(f[3]))
    return int(x), int(y), int(w), int(h)


def detect_face_animeface(img: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest face (x, y, w, h) AnimeFace finds in an RGB image, or None."""
    import animeface
    from PIL import Image

    faces = animeface.detect(Image.fromarray(np.ascontiguousarray(img)))
    if not faces:
        return None
    box = max((f.face.pos for f in faces), key=lambda b: int(b.width) * int(b.height))
    return int(box.x), int(box.y), int(box.width), int(box.height)


def crop_face(img: np.ndarray, box: tuple[int, int, int, int], margin: float) -> np.ndarray:
    x, y, w, h = box
    side = int(round(h * (1 + 2 * margin)))
    top = int(round(y - 0.1 * h - margin * h))
    left = int(round(x + w / 2 - side / 2))
    pad = max(0, -top, -left, top + side - img.shape[0], left + side - img.shape[1])
    if pad:
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return img[top + pad : top + pad + side, left + pad : left + pad + side]


def apply_crop(img: np.ndarray, mode: str, cp: CascadeParams | Cascade) -> np.ndarray:
    """The square the pipeline keeps of `img`; RejectedImage (code `no_face`) when the detector finds none."""
    if mode in ("cascade", "animeface"):
        box = detect_face(img, cp) if mode == "cascade" else detect_face_animeface(img)
        if box is None:
            raise RejectedImage("no_face", f"no face found (ingest.crop: {mode})")
        return crop_face(img, box, cp.margin)
    if mode == "center":
        return center_square(img)
    h, w = img.shape[:2]  # none: keep everything, padded to a square by edge replication
    if h == w:
        return img
    d = abs(h - w)
    a, b = d // 2, d - d // 2
    return cv2.copyMakeBorder(img, *((a, b, 0, 0) if w > h else (0, 0, a, b)), cv2.BORDER_REPLICATE)
