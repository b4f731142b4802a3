"""Optional OpenCV face detectors: Haar cascades (OpenCV 4.x only) and YuNet (a local ONNX file).

Neither is the default: OpenCV 5 wheels have no ``CascadeClassifier`` and no
cascade files, and YuNet's ONNX model is not on PyPI, so both fail with a
clear message when what they need is absent. Nothing is ever downloaded.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from .base import FaceBox


class HaarDetector:
    """OpenCV's frontal-face Haar cascade; needs ``cv2.CascadeClassifier`` and its XML file."""

    def __init__(self, cascade: str | None = None, *, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_size: int = 24):
        if not hasattr(cv2, "CascadeClassifier"):
            raise RuntimeError(f"OpenCV {cv2.__version__} has no CascadeClassifier (removed in 5.x); "
                               "use the default BlazeFace detector or install opencv-python-headless<5")
        if cascade is None:
            folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
            cascade = os.path.join(folder, "haarcascade_frontalface_default.xml")
        if not os.path.isfile(cascade):
            raise RuntimeError(f"Haar cascade file {cascade!r} not found; pass the path of a cascade XML")
        self._c = cv2.CascadeClassifier(cascade)
        if self._c.empty():
            raise RuntimeError(f"{cascade}: not a valid Haar cascade")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        found = self._c.detectMultiScale(gray, self.scale_factor, self.min_neighbors,
                                         minSize=(self.min_size, self.min_size))
        return [FaceBox(float(x), float(y), float(w), float(h), 1.0) for x, y, w, h in found]

    def close(self) -> None:
        self._c = None


class YuNetDetector:
    """OpenCV's ``FaceDetectorYN`` with a local YuNet ONNX file (``face_detection_yunet_*.onnx``)."""

    def __init__(self, model_path: str, *, min_score: float = 0.6, nms_threshold: float = 0.3):
        if not hasattr(cv2, "FaceDetectorYN"):
            raise RuntimeError(f"OpenCV {cv2.__version__} has no FaceDetectorYN")
        if not model_path or not os.path.isfile(model_path):
            raise RuntimeError(f"YuNet model {model_path!r} not found; YuNet needs a local ONNX file "
                               "(fer-edge never downloads models)")
        try:
            self._d = cv2.FaceDetectorYN.create(model_path, "", (320, 320), min_score, nms_threshold)
        except cv2.error as e:
            raise RuntimeError(f"{model_path}: OpenCV could not load it as YuNet ({e.msg.strip()})") from None

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image[:, :, :3]
        self._d.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, faces = self._d.detect(np.ascontiguousarray(bgr))
        out = []
        for f in faces if faces is not None else []:
            kps = tuple((float(f[4 + 2 * k]), float(f[5 + 2 * k])) for k in range(5))
            out.append(FaceBox(float(f[0]), float(f[1]), float(f[2]), float(f[3]), float(f[14]), kps))
        return out

    def close(self) -> None:
        self._d = None
