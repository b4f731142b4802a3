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

import numpy as np

from .classifier import EmotionClassifier
from .detection import create_detector
from .detection.base import FaceBox
from .errors import InferenceError
from .following import found_again
from .live import LiveWorker
from .options import DetectorOptions, RecognizerOptions, RunningMode, TrackingOptions  # noqa: F401  (API)
from .preprocessing import crop_face, pixels_u8, to_gray_u8
from .results import FaceResult, FrameResult  # noqa: F401  (API)
from .tracking import SmoothingOptions  # noqa: F401  (API)
from .video_pipeline import VideoPipeline


class EmotionRecognizer:
    """Detect faces, crop them as in training, classify them in one batch, and (video) smooth over time.

    Args:
        options: a :class:`~fer_edge.options.RecognizerOptions` (checked when it was made).
    Raises:
        ModelError, MetadataError: the emotion or detector model cannot be used.
        DelegateError: an Edge TPU ``device`` was asked for and its runtime cannot be loaded.
    """

    def __init__(self, options: RecognizerOptions):
        if not isinstance(options, RecognizerOptions):
            raise ValueError(f"EmotionRecognizer takes RecognizerOptions, got {type(options).__name__}")
        self.options = options
        d = options.detector
        self.classifier = EmotionClassifier(options.model, num_threads=options.num_threads, device=options.device,
                                            flip_tta=options.flip_tta, balanced=options.balanced,
                                            min_emotion_score=options.min_emotion_score)
        self.detector = create_detector(d.name, min_score=d.min_score, tiling=d.tiling, max_faces=d.max_faces,
                                        num_threads=options.num_threads, model_path=d.model)
        # the face mesh model, a second opinion whose phantoms are not the detector's: IMAGE asks it about unsure
        # faces the detector does not find again (following.found_again), VIDEO about every new face
        self.presence = None
        if d.verify and d.name == "blazeface":
            from .detection.presence import FacePresence
            self.presence = FacePresence(num_threads=options.num_threads)
        self.video = None  # VIDEO and LIVE_STREAM: the pipeline that owns tracks and scheduling
        if options.running_mode is not RunningMode.IMAGE:
            self.video = VideoPipeline(options, self.detector, self.presence, self._classify, self._result,
                                       self.classifier.to_emotion)
        self._last_ts = None
        self._closed = False
        live = options.running_mode is RunningMode.LIVE_STREAM
        self._live = LiveWorker(self.video.process, options.result_callback) if live else None

    @classmethod
    def create_from_model_path(cls, model_path=None, **options) -> "EmotionRecognizer":
        return cls(RecognizerOptions(model=model_path, **options))

    @classmethod
    def create_from_options(cls, options: RecognizerOptions) -> "EmotionRecognizer":
        return cls(options)

    @property
    def labels(self) -> list[str]:
        return self.classifier.labels

    @property
    def tracker(self):
        """The video pipeline's :class:`~fer_edge.tracking.FaceTracker` (None in IMAGE mode)."""
        return self.video.tracker if self.video is not None else None

    def _check(self, mode: RunningMode) -> None:
        if self._closed:
            raise InferenceError("EmotionRecognizer is closed")
        if self.options.running_mode is not mode:
            raise ValueError(f"this recognizer runs in {self.options.running_mode.name} mode; "
                             f"create it with running_mode=RunningMode.{mode.name} for this call")

    def _classify(self, gray: np.ndarray, boxes: list[FaceBox]):
        """The boxes (each at least ``min_face_size``: the callers keep those) and their probabilities, in one
        batched invoke."""
        spec = self.classifier.preprocessing
        return boxes, self.classifier.predict_proba([crop_face(gray, b.box, spec) for b in boxes])

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
        found = [b for b in self.detector.detect(img) if min(b.w, b.h) >= self.options.detector.min_face_size]
        if self.options.detector.verify and self.options.detector.name == "blazeface":
            found = [b for b, ok in zip(found, found_again(self.detector, img, found, self.presence)) if ok]
        boxes, probs = self._classify(to_gray_u8(img), found)
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
        return self.video.process(img, ts)

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

    def mark_cut(self) -> None:
        """Tell the recognizer the next frame starts a new scene (a file that loops, a camera you switched):
        every track ends there and its faces get new ids, as at a shot cut it sees by itself."""
        if self.video is not None:
            self.video.mark_cut()

    def request_full_scan(self) -> None:
        """Scan the whole frame on the next video frame (e.g. when you expect a new face)."""
        if self.video is not None:
            self.video.request_full_scan()

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
        if self.video is not None:
            self.video.reset()
        self._last_ts = None

    def close(self) -> None:
        """Finish the frame in flight (LIVE_STREAM), release the interpreters; safe to call twice."""
        if not self._closed:
            if self._live is not None:
                self._live.stop()
            self.classifier.close()
            self.detector.close()
            if self.presence is not None:
                self.presence.close()
            self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _as_image(image) -> np.ndarray:
    """The frame as uint8 (gray, BGR or BGRA) by the one rule of :func:`~fer_edge.preprocessing.pixels_u8`."""
    return pixels_u8(image, "frame")
