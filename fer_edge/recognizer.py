"""EmotionRecognizer: faces and their emotions in whole images and video (style: MediaPipe Tasks).

    with EmotionRecognizer.create_from_model_path("model.tflite") as rec:
        for face in rec.recognize(cv2.imread("group.jpg")):
            print(face.box, face.emotion, face.emotion_score)

Three running modes, as MediaPipe Tasks has: IMAGE classifies each picture
alone (``recognize``); VIDEO tracks faces from frame to frame and smooths their
probabilities (``recognize_for_video(frame, timestamp_ms)``, timestamps must
increase); LIVE_STREAM does the same work on a background thread and hands each
result to ``result_callback`` (``recognize_async(frame, timestamp_ms)`` returns
at once; a frame that arrives while the previous one is still being processed
is dropped, as a camera loop wants). All faces of a frame are classified in one
batched invoke.
"""
from __future__ import annotations

import enum
import threading
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from .classifier import EmotionClassifier
from .detection import create_detector
from .detection.base import FaceBox
from .errors import InferenceError
from .preprocessing import crop_face, pixels_u8, to_gray_u8
from .tracking import FaceTracker, SmoothingOptions


class RunningMode(enum.Enum):
    IMAGE = "image"
    VIDEO = "video"
    LIVE_STREAM = "live_stream"


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
    #: LIVE_STREAM only: called as ``result_callback(result: FrameResult, frame, timestamp_ms)`` on a worker thread.
    result_callback: Callable | None = None


