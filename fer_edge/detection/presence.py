"""A second model's word on a detected face: MediaPipe's face mesh model, run on the face as MediaPipe crops it,
says how sure it is that a face fills the view and where that face's eyes, nose and mouth are.

IMAGE mode asks it about faces the detector is unsure of and did not find again (:func:`fer_edge.following.
found_again`): a real face gets a high presence score *and* a mesh whose eyes, nose and mouth sit on the
detector's keypoints; a phantom (a logo, a cat's eye, a flower) rarely gets both, because the two models were
fooled by different things. ``assets/face_landmark.tflite`` is MediaPipe's file, unchanged (Apache-2.0,
``assets/LICENSE-blazeface.txt``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources

import cv2
import numpy as np

from .base import FaceBox

#: MediaPipe's region for the mesh: the detector's box turned so the eyes are level, its longer side x ROI_SCALE.
ROI_SCALE = 1.5
#: Mesh points matching BlazeFace's first four keypoints (each averaged): one eye's corners, the other's,
#: the nose tip and the lips' centres.
MESH_POINTS = ((33, 133), (362, 263), (1,), (13, 14))


@dataclass(frozen=True)
class Presence:
    """``score``: the mesh model's face presence (0..1). ``disagreement``: the mean distance between the mesh's
    eyes, nose and mouth and the detector's keypoints, as a share of the face box's longer side (a share of
    the eye distance would grow as a face turns away)."""

    score: float
    disagreement: float


class FacePresence:
    """The face mesh model as a judge of detected faces (one invoke per face, ~192x192 float input)."""

    def __init__(self, num_threads: int | None = 1):
        from ..interpreter import make_interpreter

        data = (resources.files("fer_edge") / "assets" / "face_landmark.tflite").read_bytes()
        self._interp = make_interpreter(data, num_threads=num_threads)
        inp = self._interp.get_input_details()[0]
        self.size = int(inp["shape"][1])
        outs = sorted(self._interp.get_output_details(), key=lambda d: -int(np.prod(d["shape"])))
        self._in, self._mesh, self._flag = inp["index"], outs[0]["index"], outs[1]["index"]
        self.invokes = 0  # counted, as the detectors count theirs (benchmarks)

    def _view(self, image: np.ndarray, face: FaceBox) -> tuple[np.ndarray, np.ndarray]:
        """The face's region as the model's RGB input in 0..1, and the affine map from image to that input."""
        cx, cy = face.x + face.w / 2, face.y + face.h / 2
        angle = 0.0
        if len(face.keypoints) >= 2:
            (ax, ay), (bx, by) = face.keypoints[0], face.keypoints[1]
            angle = math.degrees(math.atan2(by - ay, bx - ax))
        side = max(face.w, face.h) * ROI_SCALE
        m = cv2.getRotationMatrix2D((cx, cy), angle, self.size / max(side, 1e-6))
        m[0, 2] += self.size / 2 - cx
        m[1, 2] += self.size / 2 - cy
        view = cv2.warpAffine(image, m, (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        if view.ndim == 2:
            view = cv2.cvtColor(view, cv2.COLOR_GRAY2RGB)
        else:
            view = cv2.cvtColor(view, cv2.COLOR_BGRA2RGB if view.shape[2] == 4 else cv2.COLOR_BGR2RGB)
        return view.astype(np.float32) / 255.0, m

    def judge(self, image: np.ndarray, face: FaceBox) -> Presence:
        """The mesh model's presence score for ``face`` in ``image`` (gray, BGR or BGRA) and how far its eyes,
        nose and mouth lie from the detector's keypoints (infinite when the detector gave none)."""
        view, m = self._view(image, face)
        self._interp.set_tensor(self._in, view[None])
        self._interp.invoke()
        self.invokes += 1
        logit = float(np.asarray(self._interp.get_tensor(self._flag)).reshape(-1)[0])
        score = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))
        if len(face.keypoints) < 4:
            return Presence(score, math.inf)
        mesh = np.asarray(self._interp.get_tensor(self._mesh)).reshape(-1, 3)[:, :2]
        ours = np.array([mesh[list(ix)].mean(axis=0) for ix in MESH_POINTS])
        theirs = np.asarray(face.keypoints[:4], np.float64) @ m[:, :2].T + m[:, 2]
        box_side = self.size / ROI_SCALE  # the face box's longer side, in the view
        return Presence(score, float(np.linalg.norm(ours - theirs, axis=1).mean()) / box_side)

    def close(self) -> None:
        self._interp = None
