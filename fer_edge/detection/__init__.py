"""Face detectors. BlazeFace (bundled, LiteRT) is the default; OpenCV's Haar and YuNet are optional."""
from __future__ import annotations

from .base import FaceBox, iou_xywh, weighted_nms
from .blazeface import TILINGS, BlazeFaceDetector

DETECTORS = ("blazeface", "blazeface-full", "haar", "yunet")


def create_detector(name: str = "blazeface", *, min_score: float = 0.55, tiling: str = "frame+grid",
                    max_faces: int | None = 20, num_threads: int | None = 1, model_path: str | None = None):
    """A detector by name: ``blazeface`` (short range), ``blazeface-full`` (far faces), ``haar``, ``yunet``."""
    if name == "blazeface":
        return BlazeFaceDetector(model_path or "short", min_score=min_score, tiling=tiling,
                                 max_faces=max_faces, num_threads=num_threads)
    if name == "blazeface-full":
        return BlazeFaceDetector(model_path or "full", min_score=min_score, tiling=tiling,
                                 max_faces=max_faces, num_threads=num_threads)
    if name == "haar":
        from .opencv import HaarDetector
        return HaarDetector(model_path)
    if name == "yunet":
        from .opencv import YuNetDetector
        return YuNetDetector(model_path, min_score=min_score)
    raise ValueError(f"unknown detector {name!r}; use one of {', '.join(DETECTORS)}")


__all__ = ["FaceBox", "BlazeFaceDetector", "create_detector", "iou_xywh", "weighted_nms", "TILINGS", "DETECTORS"]
