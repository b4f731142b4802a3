"""What tells one scene, and one person, from the next: shot cuts and face appearance.

A track must stay one person. Box position alone cannot promise that: at a shot cut (or a looping file
starting over, or a camera moved at once) a new face often sits where the old box was, and within a
shot one person can leave as another enters at the same place. Two cheap checks guard it, both cheap
enough for a Pi (well under a millisecond a frame):

- :func:`is_cut`: most of a 1/8-scale frame changed even after the best small global shift (so a pan is
  not a cut, and a fade, a little each frame, is not either);
- :func:`same_face`: a face's small gray patch against a candidate's, by normalised correlation that
  tolerates a few pixels of box jitter.
"""
from __future__ import annotations

import cv2
import numpy as np

#: A cell of the 1/8-scale frame has changed when its gray level moved more than this.
CUT_CELL_CHANGE = 24
#: A cut: this share of cells changed under the best global shift of up to CUT_MAX_SHIFT cells (8 px each).
#: Measured on seeded 640x480 frames: cuts between two textured backgrounds changed 0.31-0.99 of the cells
#: (30 pairs), a 16 px-a-frame pan 0.00 after the shift, four faces moving 1-4 px a frame at most 0.13
#: (12 benchmark clips), a 30-frame fade 0.00 (tests/test_continuity.py).
CUT_SHARE, CUT_MAX_SHIFT = 0.25, 2
#: The patch a face is compared by (px), and the least correlation at which two patches are one face: on
#: 200 FER2013 test faces with +-6 px and +-8% box jitter, the same face scored 0.82 at its 1st percentile and
#: two different faces 0.65 at their 95th (0.6: none of the same rejected, 9.5% of the different accepted).
LOOK_SIZE, LOOK_MARGIN, SAME_FACE_MIN = 20, 3, 0.6


_SHIFTS = sorted(((dy, dx) for dy in range(-CUT_MAX_SHIFT, CUT_MAX_SHIFT + 1)
                  for dx in range(-CUT_MAX_SHIFT, CUT_MAX_SHIFT + 1)), key=lambda s: abs(s[0]) + abs(s[1]))


def small_frame(gray: np.ndarray) -> np.ndarray:
    """The 1/8-scale frame both the cut test and the motion views work on (int16, to subtract)."""
    H, W = gray.shape[:2]
    return cv2.resize(gray, (max(1, W // 8), max(1, H // 8)), interpolation=cv2.INTER_AREA).astype(np.int16)


def is_cut(prev: np.ndarray | None, small: np.ndarray) -> bool:
    """Whether the whole frame changed at once between two :func:`small_frame` images."""
    if prev is None or prev.shape != small.shape:
        return False
    h, w = small.shape[:2]
    m = CUT_MAX_SHIFT
    if h <= 2 * m + 2 or w <= 2 * m + 2:
        return float((np.abs(small - prev) > CUT_CELL_CHANGE).mean()) > CUT_SHARE
    core = small[m:h - m, m:w - m]
    for dy, dx in _SHIFTS:  # nearest first: a still frame is settled by the first
        moved = prev[m + dy:h - m + dy, m + dx:w - m + dx]
        if float((np.abs(core - moved) > CUT_CELL_CHANGE).mean()) <= CUT_SHARE:
            return False
    return True


def face_look(gray: np.ndarray, box) -> np.ndarray | None:
    """A face's appearance: the box's pixels as a LOOK_SIZE-px gray patch (None for a box off the frame)."""
    x, y, w, h = (float(v) for v in box)
    H, W = gray.shape[:2]
    x0, y0, x1, y1 = max(0, int(round(x))), max(0, int(round(y))), min(W, int(round(x + w))), min(H, int(round(y + h)))
    if x1 - x0 < 0.6 * w or y1 - y0 < 0.6 * h or min(x1 - x0, y1 - y0) < 8:
        return None
    return cv2.resize(gray[y0:y1, x0:x1], (LOOK_SIZE, LOOK_SIZE), interpolation=cv2.INTER_AREA)


def face_similarity(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Normalised correlation of the reference's centre within the candidate (a few px of shift allowed)."""
    m = LOOK_MARGIN
    return float(cv2.matchTemplate(candidate, reference[m:-m, m:-m], cv2.TM_CCOEFF_NORMED).max())


def same_face(reference: np.ndarray | None, candidate: np.ndarray | None) -> bool:
    """Whether a candidate may be the reference's face (True when either is unknown: nothing to compare)."""
    if reference is None or candidate is None:
        return True
    return face_similarity(reference, candidate) >= SAME_FACE_MIN
