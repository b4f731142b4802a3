"""Views of the same face (shifted a pixel, mirrored) and what averages over them.

A classifier that changes its answer when the crop moves one pixel or is mirrored is one a user cannot trust.
What helps, in one place each:

- :func:`view_average`: a model's probabilities averaged over views of each face: the smooth target an
  averaged teacher gives a student (:func:`.distill.write_teacher_cache`), and what the stability
  experiments compare;
- :func:`.architectures.mirror_averaged` (a Keras model, so it lives with the nets): a classifier averaged over
  the face and its mirror image inside one graph.
"""
from __future__ import annotations

import numpy as np

#: The face and its four one-pixel shifts (dx, dy).
ONE_PIXEL = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def shift(faces: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Faces ``(N, H, W[, C])`` moved ``dx`` px right and ``dy`` px down, the edge rows repeated (as a crop box
    moved the other way would see them, for a face on a plain background)."""
    if dx == 0 and dy == 0:
        return faces
    h, w = faces.shape[1:3]
    pad = [(0, 0), (abs(dy), abs(dy)), (abs(dx), abs(dx))] + [(0, 0)] * (faces.ndim - 3)
    p = np.pad(faces, pad, mode="edge")
    y0, x0 = abs(dy) - dy, abs(dx) - dx
    return p[:, y0:y0 + h, x0:x0 + w]


def mirror(faces: np.ndarray) -> np.ndarray:
    """Faces ``(N, H, W[, C])`` mirrored left to right."""
    return faces[:, :, ::-1]


def view_average(predict, faces: np.ndarray, shifts=ONE_PIXEL, with_mirror: bool = True) -> np.ndarray:
    """Mean of ``predict(faces)`` (probabilities) over each shift in ``shifts``, and each mirrored too."""
    total, n = 0.0, 0
    for dx, dy in shifts:
        v = shift(faces, dx, dy)
        for w in ((v, mirror(v)) if with_mirror else (v,)):
            total = total + predict(np.ascontiguousarray(w))
            n += 1
    return (total / n).astype(np.float32)
