"""Where ``--annotate`` writes: a mirror of the inputs' paths, never over an input or an earlier file.

Paths are mirrored below the inputs' deepest common folder:
``fer-edge predict a/x.jpg b/x.jpg --annotate out`` writes ``out/a/x.jpg`` and
``out/b/x.jpg``, a single ``/data/x.jpg`` gives ``out/x.jpg``; a video gets an
annotated MP4 beside them. A name that is
already taken (an input, or a file from an earlier run) gets ``-1``, ``-2``...
so nothing is ever overwritten, and every write is reported.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .errors import ImageError

#: Suffixes OpenCV can write; anything else is written as PNG (or MP4 for videos).
WRITABLE_IMAGES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class Annotator:
    """Output paths for annotated copies of ``inputs`` inside ``folder``."""

    def __init__(self, folder, inputs):
        self.folder = Path(folder)
        self.inputs = {_real(p) for p in inputs}
        self.taken: set[str] = set()
        parents = [os.path.dirname(os.path.abspath(os.fsdecode(p))) for p in inputs]
        self.base = os.path.commonpath(parents) if parents else os.getcwd()

    def path_for(self, src, video: bool = False, ending: str | None = None) -> Path:
        """``ending`` (e.g. ``.timeline.png``) replaces the input's suffix: a file made from it, not a copy."""
        rel = Path(os.path.relpath(os.path.abspath(os.fsdecode(src)), self.base))
        suffix = rel.suffix.lower()
        if ending:
            rel = rel.with_name(rel.stem + ending)
        elif video:
            rel = rel.with_suffix(".mp4") if suffix != ".mp4" else rel
        elif suffix not in WRITABLE_IMAGES:
            rel = rel.with_name(rel.name + ".png")
        out = self.folder / rel
        n = 0
        cand = out
        while _real(cand) in self.inputs or _real(cand) in self.taken or cand.exists():
            n += 1
            cand = out.with_name(f"{out.name[:len(out.name) - len(ending or out.suffix)]}-{n}{ending or out.suffix}")
        self.taken.add(_real(cand))
        cand.parent.mkdir(parents=True, exist_ok=True)
        return cand

    def write_image(self, src, bgr: np.ndarray) -> Path:
        out = self.path_for(src)
        ok, buf = cv2.imencode(out.suffix, bgr)
        if not ok:
            raise ImageError(f"{out}: cannot encode the annotated image")
        out.write_bytes(buf.tobytes())
        return out

    def video_writer(self, src, fps: float, size: tuple[int, int]):
        out = self.path_for(src, video=True)
        w = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), max(1.0, float(fps or 30.0)), size)
        if not w.isOpened():
            raise ImageError(f"{out}: cannot write an annotated video here (OpenCV has no MP4 writer?)")
        return out, w


def _real(p) -> str:
    return os.path.realpath(os.fsdecode(p))
