"""Synthetic camera scenes: face crops pasted, scaled up, into larger backgrounds at known places.

Tests, benchmarks and the stand-in cameras of the examples use these to
measure detection recall and box accuracy on real faces without a camera.
The ground-truth face box of a pasted crop is where BlazeFace puts the face
inside a FER2013 image (:data:`FACE_IN_CROP`, measured on 400 test images), so
IoU against it measures the detector, not the framing convention.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Face box inside a FER2013 crop, as fractions of the crop side: x, y, w, h.
FACE_IN_CROP = (0.072, 0.183, 0.84, 0.84)


@dataclass(frozen=True)
class PlacedFace:
    """A pasted crop: its square in the scene, its label and its expected face box."""

    x: int
    y: int
    side: int
    label: int

    @property
    def face_box(self) -> tuple[float, float, float, float]:
        fx, fy, fw, fh = FACE_IN_CROP
        return self.x + fx * self.side, self.y + fy * self.side, fw * self.side, fh * self.side


def background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A BGR background with low-frequency texture and a few flat shapes (no faces)."""
    base = rng.integers(40, 200, (max(2, height // 40), max(2, width // 40), 3)).astype(np.uint8)
    img = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(2, 6))):
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        p0 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.rectangle(img, p0, p1, color, -1)
    noise = rng.normal(0, 6, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def make_scene(faces: np.ndarray, labels, rng: np.random.Generator, *, size=(640, 480),
               side_range=(90, 200), max_tries: int = 200):
    """Paste each face (uint8 gray, any size) once at a free spot; returns ``(bgr, [PlacedFace])``.

    Faces that find no free spot after ``max_tries`` are left out of the scene
    and out of the returned list.
    """
    width, height = size
    img = background(height, width, rng)
    placed: list[PlacedFace] = []
    for face, label in zip(faces, labels):
        side = int(rng.integers(side_range[0], side_range[1] + 1))
        side = min(side, width, height)
        for _ in range(max_tries):
            x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
            if all(x + side <= p.x or p.x + p.side <= x or y + side <= p.y or p.y + p.side <= y for p in placed):
                crop = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
                img[y:y + side, x:x + side] = crop[:, :, None]
                placed.append(PlacedFace(x, y, side, int(label)))
                break
    return img, placed


def match(detected_boxes, placed: list[PlacedFace], iou_threshold: float = 0.5):
    """Greedy one-to-one match of detections ``[(x, y, w, h)]`` to placed faces by IoU.

    Returns ``(pairs, ious)``: ``pairs[i]`` is the detection index matched to
    ``placed[i]`` or ``None``; ``ious[i]`` its IoU (0 when unmatched).
    """
    from fer_edge.detection.base import iou_xywh

    det = np.asarray(detected_boxes, np.float64).reshape(-1, 4)
    cand = []
    for i, p in enumerate(placed):
        if len(det):
            for j, v in enumerate(iou_xywh(np.array(p.face_box), det)):
                if v >= iou_threshold:
                    cand.append((v, i, j))
    pairs, ious, used = [None] * len(placed), [0.0] * len(placed), set()
    for v, i, j in sorted(cand, reverse=True):
        if pairs[i] is None and j not in used:
            pairs[i], ious[i] = j, float(v)
            used.add(j)
    return pairs, ious
