"""EmotionRecognizer: faces and their emotions in whole images and video (style: MediaPipe Tasks).

    with EmotionRecognizer.create_from_model_path("model.tflite") as rec:
        for face in rec.recognize(cv2.imread("group.jpg")):
            print(face.box, face.emotion, face.score)

IMAGE mode classifies each picture alone; VIDEO mode tracks faces from frame to
frame and smooths their probabilities. All faces of a frame are classified in
one batched invoke.
"""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field

import numpy as np

from .classifier import EmotionClassifier
from .detection import create_detector
from .detection.base import FaceBox
from .preprocessing import crop_face, to_gray_u8
from .tracking import FaceTracker, SmoothingOptions


class RunningMode(enum.Enum):
    IMAGE = "image"
    VIDEO = "video"


@dataclass
class RecognizerOptions:
    """Everything an :class:`EmotionRecognizer` is built from; the defaults work.

    ``detect_every`` (video): run the detector on every n-th frame and reuse the
    tracked boxes in between, trading box freshness for frame rate.
    """

    model: object = None  # path, bytes or bundled name; None: the bundled default
    running_mode: RunningMode = RunningMode.IMAGE
    detector: str = "blazeface"
    detector_model: str | None = None
    tiling: str = "frame+grid"
    min_detection_score: float = 0.55
    max_faces: int = 20
    min_face_size: int = 12
    num_threads: int | None = 1
    device: str | None = None
    smoothing: SmoothingOptions = field(default_factory=SmoothingOptions)
    detect_every: int = 1
    max_missed: int = 5
    flip_tta: bool = False  # average each face with its mirror image (2x classifier cost)


@dataclass(frozen=True)
class FaceResult:
    """One face: box ``(x, y, w, h)`` in image pixels, detection score, top emotion and all probabilities."""

    box: tuple[int, int, int, int]
    detection_score: float
    emotion: str
    score: float
    probabilities: dict[str, float]
    keypoints: tuple[tuple[float, float], ...] = ()
    track_id: int | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["box"] = list(self.box)
        d["score"] = round(self.detection_score, 4)
        d["emotion_score"] = round(self.score, 4)
        d["probabilities"] = {k: round(v, 4) for k, v in self.probabilities.items()}
        d["keypoints"] = [[round(x, 1), round(y, 1)] for x, y in self.keypoints]
        del d["detection_score"]
        if self.track_id is None:
            del d["track_id"]
        return d


@dataclass(frozen=True)
class FrameResult:
    """The faces of one video frame."""

    frame_index: int
    timestamp_ms: float
    faces: list[FaceResult]


class EmotionRecognizer:
    """Detect faces, crop them as in training, classify them in one batch, and (video) smooth over time."""

    def __init__(self, options: RecognizerOptions):
        if options.detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {options.detect_every}")
        self.options = options
        self.classifier = EmotionClassifier(options.model, num_threads=options.num_threads, device=options.device,
                                            flip_tta=options.flip_tta)
        self.detector = create_detector(options.detector, min_score=options.min_detection_score,
                                        tiling=options.tiling, max_faces=options.max_faces,
                                        num_threads=options.num_threads, model_path=options.detector_model)
        self.tracker = FaceTracker(options.smoothing, max_missed=options.max_missed)
        self._frame_index = 0
        self._last_ts = None
        self._closed = False

    @classmethod
    def create_from_model_path(cls, model_path=None, **options) -> "EmotionRecognizer":
        return cls(RecognizerOptions(model=model_path, **options))

    @classmethod
    def create_from_options(cls, options: RecognizerOptions) -> "EmotionRecognizer":
        return cls(options)

    @property
    def labels(self) -> list[str]:
        return self.classifier.labels

    def _check(self, mode: RunningMode) -> None:
        if self._closed:
            raise RuntimeError("EmotionRecognizer is closed")
        if self.options.running_mode is not mode:
            raise ValueError(f"this recognizer runs in {self.options.running_mode.name} mode; "
                             f"create it with running_mode=RunningMode.{mode.name} for this call")

    def _faces(self, image: np.ndarray, boxes: list[FaceBox]):
        gray = to_gray_u8(image)
        spec = self.classifier.preprocessing
        boxes = [b for b in boxes if min(b.w, b.h) >= self.options.min_face_size]
        crops = [crop_face(gray, b.box, spec) for b in boxes]
        return boxes, self.classifier.predict_proba(crops)

    def _result(self, b: FaceBox, probs: np.ndarray, track_id=None) -> FaceResult:
        e = self.classifier.to_emotion(probs)
        return FaceResult(b.box, float(b.score), e.label, e.score, e.probabilities, b.keypoints, track_id)

    def recognize(self, image: np.ndarray) -> list[FaceResult]:
        """All faces of one image (BGR, BGRA or gray), best detection first.

        Raises:
            ValueError: the array is not an image; or this recognizer is in VIDEO mode.
        """
        self._check(RunningMode.IMAGE)
        img = _as_image(image)
        boxes, probs = self._faces(img, self.detector.detect(img))
        return [self._result(b, p) for b, p in zip(boxes, probs)]

    def recognize_for_video(self, frame: np.ndarray, timestamp_ms: float | None = None) -> FrameResult:
        """Faces of the next video frame, with track ids and smoothed probabilities.

        Raises:
            ValueError: timestamps that do not increase; or this recognizer is in IMAGE mode.
        """
        self._check(RunningMode.VIDEO)
        img = _as_image(frame)
        ts = float(self._frame_index if timestamp_ms is None else timestamp_ms)
        if self._last_ts is not None and ts <= self._last_ts:
            raise ValueError(f"timestamp {ts} ms is not after the previous frame's {self._last_ts} ms")
        self._last_ts = ts
        if self._frame_index % self.options.detect_every == 0 or not self.tracker.tracks:
            detected = self.detector.detect(img)
        else:  # reuse the boxes of faces seen in the last frame
            detected = [FaceBox(*t.box, score=t.score) for t in self.tracker.tracks if t.missed == 0]
        boxes, probs = self._faces(img, detected)
        tracked = self.tracker.update([[b.x, b.y, b.w, b.h] for b in boxes], probs, [b.score for b in boxes])
        faces = [self._result(b, p, tid) for b, (tid, p) in zip(boxes, tracked)]
        result = FrameResult(self._frame_index, ts, faces)
        self._frame_index += 1
        return result

    def recognize_video(self, frames):
        """Yield a :class:`FrameResult` per frame of an iterable of frames or ``(timestamp_ms, frame)`` pairs."""
        for item in frames:
            if isinstance(item, tuple):
                yield self.recognize_for_video(item[1], item[0])
            else:
                yield self.recognize_for_video(item)

    def reset(self) -> None:
        """Forget tracks and timestamps (start of a new video)."""
        self.tracker.reset()
        self._frame_index, self._last_ts = 0, None

    def close(self) -> None:
        """Release the interpreters; safe to call twice."""
        if not self._closed:
            self.classifier.close()
            self.detector.close()
            self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _as_image(image) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim not in (2, 3) or img.size == 0 or (img.ndim == 3 and img.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected an image array (H, W) or (H, W, 3|4), got shape {img.shape}")
    if img.dtype != np.uint8:
        from .images import to_bgr
        img = to_bgr(img)
    return img
