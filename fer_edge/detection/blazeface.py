"""BlazeFace (MediaPipe, Apache-2.0) on LiteRT, with our own anchor decoding and weighted NMS.

Two models ship in ``fer_edge/assets`` (see ``assets/LICENSE-blazeface.txt``):
short range (128x128 input, faces within ~2 m) and full range (192x192, far
faces). Small faces in a large frame vanish when the whole frame is squeezed
to 128 px, so the detector can also look at overlapping square *tiles*; all
views go through the interpreter as one batch and their detections are merged
with weighted NMS.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import cv2
import numpy as np

from .base import FaceBox, weighted_nms

# SSD anchor layout of each model (MediaPipe face_detection_*_range graphs).
_MODELS = {
    "short": {"file": "face_detection_short_range.tflite", "size": 128, "strides": (8, 16, 16, 16),
              "anchors_per_layer": 2},
    "full": {"file": "face_detection_full_range.tflite", "size": 192, "strides": (4,), "anchors_per_layer": 1},
}

#: Named tile layouts (``x0, y0, side`` as fractions; side of the frame's *short* edge).
TILINGS = ("frame", "pair", "frame+pair", "quad", "frame+quad", "grid", "frame+grid")


def anchor_groups(size: int, strides, anchors_per_layer: int) -> list[tuple[int, int]]:
    """``(cells, anchors_per_cell)`` for each run of layers with one stride, in output order."""
    groups, i = [], 0
    while i < len(strides):
        stride, n = strides[i], 0
        while i < len(strides) and strides[i] == stride:
            n += anchors_per_layer
            i += 1
        groups.append((int(np.ceil(size / stride)), n))
    return groups


def ssd_anchors(size: int, strides, anchors_per_layer: int) -> np.ndarray:
    """Anchor centres ``(N, 2)`` in 0..1, in the model's output order (layers of one stride merged)."""
    out = []
    for cells, n in anchor_groups(size, strides, anchors_per_layer):
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, n, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, size: int,
           min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw regressors ``(N, 16)`` and logits ``(N,)`` to boxes ``[x, y, w, h]``, scores and keypoints in 0..1."""
    raw_boxes = np.asarray(raw_boxes, np.float32).reshape(len(anchors), -1)
    logits = np.asarray(raw_scores, np.float32).reshape(-1)
    # the sigmoid only where the logit can pass (a margin for rounding): a view has ~900 anchors, a few faces
    floor = np.log(min_score / (1.0 - min_score)) - 1e-3 if 0.0 < min_score < 1.0 else -np.inf
    near = np.flatnonzero(logits >= floor)  # NaN compares False
    with np.errstate(over="ignore", invalid="ignore"):
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[near], -100.0, 100.0)))
    passed = scores >= min_score
    keep, scores = near[passed], scores[passed]
    r, a = raw_boxes[keep] / size, anchors[keep]
    cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
    w, h = r[:, 2], r[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, w, h], -1)
    kps = r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
    return boxes, scores, kps


@dataclass(frozen=True)
class TileView:
    """A square region of the frame fed to the detector: ``(x0, y0)`` and ``side`` in pixels."""

    x0: float
    y0: float
    side: float


def tile_views(width: int, height: int, tiling: str) -> list[TileView]:
    """The square views of a frame for a named tiling.

    ``frame``: the whole frame, letterboxed to a square. ``pair``: two squares of
    the short side at both ends of the long side (they overlap in the middle).
    ``quad``: 2 x 2 overlapping squares of 0.75 x the short side. ``grid``: squares of
    0.6 x the short side, 3 x 2 on a landscape frame. ``frame+`` adds the whole frame.
    """
    long_side, short = max(width, height), min(width, height)
    views = []
    if tiling.startswith("frame"):
        views.append(TileView((width - long_side) / 2, (height - long_side) / 2, long_side))
    if tiling in ("pair", "frame+pair"):
        if long_side - short < 1:
            if tiling == "pair":
                views.append(TileView(0, 0, short))
        elif width >= height:
            views += [TileView(0, 0, short), TileView(width - short, 0, short)]
        else:
            views += [TileView(0, 0, short), TileView(0, height - short, short)]
    if tiling.endswith("grid") or tiling.endswith("quad"):
        side = (0.6 if tiling.endswith("grid") else 0.75) * short
        nx = 2 if tiling.endswith("quad") else max(1, int(np.ceil((width - side) / (0.75 * side))) + 1)
        ny = 2 if tiling.endswith("quad") else max(1, int(np.ceil((height - side) / (0.75 * side))) + 1)
        for y0 in np.linspace(0, max(0.0, height - side), ny):
            for x0 in np.linspace(0, max(0.0, width - side), nx):
                views.append(TileView(float(x0), float(y0), side))
    if not views:
        raise ValueError(f"unknown tiling {tiling!r}; use one of {', '.join(TILINGS)}")
    return views


class BlazeFaceDetector:
    """Faces in BGR/gray frames, in original pixels, with 6 keypoints each.

    Args:
        model: ``"short"`` or ``"full"`` (the bundled models) or a path to a BlazeFace ``.tflite``.
        min_score: detection score threshold (0..1).
        iou_threshold: weighted-NMS overlap that merges two detections.
        tiling: one of :data:`TILINGS`; ``"frame+grid"`` (default) found 93.6% of 90-200 px faces in 640x480 scenes.
        max_faces: keep at most this many faces (best first).
        num_threads: LiteRT CPU threads.
    """

    def __init__(self, model: str = "short", *, min_score: float = 0.55, iou_threshold: float = 0.3,
                 tiling: str = "frame+grid", max_faces: int | None = 20, num_threads: int | None = 1):
        from ..interpreter import BatchInterpreters, make_interpreter

        if not 0.0 < min_score < 1.0:
            raise ValueError(f"min_score must be within (0, 1), got {min_score}")
        if tiling not in TILINGS:
            raise ValueError(f"unknown tiling {tiling!r}; use one of {', '.join(TILINGS)}")
        kind = model if model in _MODELS else None
        spec = _MODELS[kind or "short"]
        if kind:
            path = resources.files("fer_edge") / "assets" / spec["file"]
            data = path.read_bytes()
        else:
            data = model
        self._interp = make_interpreter(data, num_threads=num_threads)
        inp = self._interp.get_input_details()[0]
        self.size = int(inp["shape"][1])
        if kind is None:  # a user-supplied BlazeFace file: infer its layout from its input size
            spec = next((s for s in _MODELS.values() if s["size"] == self.size), None)
            if spec is None:
                raise ValueError(f"{model}: input {self.size}x{self.size} matches no known BlazeFace model")
        self.anchors = ssd_anchors(self.size, spec["strides"], spec["anchors_per_layer"])
        self._groups = [c * c * n for c, n in anchor_groups(self.size, spec["strides"], spec["anchors_per_layer"])]
        outs = sorted(self._interp.get_output_details(), key=lambda d: -int(d["shape"][-1]))
        if int(outs[0]["shape"][1]) != len(self.anchors) or int(outs[0]["shape"][-1]) != 16:
            raise ValueError(f"detector outputs {[list(o['shape']) for o in outs]} do not match "
                             f"{len(self.anchors)} BlazeFace anchors")
        self._in_index, self._box_index, self._score_index = inp["index"], outs[0]["index"], outs[1]["index"]
        self._pool = BatchInterpreters(self._interp, data, num_threads, self._in_index)
        self.min_score, self.iou_threshold, self.tiling, self.max_faces = min_score, iou_threshold, tiling, max_faces
        #: detector views run so far (one whole-frame invoke each); the benchmark reads it
        self.invokes = 0

    def _unbatch(self, out: np.ndarray, n: int, width: int) -> np.ndarray:
        """``(n, anchors, width)`` from the graph's output, which reshapes each anchor group with a
        fixed batch of 1 and concatenates: ``[img0 g0, img1 g0, ..., img0 g1, img1 g1, ...]``."""
        flat = out.reshape(-1, width)
        if n == 1:
            return flat[None]
        parts, start = [], 0
        for g in self._groups:
            parts.append(flat[start:start + n * g].reshape(n, g, width))
            start += n * g
        return np.concatenate(parts, axis=1)

    def _view_pixels(self, image: np.ndarray, v: TileView) -> np.ndarray:
        """The square view resized to the model input, as RGB; outside the frame is black (letterbox).
        The frame is cut first and converted after: a view is far smaller than a frame."""
        s = self.size / v.side
        m = np.array([[s, 0, -v.x0 * s], [0, s, -v.y0 * s]], np.float32)
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        view = cv2.warpAffine(image, m, (self.size, self.size), flags=interp, borderMode=cv2.BORDER_CONSTANT)
        if view.ndim == 2:
            return cv2.cvtColor(view, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(view, cv2.COLOR_BGRA2RGB if view.shape[2] == 4 else cv2.COLOR_BGR2RGB)

    @staticmethod
    def _frame(image: np.ndarray) -> np.ndarray:
        """A gray, BGR or BGRA frame as the 2-D or 3/4-channel array the views are cut from."""
        img = np.asarray(image)
        if img.ndim == 3 and img.shape[2] == 1:
            return img[:, :, 0]
        if img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (3, 4)):
            return img
        raise ValueError(f"expected a gray or BGR image, got shape {img.shape}")

    def _run_views(self, frame: np.ndarray, views: list[TileView]):
        """One batched invoke over ``views``; per view ``(boxes, scores, keypoints)`` in frame pixels."""
        batch = np.stack([self._view_pixels(frame, v) for v in views]).astype(np.float32)
        batch /= 127.5
        batch -= 1.0
        raw_boxes, raw_scores, start = [], [], 0
        for k in self._pool.split(len(views)):
            it = self._pool[k]
            it.set_tensor(self._in_index, batch[start:start + k])
            it.invoke()
            raw_boxes.append(self._unbatch(it.get_tensor(self._box_index), k, 16))
            raw_scores.append(self._unbatch(it.get_tensor(self._score_index), k, 1)[..., 0])
            start += k
        self.invokes += len(views)
        raw_boxes, raw_scores = np.concatenate(raw_boxes), np.concatenate(raw_scores)
        out = []
        for i, v in enumerate(views):
            boxes, scores, kps = decode(raw_boxes[i], raw_scores[i], self.anchors, self.size, self.min_score)
            out.append((boxes * v.side + np.array([v.x0, v.y0, 0, 0], np.float32), scores,
                        kps * v.side + np.array([v.x0, v.y0], np.float32)))
        return out

    def _faces(self, merged, w: int, h: int) -> list[FaceBox]:
        faces = []
        for box, score, kp in merged:
            x0, y0 = max(0.0, box[0]), max(0.0, box[1])
            x1, y1 = min(float(w), box[0] + box[2]), min(float(h), box[1] + box[3])
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            faces.append(FaceBox(x0, y0, x1 - x0, y1 - y0, score, tuple(map(tuple, kp.reshape(6, 2).tolist()))))
        return faces

    def detect(self, image: np.ndarray, views: list[TileView] | None = None) -> list[FaceBox]:
        """Faces in one frame (BGR, BGRA or gray uint8), best first: every view of ``tiling`` (or the
        given square ``views``, e.g. where something moved), one invoke."""
        frame = self._frame(image)
        h, w = frame.shape[:2]
        if views is None:
            views = tile_views(w, h, self.tiling)
            self._pool.allow(len(views))  # a whole-frame scan in one invoke
        per_view = self._run_views(frame, views)
        merged = weighted_nms(np.concatenate([b for b, _, _ in per_view]), np.concatenate([s for _, s, _ in per_view]),
                              np.concatenate([k for _, _, k in per_view]).reshape(-1, 12), self.iou_threshold,
                              self.max_faces, floor=self.min_score)
        return self._faces(merged, w, h)

    def detect_in_regions(self, image: np.ndarray, regions: list[TileView], near=None) -> list[FaceBox | None]:
        """One face per square region (one batched invoke), or None where there is none: the most
        confident one, or with ``near`` (an ``(x, y, w, h)`` box per region) the one overlapping it most.

        This is how a tracked face is followed: a region around where it is predicted to be,
        at the detector's own resolution, instead of a scan of the whole frame; ``near`` keeps two
        faces that meet from swapping tracks.
        """
        if not regions:
            return []
        frame = self._frame(image)
        h, w = frame.shape[:2]
        out = []
        for i, ((boxes, scores, kps), v) in enumerate(zip(self._run_views(frame, regions), regions)):
            # plain score weights here: with the threshold floor, the crossing-faces clip swapped two ids
            merged = weighted_nms(boxes, scores, kps.reshape(-1, 12), self.iou_threshold,
                                  1 if near is None else None)
            faces = self._faces(merged, w, h)
            if near is not None and faces:
                ref = FaceBox(*(float(c) for c in near[i]), score=0.0)
                faces = [max(faces, key=ref.iou)]
            out.append(faces[0] if faces else None)
        return out

    __call__ = detect

    def close(self) -> None:
        self._interp = None
        self._pool.clear()