@dataclass(frozen=True)
class FaceResult:
    """One face.

    Attributes:
        box: ``(x, y, w, h)`` in image pixels.
        detection_score: the face detector's confidence, 0..1.
        emotion: the most probable label.
        emotion_score: its probability, 0..1 (smoothed over time in VIDEO/LIVE_STREAM modes).
        probabilities: every label's probability.
        keypoints: the detector's landmarks in image pixels (BlazeFace: eyes, nose, mouth, ears).
        track_id: the face's identity across frames (VIDEO/LIVE_STREAM), else None.
    """

    box: tuple[int, int, int, int]
    detection_score: float
    emotion: str
    emotion_score: float
    probabilities: dict[str, float]
    keypoints: tuple[tuple[float, float], ...] = ()
    track_id: int | None = None

    @property
    def score(self) -> float:
        """Deprecated name of :attr:`emotion_score` (removed in 0.3)."""
        warnings.warn("FaceResult.score is deprecated: use emotion_score (or detection_score)", DeprecationWarning,
                      stacklevel=2)
        return self.emotion_score

    def to_dict(self) -> dict:
        """JSON-ready: the same names as the attributes, plus ``score`` (the detection score) kept for 0.2 only."""
        d = asdict(self)
        d["box"] = list(self.box)
        d["detection_score"] = round(self.detection_score, 4)
        d["emotion_score"] = round(self.emotion_score, 4)
        d["score"] = d["detection_score"]  # deprecated JSON key (0.1 wrote the detection score under it)
        d["probabilities"] = {k: round(v, 4) for k, v in self.probabilities.items()}
        d["keypoints"] = [[round(x, 1), round(y, 1)] for x, y in self.keypoints]
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
    """Detect faces, crop them as in training, classify them in one batch, and (video) smooth over time.

    Args:
        options: a :class:`RecognizerOptions`.
    Raises:
        ValueError: options out of range (``detect_every < 1``, LIVE_STREAM without a callback...).
        ModelError, MetadataError: the emotion or detector model cannot be used.
        DelegateError: an Edge TPU ``device`` was asked for and its runtime cannot be loaded.
    """

    def __init__(self, options: RecognizerOptions):
        if options.detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {options.detect_every}")
        live = options.running_mode is RunningMode.LIVE_STREAM
        if live and not callable(options.result_callback):
            raise ValueError("LIVE_STREAM mode needs a result_callback(result, frame, timestamp_ms)")
        if not live and options.result_callback is not None:
            raise ValueError(f"result_callback is for LIVE_STREAM mode, not {options.running_mode.name}")
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
        self._live = _LiveWorker(self) if live else None

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
            raise InferenceError("EmotionRecognizer is closed")
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
        """All faces of one image, best detection first (IMAGE mode).

        Args:
            image: ``(H, W)`` gray or ``(H, W, 1|3|4)`` gray/BGR/BGRA; uint8, uint16, or floats in [0, 1] or
                [0, 255] (the rule of :func:`fer_edge.preprocessing.pixels_u8`).
        Returns:
            One :class:`FaceResult` per face.
        Raises:
            ImageError: the array is not an image; ValueError: this recognizer is in another mode.
            InferenceError: the recognizer is closed.
        """
        self._check(RunningMode.IMAGE)
        img = _as_image(image)
        boxes, probs = self._faces(img, self.detector.detect(img))
        return [self._result(b, p) for b, p in zip(boxes, probs)]

    def recognize_for_video(self, frame: np.ndarray, timestamp_ms: float) -> FrameResult:
        """Faces of the next video frame, with track ids and smoothed probabilities (VIDEO mode).

        Args:
            frame: an image as :meth:`recognize` takes.
            timestamp_ms: the frame's time; must increase from frame to frame.
        Returns:
            A :class:`FrameResult`.
        Raises:
            ImageError: the frame is not an image; ValueError: a timestamp that does not increase, or this
            recognizer is in another mode. InferenceError: the recognizer is closed.
        """
        self._check(RunningMode.VIDEO)
        img = _as_image(frame)
        ts = self._next_timestamp(timestamp_ms)
        return self._process(img, ts)

    def recognize_async(self, frame: np.ndarray, timestamp_ms: float) -> bool:
        """Hand a camera frame to the worker and return at once (LIVE_STREAM mode).

        The result goes to ``options.result_callback(result, frame, timestamp_ms)`` on the worker
        thread. A frame that arrives while the previous one is still being processed is dropped.

        Returns:
            True when the frame was accepted, False when it was dropped.
        Raises:
            ImageError, ValueError (timestamps must increase; wrong mode), InferenceError (closed, or the
            worker failed on an earlier frame: its error is raised here).
        """
        self._check(RunningMode.LIVE_STREAM)
        img = _as_image(frame)
        ts = self._next_timestamp(timestamp_ms)
        return self._live.submit(img, ts)

    def _next_timestamp(self, timestamp_ms) -> float:
        try:
            ts = float(timestamp_ms)
        except (TypeError, ValueError):
            raise ValueError(f"timestamp_ms must be a number, got {timestamp_ms!r}") from None
        if not np.isfinite(ts):
            raise ValueError(f"timestamp_ms must be finite, got {ts}")
        if self._last_ts is not None and ts <= self._last_ts:
            raise ValueError(f"timestamp {ts} ms is not after the previous frame's {self._last_ts} ms")
        self._last_ts = ts
        return ts

    def _process(self, img: np.ndarray, ts: float) -> FrameResult:
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

    def recognize_video(self, frames, fps: float = 30.0):
        """Yield a :class:`FrameResult` per frame of an iterable of frames (timestamps from ``fps``)
        or of ``(timestamp_ms, frame)`` pairs (VIDEO mode)."""
        base = 0.0 if self._last_ts is None else self._last_ts + 1000.0 / fps
        for i, item in enumerate(frames):
            if isinstance(item, tuple):
                yield self.recognize_for_video(item[1], item[0])
            else:
                yield self.recognize_for_video(item, base + i * 1000.0 / fps)

    def reset(self) -> None:
        """Forget tracks and timestamps (start of a new video)."""
        self.tracker.reset()
        self._frame_index, self._last_ts = 0, None

    def close(self) -> None:
        """Finish the frame in flight (LIVE_STREAM), release the interpreters; safe to call twice."""
        if not self._closed:
            if self._live is not None:
                self._live.stop()
            self.classifier.close()
            self.detector.close()
            self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _LiveWorker:
    """One background thread for LIVE_STREAM: at most one frame in flight, newer frames dropped meanwhile."""

    def __init__(self, rec: EmotionRecognizer):
        self.rec, self.callback = rec, rec.options.result_callback
        self.cond = threading.Condition()
        self.pending = None
        self.busy = self.stopping = False
        self.error: BaseException | None = None
        self.dropped = 0
        self.thread = threading.Thread(target=self._loop, name="fer-edge-live", daemon=True)
        self.thread.start()

    def submit(self, img, ts) -> bool:
        with self.cond:
            if self.error is not None:
                err, self.error = self.error, None
                raise InferenceError(f"LIVE_STREAM worker failed on an earlier frame: {err}") from err
            if self.busy or self.pending is not None:
                self.dropped += 1
                return False
            self.pending = (img, ts)
            self.cond.notify()
            return True

    def _loop(self) -> None:
        while True:
            with self.cond:
                while self.pending is None and not self.stopping:
                    self.cond.wait()
                if self.pending is None:
                    return
                (img, ts), self.pending = self.pending, None
                self.busy = True
            try:
                self.callback(self.rec._process(img, ts), img, ts)
            except BaseException as e:  # noqa: BLE001  (reported on the next submit)
                with self.cond:
                    self.error = e
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.thread.join()


def _as_image(image) -> np.ndarray:
    """The frame as uint8 (gray, BGR or BGRA) by the one rule of :func:`~fer_edge.preprocessing.pixels_u8`."""
    return pixels_u8(image, "frame")
