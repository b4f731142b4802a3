"""Annotated frames: boxes, labels and scores drawn on a BGR image."""
from __future__ import annotations

import cv2
import numpy as np

from .results import shown

#: One colour per FER2013 class (BGR), so a label reads the same in every demo.
COLORS = {"angry": (40, 40, 220), "disgust": (40, 140, 40), "fear": (160, 60, 160), "happy": (40, 200, 240),
          "sad": (200, 120, 40), "surprise": (0, 165, 255), "neutral": (200, 200, 200)}


def draw_faces(bgr: np.ndarray, faces) -> np.ndarray:
    """A copy of ``bgr`` with each face's box and ``emotion score`` (and track id, if any)."""
    out = bgr.copy()
    thick = max(1, round(min(out.shape[:2]) / 300))
    for f in faces:
        x, y, w, h = f.box
        color = COLORS.get(f.emotion, (0, 255, 0))
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thick)
        track = getattr(f, "track_id", None)
        text = f"{shown(f.emotion)} {f.emotion_score:.2f}" + (f" #{track}" if track is not None else "")
        scale = 0.4 * thick + 0.1
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = max(th + base, y)
        cv2.rectangle(out, (x, ty - th - base), (x + tw, ty), color, -1)
        cv2.putText(out, text, (x, ty - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return out


def draw_timeline(timeline: dict, labels, *, width: int = 900, panel_height: int = 120,
                  max_tracks: int = 6) -> np.ndarray:
    """Each track's probabilities over time as a BGR picture, one panel per track, drawn with OpenCV
    (the device install has no matplotlib).

    ``timeline`` maps a track id to its rows ``{"t_s": seconds, "probabilities": {label: p}}`` in time order.
    """
    tracks = sorted(timeline)[:max_tracks]
    left, top, legend = 70, 8, 26
    height = legend + max(1, len(tracks)) * panel_height + 22
    img = np.full((height, width, 3), 255, np.uint8)
    x = left
    for lab in labels:  # the legend: one coloured swatch per label
        cv2.rectangle(img, (x, 8), (x + 14, 20), COLORS.get(lab, (0, 0, 0)), -1)
        cv2.putText(img, lab, (x + 18, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        x += 30 + 8 * len(lab)
    ts = [r["t_s"] for tid in tracks for r in timeline[tid]]
    t0, t1 = (min(ts), max(ts)) if ts else (0.0, 1.0)
    span = max(t1 - t0, 1e-6)
    right = width - 12
    for k, tid in enumerate(tracks):
        y0 = legend + top + k * panel_height
        y1 = y0 + panel_height - top - 6
        cv2.rectangle(img, (left, y0), (right, y1), (180, 180, 180), 1)
        cv2.putText(img, f"face {tid}", (6, (y0 + y1) // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
        rows = timeline[tid]
        xs = [left + (r["t_s"] - t0) / span * (right - left) for r in rows]
        for lab in labels:
            ys = [y1 - r["probabilities"].get(lab, 0.0) * (y1 - y0) for r in rows]
            pts = np.round(np.column_stack([xs, ys])).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(img, [pts], False, COLORS.get(lab, (0, 0, 0)), 1, cv2.LINE_AA)
    cv2.putText(img, f"{t0:.1f} s", (left, height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, f"{t1:.1f} s", (right - 50, height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                cv2.LINE_AA)
    return img
