"""A short video of the README's example image, moving a pixel at a time: a source the camera verbs can play."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

GROUP = Path(__file__).resolve().parents[1] / "examples" / "images" / "group.jpg"


def group_clip(path, n: int = 30, fps: int = 10, fourcc: str = "FFV1") -> Path:
    """``n`` frames of examples/images/group.jpg shifted 0-2 px, written to ``path`` (returned)."""
    img = cv2.imread(str(GROUP))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (img.shape[1], img.shape[0]))
    for i in range(n):
        w.write(np.roll(img, i % 3, axis=1))
    w.release()
    return Path(path)
