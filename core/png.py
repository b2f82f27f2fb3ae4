"""The one PNG writer of the pipeline's images (RGB uint8 arrays [H, W, 3]): the generated source (synth/faces),
the contact sheets, the labelling candidates. Reading and decoding stay in dataset/imageio.py, which re-exports these
for its callers."""

from __future__ import annotations

import os

import cv2
import numpy as np

from core.atomic import write_bytes


def encode_png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def write_png(path: str | os.PathLike[str], img: np.ndarray) -> None:
    """Write an RGB uint8 image [H, W, 3] atomically."""
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, img.shape
    write_bytes(path, encode_png(img))
