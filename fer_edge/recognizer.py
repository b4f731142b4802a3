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
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np

from .classifier import EmotionClassifier
from .continuity import face_look, is_cut, small_frame
from .detection import create_detector
from .detection.base import FaceBox, centre_inside, iou_pair, iou_xywh
from .detection.blazeface import TileView
from .errors import InferenceError
from .preprocessing import crop_face, pixels_u8, to_gray_u8
from .tracking import FaceTracker, SmoothingOptions


class RunningMode(enum.Enum):
    IMAGE = "image"
    VIDEO = "video"
    LIVE_STREAM = "live_stream"


@dataclass
class RecognizerOptions:
    """Everything an :class:`EmotionRecognizer` is built from; the defaults work (and were measured:
    ``benchmarks/results/video.md``).

    Video (VIDEO and LIVE_STREAM modes):
        ``region_tracking``: follow each face by running the detector on a square ``region_scale`` x its
        size around where it is predicted to be (one 128 x 128 view per face, batched), with a
        whole-frame scan every ``full_scan_every`` frames (new faces), after a confirmed face is lost,
        when the whole frame changes, or on :meth:`EmotionRecognizer.request_full_scan`. ``motion_scan``:
        where the frame changes away from the followed faces (a face coming in, one the tracker lost),
        scan only a view around the change, at most every ``motion_scan_gap`` frames. ``track_every``: a
        confirmed face is looked for by the detector (and its emotion classified) every n-th frame, in
        turn with the other faces; in the frames between, a small template of it is matched around where
        it should be. ``confirm_frames``: a face is reported from
        the frame in which it was seen that many times (one-frame phantoms never are); a track ends
        after ``max_missed`` frames without it. ``box_filter``: One Euro ``(min_cutoff Hz, beta)`` for
        the reported boxes, None for raw boxes. With ``region_tracking=False`` (or a detector without
        regions), ``detect_every`` runs the full detector every n-th frame and reuses the boxes between.
    """

    model: object = None  # path, bytes, bundled name or tier (default, fast, accurate); None: the default
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
    region_tracking: bool = True
    full_scan_every: int = 20
    track_every: int = 7
    region_scale: float = 2.0
    confirm_frames: int = 1
    confirm_score: float = 0.0
    instant_score: float = 1.01
    verify_faces: bool = True
    verify_tries: int = 5
    motion_scan: bool = True
    motion_scan_gap: int = 3
    coast_frames: int = 1
    box_filter: tuple[float, float] | None = (1.5, 0.05)
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

    def to_dict(self) -> dict:
        """JSON-ready, with the attributes' names (one meaning per name: no ``score`` key since 0.3)."""
        d = asdict(self)
        d["box"] = list(self.box)
        d["detection_score"] = round(self.detection_score, 4)
        d["emotion_score"] = round(self.emotion_score, 4)
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
    #: where this frame's time went, in ms: ``detect`` (full scans, regions, new-face checks), ``classify``
    #: (crops and the emotion model), ``track`` (matching and smoothing)
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: this frame starts a new scene (a shot cut, a loop restart, a camera moved at once): every earlier
    #: track ended before it, and smoothing starts afresh
    cut: bool = False
    #: the track ids reported in earlier frames that ended at this one (the face left, or a cut): a person's
    #: record can be closed here (:mod:`fer_edge.summary`)
    ended: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        """The per-frame JSON every output writes (``--json``, ``camera --json-out``, ``serve``'s events, MQTT)."""
        return {"frame": self.frame_index, "timestamp_ms": round(self.timestamp_ms, 1), "cut": self.cut,
                "ended": list(self.ended), "faces": [f.to_dict() for f in self.faces]}


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
        if min(options.full_scan_every, options.confirm_frames, options.track_every, options.verify_tries,
               options.motion_scan_gap) < 1 or options.max_missed < 0 or options.coast_frames < 0:
            raise ValueError("full_scan_every, confirm_frames, track_every, verify_tries and motion_scan_gap must be "
                             ">= 1, max_missed and coast_frames >= 0")
        if not 1.0 <= options.region_scale <= 6.0:
            raise ValueError(f"region_scale must be within 1..6, got {options.region_scale}")
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
        video = options.running_mode is not RunningMode.IMAGE
        # a second opinion on new faces: the full-range BlazeFace model, whose phantoms are not the short model's
        self._verifier = None
        if video and options.verify_faces and options.detector == "blazeface":
            from .detection.blazeface import BlazeFaceDetector
            self._verifier = BlazeFaceDetector("full", min_score=0.3, num_threads=options.num_threads)
        self.tracker = FaceTracker(options.smoothing, max_missed=options.max_missed,
                                   confirm_frames=options.confirm_frames if video else 1,
                                   confirm_score=options.confirm_score if video else 0.0,
                                   instant_score=options.instant_score,
                                   box_filter=options.box_filter)
        self._since_scan = self._since_motion = 0
        self._scan_requested = False
        self._prev_small = self._small = None
        self._cut_requested = False
        self._reported: set[int] = set()  # ids shown in a result and not yet ended
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

    def mark_cut(self) -> None:
        """Tell the recognizer the next frame starts a new scene (a file that loops, a camera you switched):
        every track ends there and its faces get new ids, as at a shot cut it sees by itself."""
        self._cut_requested = True

    def request_full_scan(self) -> None:
        """Scan the whole frame on the next video frame (e.g. when you expect a new face)."""
        self._scan_requested = True

    def _detect_video(self, img: np.ndarray, gray: np.ndarray) -> tuple[list[FaceBox], list | None, dict]:
        """This frame's faces; the track id of each (None: a face to match or start a track for), or None
        for all when they came from a whole-frame scan; and the confirmed tracks not looked for this frame
        (``track_every``), each with the box its template was followed to (None: not found)."""
        o, tr = self.options, self.tracker
        if not (o.region_tracking and hasattr(self.detector, "detect_in_regions")):
            if self._frame_index % o.detect_every == 0 or not tr.tracks:
                return self.detector.detect(img), None, {}
            return [FaceBox(*t.box, score=t.score) for t in tr.tracks if t.missed == 0], None, {}
        moving = self._motion_views(gray) if o.motion_scan else []
        if moving and self._since_motion < o.motion_scan_gap:
            moving = []  # a thing the detector does not see as a face moves on: look again in a few frames
        if not tr.tracks or self._scan_requested or moving is None or self._since_scan >= o.full_scan_every:
            self._since_scan, self._since_motion, self._scan_requested = 1, 1, False
            return self.detector.detect(img), None, {}
        self._since_scan += 1
        self._since_motion = 1 if moving else self._since_motion + 1
        # confirmed, steadily found faces are looked for every track_every-th frame, in turn; others every frame
        look = [t for t in tr.tracks if not (tr.confirmed(t) and t.missed == 0 and
                                             (self._frame_index + t.track_id) % o.track_every)]
        looked = {t.track_id for t in look}
        followed = {}  # the others followed by their templates; one that loses its template is looked for now
        for t in tr.tracks:
            if t.track_id not in looked:
                b = _follow(gray, t)
                if b is None and tr.confirmed(t):
                    look.append(t)
                    looked.add(t.track_id)
                else:
                    followed[t.track_id] = b
        predicted = [t.predicted_box() for t in look]
        found = self.detector.detect_in_regions(img, [region_around(b, o.region_scale) for b in predicted],
                                                near=predicted) if look else []
        faces, ids = [], []
        for t, pred, f in sorted(zip(look, predicted, found), key=lambda z: -(z[2].score if z[2] else 0)):
            if f is None or not _belongs(f, pred) or any(f.iou(k) >= 0.5 for k in faces):
                continue  # nothing there, something else, or the face another track already took (crossing)
            faces.append(f)
            ids.append(t.track_id)
        skipped = {}  # ... unless that lands on a face another track has
        for tid, b in followed.items():
            taken = [k.box for k in faces] + [v for v in skipped.values() if v is not None]
            if b is not None and taken and iou_xywh(b, np.asarray(taken, np.float64)).max() >= 0.5:
                b = None
            skipped[tid] = b
        if moving:  # where something moved away from the followed faces: new faces, or ones the tracker lost
            for f in self.detector.detect(img, views=moving):
                if not any(f.iou(k) >= 0.3 for k in faces):
                    faces.append(f)
                    ids.append(None)
        return faces, ids, skipped

    def _verify(self, img: np.ndarray, new_tracks, seen) -> None:
        """New tracks start unverified; a candidate seen this frame is checked by the full-range model
        (one batched invoke, at most ``verify_tries`` times per track)."""
        tr, o = self.tracker, self.options
        for t in new_tracks:
            t.verified = False
        for t in tr.tracks:  # found again in its own region, and surer than any phantom we measured: a face
            if not t.verified and t.track_id in seen and t.hits >= VERIFY_SURE_HITS and t.mean_score >= VERIFY_SURE:
                t.verified = True
        todo = [t for t in tr.tracks if not t.verified and t.track_id in seen and t.verify_tries < o.verify_tries
                and tr.candidate(t)]
        for t in todo:
            t.verify_tries += 1
        # a wide view of each; a face it misses is often plain in a closer one, looked at only then
        for scale, least in ((VERIFY_SCALE, 0.0), (VERIFY_CLOSE_SCALE, VERIFY_CLOSE_SCORE)):
            if not todo or not scale:
                break
            found = self._verifier.detect_in_regions(img, [region_around(t.box, scale) for t in todo],
                                                     near=[t.box for t in todo])
            for t, f in zip(todo, found):
                t.verified = f is not None and f.score >= least and iou_pair((f.x, f.y, f.w, f.h), t.box) > 0.3
            todo = [t for t in todo if not t.verified]
        # out of tries: forget it, so that a later scan starts it afresh (a phantom is never reported)
        tr.tracks = [t for t in tr.tracks if t.verified or t.verify_tries < o.verify_tries]

    def _motion_views(self, gray: np.ndarray):
        """Square views around what changed since the last frame away from every followed face (a face
        coming in, one the tracker lost), from a 1/8-scale frame difference with the faces' regions masked
        out (~0.2 ms); None when so much changed (a camera move, the lights) that the whole frame needs a scan."""
        import cv2

        H, W = gray.shape[:2]
        small, prev = self._small, self._prev_small
        if prev is None or prev.shape != small.shape:
            return []
        diff = (np.abs(small - prev) > 20).astype(np.uint8)
        changed, near = diff.copy(), np.zeros_like(diff)
        for t in self.tracker.tracks:
            cells = _cells(region_around(t.predicted_box(), MOTION_MASK_SCALE))  # the face and the head with it
            changed[cells], near[cells] = 0, 1
        if MOTION_NEAR_BLOCK and near.any():
            for t in self.tracker.tracks:  # the face itself changes as it moves, blinks, talks
                near[_cells(region_around(t.predicted_box(), MOTION_CORE_SCALE))] = 0
            # near a followed face its own motion changes thin bands (its edges, hair); a face that comes in
            # there changes a solid block: what survives an opening by that block is news
            k = np.ones((MOTION_NEAR_BLOCK, MOTION_NEAR_BLOCK), np.uint8)
            changed |= cv2.morphologyEx(diff & near, cv2.MORPH_OPEN, k)
        if changed.sum() > 0.3 * changed.size:
            return None
        # a moving face changes at its edges and features: join those pieces before counting blobs
        n, _, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(changed, np.ones((3, 3), np.uint8)), 8)
        # a face of min_face_size pixels is (min_face_size / 8)^2 cells; half of that moving is enough
        least = max(2, int(0.5 * (self.options.min_face_size / 8) ** 2))
        blobs = [stats[i] for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= least]
        boxes = [[8.0 * x, 8.0 * y, 8.0 * (x + w), 8.0 * (y + h)] for x, y, w, h, _ in blobs]
        while pair := next(((i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
                            if _overlap(_motion_view(boxes[i]), _motion_view(boxes[j]))), None):
            i, j = pair  # pieces whose views would overlap become one view
            a, b = boxes[i], boxes.pop(j)
            boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
        views = [_motion_view(b) for b in boxes]
        if len(views) > MOTION_VIEWS_MAX or any(v.side >= min(H, W) for v in views):
            return None  # many places or one as large as the frame: scan it whole
        return views

    def _process(self, img: np.ndarray, ts: float) -> FrameResult:
        o, tr = self.options, self.tracker
        t0 = time.perf_counter()
        gray = to_gray_u8(img)
        self._prev_small, self._small = self._small, small_frame(gray)
        cut = self._cut_requested or is_cut(self._prev_small, self._small)
        if cut:  # a new scene: nobody in it is anybody from before
            self._cut_requested = False
            tr.end_all()
            self._prev_small, self._scan_requested = None, True
        detected, ids, skipped = self._detect_video(img, gray)
        keep = [i for i, b in enumerate(detected) if min(b.w, b.h) >= o.min_face_size]
        t1 = time.perf_counter()
        boxes, probs = self._faces(gray, [detected[i] for i in keep])
        t2 = time.perf_counter()
        ids = None if ids is None else [ids[i] for i in keep]
        before = {t.track_id for t in tr.tracks}
        looks = [face_look(gray, b.box) for b in boxes]
        tracked = tr.update([[b.x, b.y, b.w, b.h] for b in boxes], probs, [b.score for b in boxes], ts, ids,
                            skipped, looks=looks)
        seen = {tid: (b, p) for b, (tid, p) in zip(boxes, tracked)}
        if o.region_tracking:
            for t in tr.tracks:
                if t.track_id in seen:
                    t.template = _template(gray, t.box)
        t3 = time.perf_counter()
        if self._verifier is not None:
            self._verify(img, [t for t in tr.tracks if t.track_id not in before], seen)
        t4 = time.perf_counter()
        coast = o.coast_frames if o.region_tracking else 0
        faces = []
        for t in tr.tracks:
            if not tr.confirmed(t):
                continue
            if t.track_id in seen:
                b, p = seen[t.track_id]
                t.keypoints = b.keypoints
                x, y, w, h = (int(round(v)) for v in t.smooth_box)
                faces.append(replace(self._result(b, p, t.track_id), box=(x, y, w, h)))
            elif not t.displaced and (t.track_id in skipped or t.missed <= coast):  # where it was heading
                shift = t.velocity[:2] * t.missed
                sb = t.smooth_box
                x, y, w, h = (int(round(v)) for v in (sb[0] + shift[0], sb[1] + shift[1], sb[2], sb[3]))
                kps = tuple((kx + shift[0], ky + shift[1]) for kx, ky in t.keypoints)
                e = self.classifier.to_emotion(t.probs)
                faces.append(FaceResult((x, y, w, h), float(t.score), e.label, e.score, e.probabilities, kps,
                                        t.track_id))
        if any(t.missed == max(1, coast) and tr.confirmed(t) for t in tr.tracks):
            self._scan_requested = True  # a followed face stays lost: look at the whole frame next time
        alive = {t.track_id for t in tr.tracks}
        ended = tuple(sorted(self._reported - alive))
        self._reported = (self._reported & alive) | {f.track_id for f in faces}
        t5 = time.perf_counter()
        ms = lambda dt: round(dt * 1000.0, 3)  # noqa: E731
        result = FrameResult(self._frame_index, ts, faces,
                             {"detect": ms(t1 - t0 + t4 - t3), "classify": ms(t2 - t1), "track": ms(t3 - t2 + t5 - t4)},
                             cut=cut, ended=ended)
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
        self._since_scan, self._since_motion, self._scan_requested, self._prev_small = 0, 0, False, None
        self._small, self._cut_requested = None, False
        self._reported = set()

    def close(self) -> None:
        """Finish the frame in flight (LIVE_STREAM), release the interpreters; safe to call twice."""
        if not self._closed:
            if self._live is not None:
                self._live.stop()
            self.classifier.close()
            self.detector.close()
            if self._verifier is not None:
                self._verifier.close()
            self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


#: Region (x the face box) in which the full-range model verifies a new face: measured on the video clips'
#: detections, 85% of real faces and none of 29 phantoms passed at 4.0 (3.0: 88% and 10%).
VERIFY_SCALE = 4.0
#: ... or finds it at least this sure in a region VERIFY_CLOSE_SCALE x the box (0: no such view). On the moving
#: clips (4 seeds), tracks of real faces verified: 76% -> 80%; of phantoms: 2 of 33 either way.
VERIFY_CLOSE_SCALE, VERIFY_CLOSE_SCORE = 3.0, 0.5
#: ... and a face found in VERIFY_SURE_HITS frames with a mean short-range score this high needs no check. 0.75 ->
#: 0.7: kept 97.12 -> 97.24% on 48 four-face tuning clips at 0.023 false faces per frame either way; on 100
#: face-free textured backgrounds panning for 30 frames, 0.035 -> 0.041 false faces per frame (0.65: 97.63% kept,
#: but 0.071 there; 0.6: 0.052 false faces per frame on the clips).
VERIFY_SURE, VERIFY_SURE_HITS = 0.7, 2
#: Faces not looked for in a frame are followed by a template of TEMPLATE_SIZE px, searched TEMPLATE_SEARCH x
#: their size around where they should be; a match under TEMPLATE_MIN (normalised correlation) is not trusted.
TEMPLATE_SIZE, TEMPLATE_SEARCH, TEMPLATE_MIN = 24, 0.25, 0.8
#: Views where something moved: this many times the moving blob's larger side, at least MOTION_VIEW_MIN px;
#: more than MOTION_VIEWS_MAX blobs at once and the whole frame is scanned instead. 128 -> 160 px with track_every
#: 5 -> 7: a face coming in on a followed face's corner shows only its outer part as a blob, which a 128 px view
#: cut (found at the next whole-frame scan); kept 97.00 -> 97.06% on the 48 benchmark clips, 1.38 -> 1.21 views.
MOTION_VIEW_SCALE, MOTION_VIEW_MIN, MOTION_VIEWS_MAX = 1.5, 160.0, 3
#: Motion this close to a followed face (x its box's larger side) is its own head and shoulders moving.
MOTION_MASK_SCALE = 2.0
#: Between MOTION_CORE_SCALE and MOTION_MASK_SCALE x a followed face, a change counts only where it fills a
#: MOTION_NEAR_BLOCK-cell square (0: never): a face appearing beside another. On 48 four-face clips kept 96.1 ->
#: 96.75% at 0.01 more views per frame; a face that appears on a followed face's corner is found in the frame
#: it appears instead of at the next whole-frame scan.
MOTION_CORE_SCALE, MOTION_NEAR_BLOCK = 1.2, 3


def _template(gray: np.ndarray, box):
    """The face in ``box`` as a small gray patch (its larger side TEMPLATE_SIZE px), or None at the edge."""
    import cv2

    x, y, w, h = (float(v) for v in box)
    H, W = gray.shape[:2]
    x0, y0, x1, y1 = int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h))
    if x0 < 0 or y0 < 0 or x1 > W or y1 > H or min(w, h) < 8:
        return None
    f = TEMPLATE_SIZE / max(w, h)
    return cv2.resize(gray[y0:y1, x0:x1], (max(4, round(w * f)), max(4, round(h * f))), interpolation=cv2.INTER_AREA)


