"""Face detection results and the pieces every backend shares (IoU, weighted NMS)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class FaceBox:
    """A detected face in original image pixels: top-left ``(x, y)``, size ``(w, h)``.

    ``keypoints`` are ``(x, y)`` pixel pairs; for BlazeFace: right eye, left eye,
    nose tip, mouth, right ear tragion, left ear tragion (subject's sides).
    """

    x: float
    y: float
    w: float
    h: float
    score: float
    keypoints: tuple[tuple[float, float], ...] = field(default=())

    @property
    def box(self) -> tuple[int, int, int, int]:
        return int(round(self.x)), int(round(self.y)), int(round(self.w)), int(round(self.h))

    def iou(self, other: "FaceBox") -> float:
        return iou_pair((self.x, self.y, self.w, self.h), (other.x, other.y, other.w, other.h))


def centre_inside(box, frame) -> bool:
    """Whether ``box``'s centre lies in ``frame`` (both ``x, y, w, h``)."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return frame[0] <= cx <= frame[0] + frame[2] and frame[1] <= cy <= frame[1] + frame[3]


def overlap_pair(a, b) -> tuple[float, float, float]:
    """``(intersection, area of a, area of b)`` of two ``[x, y, w, h]`` boxes in plain floats: a video frame
    compares a few dozen pairs, where numpy's per-call cost is most of the work."""
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    return max(iw, 0.0) * max(ih, 0.0), aw * ah, bw * bh


def iou_pair(a, b) -> float:
    """IoU of two ``[x, y, w, h]`` boxes (:func:`overlap_pair`)."""
    inter, area_a, area_b = overlap_pair(a, b)
    union = area_a + area_b - inter
    return inter / max(union, 1e-12) if union > 0 else 0.0


def iou_xywh(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``[x, y, w, h]`` box against ``(N, 4)`` boxes."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y1 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.maximum(x1 - x0, 0.0) * np.maximum(y1 - y0, 0.0)
    union = box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, iou_threshold: float,
                 max_faces: int | None = None, floor: float = 0.0) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """MediaPipe-style weighted NMS: each cluster of overlapping boxes becomes their weighted mean.

    Averaging (rather than keeping the top box) steadies boxes from frame to frame
    and merges the same face found in overlapping tiles. Each box weighs its score above
    ``floor`` (the detector's score threshold), so a box that just passes the threshold adds
    almost nothing: the result does not jump when a score crosses it (x86 and ARM kernels
    round a few scores to either side; so do consecutive frames). Returns
    ``[(box_xywh, score, keypoints), ...]`` best first.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    kps = np.asarray(keypoints, np.float64).reshape(len(boxes), -1) if len(boxes) else np.zeros((0, 0))
    finite = np.isfinite(boxes).all(1) & np.isfinite(scores) & np.isfinite(kps).all(1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    order = np.flatnonzero(finite)[np.argsort(-scores[finite], kind="stable")]
    out = []
    while order.size and (max_faces is None or len(out) < max_faces):
        top = order[0]
        overlap = iou_xywh(boxes[top], boxes[order])
        members = order[overlap > iou_threshold]
        if members.size == 0:
            members = order[:1]
        w = np.maximum(scores[members] - floor, 1e-6)[:, None]
        out.append(((boxes[members] * w).sum(0) / w.sum(), float(scores[top]), (kps[members] * w).sum(0) / w.sum()))
        order = order[overlap <= iou_threshold]
        order = order[order != top]
    return out
