"""Annotated frames: boxes, labels and scores drawn on a BGR image."""
from __future__ import annotations

import cv2
import numpy as np

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
        text = f"{f.emotion} {f.emotion_score:.2f}" + (f" #{f.track_id}" if getattr(f, "track_id", None) is not None else "")
        scale = 0.4 * thick + 0.1
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = max(th + base, y)
        cv2.rectangle(out, (x, ty - th - base), (x + tw, ty), color, -1)
        cv2.putText(out, text, (x, ty - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return out