def _follow(gray: np.ndarray, track):
    """Where a face not looked for this frame went: its template matched (normalised correlation) around its
    predicted box at the template's scale (~0.1 ms); None when it has no template or the match is weak."""
    import cv2

    if track.template is None:
        return None
    x, y, w, h = (float(v) for v in track.predicted_box())
    f = TEMPLATE_SIZE / max(w, h)
    m = TEMPLATE_SEARCH * max(w, h)
    H, W = gray.shape[:2]
    x0, y0 = int(max(0, x - m)), int(max(0, y - m))
    x1, y1 = int(min(W, x + w + m)), int(min(H, y + h + m))
    th, tw = track.template.shape
    if (x1 - x0) * f < tw + 2 or (y1 - y0) * f < th + 2:
        return None
    area = cv2.resize(gray[y0:y1, x0:x1], (round((x1 - x0) * f), round((y1 - y0) * f)), interpolation=cv2.INTER_AREA)
    if area.shape[0] < th or area.shape[1] < tw:
        return None
    score = cv2.matchTemplate(area, track.template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(score)
    if best < TEMPLATE_MIN:
        return None
    return np.array([x0 + bx / f, y0 + by / f, w, h])


def _cells(v: TileView):
    """The cells of the 1/8-scale frame that a view covers, as a slice (clipped at the top and left edges)."""
    return np.s_[max(0, int(v.y0 // 8)):int((v.y0 + v.side) // 8) + 1,
                 max(0, int(v.x0 // 8)):int((v.x0 + v.side) // 8) + 1]


def _motion_view(box) -> TileView:
    """The square view around a moving blob ``[x0, y0, x1, y1]``."""
    side = max(MOTION_VIEW_MIN, MOTION_VIEW_SCALE * max(box[2] - box[0], box[3] - box[1]))
    return TileView((box[0] + box[2]) / 2 - side / 2, (box[1] + box[3]) / 2 - side / 2, side)


def _overlap(a: TileView, b: TileView) -> bool:
    return a.x0 < b.x0 + b.side and b.x0 < a.x0 + a.side and a.y0 < b.y0 + b.side and b.y0 < a.y0 + a.side


def _belongs(face: FaceBox, predicted) -> bool:
    """A region's detection is its track's face when its centre lies in the predicted box and the sizes agree."""
    w, h = float(predicted[2]), float(predicted[3])
    return centre_inside((face.x, face.y, face.w, face.h), predicted) and 0.6 <= max(face.w, face.h) / max(w, h, 1e-6) <= 1.6


def region_around(box, scale: float):
    """The square view ``scale`` x a box's larger side, centred on it, for following that face."""
    x, y, w, h = (float(v) for v in box)
    side = max(32.0, max(w, h) * scale)
    return TileView(x + w / 2 - side / 2, y + h / 2 - side / 2, side)


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
