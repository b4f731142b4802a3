"""VIDEO and LIVE_STREAM's work on one frame: when to scan the whole frame, where to look for each followed
face, new faces checked before they are reported, cuts, tracking and smoothing.

It owns its state (the tracker, the scan schedule, the last small frames) so the recognizer stays the
task's API (:mod:`fer_edge.recognizer`). Classification is the recognizer's, handed in as functions, the same
for IMAGE mode.
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .continuity import face_look, is_cut, small_frame
from .detection.base import FaceBox, iou_xywh
from .following import (MOTION_CORE_SCALE, MOTION_MASK_SCALE, MOTION_NEAR_BLOCK, MOTION_VIEWS_MAX,
                        VERIFY_SURE, VERIFY_SURE_HITS, belongs, cells, confirmed, follow, motion_view, overlap,
                        region_around, template)
from .preprocessing import to_gray_u8
from .results import FaceResult, FrameResult
from .tracking import FaceTracker


#: where a VIDEO frame's time goes, in the order a frame meets them (FrameResult.stages_ms)
STAGES = ("prepare", "cut test", "motion map", "template following", "region views", "whole-frame scans",
          "motion views", "classifier", "tracking", "new-face checks", "rest")


class StageClock:
    """Time since the last mark, charged to a stage: a frame's milliseconds stage by stage at ~0.2 us a mark."""

    def __init__(self):
        self.ms = dict.fromkeys(STAGES, 0.0)
        self._t = time.perf_counter()

    def mark(self, stage: str) -> None:
        t = time.perf_counter()
        self.ms[stage] += (t - self._t) * 1000.0
        self._t = t

    def split(self) -> dict[str, float]:
        """The same time as ``FrameResult.timings_ms`` reports it: ``classify`` (crops and the emotion model),
        ``track`` (matching and smoothing) and ``detect``, every other stage."""
        classify, track = self.ms["classifier"], self.ms["tracking"]
        return {"detect": round(sum(self.ms.values()) - classify - track, 3), "classify": round(classify, 3),
                "track": round(track, 3)}


class VideoPipeline:
    """One video's frames in order.

    Args:
        options: the recognizer's :class:`~fer_edge.options.RecognizerOptions`.
        detector: the face detector; ``verifier``: the face mesh judge that checks new faces
            (:class:`~fer_edge.detection.presence.FacePresence`, or None).
        classify: ``classify(gray, boxes) -> (kept boxes, probabilities)``; ``result``: ``result(box, probs,
            track_id) -> FaceResult``; ``to_emotion``: probabilities -> the classifier's ``Emotion``.
    """

    def __init__(self, options, detector, verifier, classify, result, to_emotion):
        self.options, self.detector, self.verifier = options, detector, verifier
        self.classify, self.result, self.to_emotion = classify, result, to_emotion
        t = options.tracking
        self.tracker = FaceTracker(options.smoothing, max_missed=t.max_missed, confirm_frames=t.confirm_frames,
                                   confirm_score=t.confirm_score, instant_score=t.instant_score,
                                   box_filter=t.box_filter)
        self.reset()

    def reset(self) -> None:
        """Forget tracks and the schedule (a new video)."""
        self.tracker.reset()
        self.frame_index = 0
        self._since_scan, self._since_motion, self._scan_requested = 0, 0, False
        self._prev_small = self._small = None
        self._cut_requested = False
        self._reported: set[int] = set()  # ids shown in a result and not yet ended

    def mark_cut(self) -> None:
        self._cut_requested = True

    def request_full_scan(self) -> None:
        self._scan_requested = True

    def process(self, img: np.ndarray, ts: float) -> FrameResult:
        o, tr = self.options, self.tracker
        clock = self._clock = StageClock()
        gray = to_gray_u8(img)
        self._prev_small, self._small = self._small, small_frame(gray)
        clock.mark("prepare")
        cut = self._cut_requested or is_cut(self._prev_small, self._small)
        clock.mark("cut test")
        if cut:  # a new scene: nobody in it is anybody from before
            self._cut_requested = False
            tr.end_all()
            self._prev_small, self._scan_requested = None, True
        detected, ids, skipped = self._detect(img, gray)
        keep = [i for i, b in enumerate(detected) if min(b.w, b.h) >= o.detector.min_face_size]
        clock.mark("rest")
        boxes, probs = self.classify(gray, [detected[i] for i in keep])
        clock.mark("classifier")
        ids = None if ids is None else [ids[i] for i in keep]
        before = {t.track_id for t in tr.tracks}
        looks = [face_look(gray, b.box) for b in boxes]
        tracked = tr.update([[b.x, b.y, b.w, b.h] for b in boxes], probs, [b.score for b in boxes], ts, ids,
                            skipped, looks=looks)
        seen = {tid: (b, p) for b, (tid, p) in zip(boxes, tracked)}
        if o.tracking.region_tracking:
            for t in tr.tracks:
                if t.track_id in seen:
                    t.template = template(gray, t.box)
        clock.mark("tracking")
        if self.verifier is not None:
            self._verify(img, [t for t in tr.tracks if t.track_id not in before], seen)
        clock.mark("new-face checks")
        faces = self._faces(seen, skipped)
        if any(t.missed == max(1, self._coast()) and tr.confirmed(t) for t in tr.tracks):
            self._scan_requested = True  # a followed face stays lost: look at the whole frame next time
        alive = {t.track_id for t in tr.tracks}
        ended = tuple(sorted(self._reported - alive))
        self._reported = (self._reported & alive) | {f.track_id for f in faces}
        clock.mark("tracking")
        result = FrameResult(self.frame_index, ts, faces, clock.split(), cut=cut, ended=ended,
                             stages_ms={k: round(v, 4) for k, v in clock.ms.items()})
        self.frame_index += 1
        return result

    def _coast(self) -> int:
        return self.options.tracking.coast_frames if self.options.tracking.region_tracking else 0

    def _faces(self, seen: dict, skipped: dict) -> list[FaceResult]:
        """The confirmed tracks' faces: where they were found, or (briefly) where they were heading."""
        tr, coast, faces = self.tracker, self._coast(), []
        for t in tr.tracks:
            if not tr.confirmed(t):
                continue
            if t.track_id in seen:
                b, p = seen[t.track_id]
                t.keypoints = b.keypoints
                x, y, w, h = (int(round(v)) for v in t.smooth_box)
                faces.append(replace(self.result(b, p, t.track_id), box=(x, y, w, h)))
            elif not t.displaced and (t.track_id in skipped or t.missed <= coast):  # where it was heading
                shift = t.velocity[:2] * t.missed
                sb = t.smooth_box
                x, y, w, h = (int(round(v)) for v in (sb[0] + shift[0], sb[1] + shift[1], sb[2], sb[3]))
                kps = tuple((kx + shift[0], ky + shift[1]) for kx, ky in t.keypoints)
                e = self.to_emotion(t.probs)
                faces.append(FaceResult((x, y, w, h), float(t.score), e.label, e.score, e.probabilities, kps,
                                        t.track_id))
        return faces

    def _detect(self, img: np.ndarray, gray: np.ndarray) -> tuple[list[FaceBox], list | None, dict]:
        """This frame's faces; the track id of each (None: a face to match or start a track for), or None
        for all when they came from a whole-frame scan; and the confirmed tracks not looked for this frame
        (``track_every``), each with the box its template was followed to (None: not found)."""
        o, tr, clock = self.options.tracking, self.tracker, self._clock
        if not (o.region_tracking and hasattr(self.detector, "detect_in_regions")):
            if self.frame_index % o.detect_every == 0 or not tr.tracks:
                found = self.detector.detect(img)
                clock.mark("whole-frame scans")
                return found, None, {}
            return [FaceBox(*t.box, score=t.score) for t in tr.tracks if t.missed == 0], None, {}
        moving = self._motion_views(gray) if o.motion_scan else []
        clock.mark("motion map")
        if moving and self._since_motion < o.motion_scan_gap:
            moving = []  # a thing the detector does not see as a face moves on: look again in a few frames
        if not tr.tracks or self._scan_requested or moving is None or self._since_scan >= o.full_scan_every:
            self._since_scan, self._since_motion, self._scan_requested = 1, 1, False
            found = self.detector.detect(img)
            clock.mark("whole-frame scans")
            return found, None, {}
        self._since_scan += 1
        self._since_motion = 1 if moving else self._since_motion + 1
        # confirmed, steadily found faces are looked for every track_every-th frame, in turn; others every frame
        look = [t for t in tr.tracks if not (tr.confirmed(t) and t.missed == 0 and
                                             (self.frame_index + t.track_id) % o.track_every)]
        looked = {t.track_id for t in look}
        followed = {}  # the others followed by their templates; one that loses its template is looked for now
        for t in tr.tracks:
            if t.track_id not in looked:
                b = follow(gray, t)
                if b is None and tr.confirmed(t):
                    look.append(t)
                    looked.add(t.track_id)
                else:
                    followed[t.track_id] = b
        predicted = [t.predicted_box() for t in look]
        clock.mark("template following")
        found = self.detector.detect_in_regions(img, [region_around(b, o.region_scale) for b in predicted],
                                                near=predicted) if look else []
        clock.mark("region views")
        faces, ids = [], []
        for t, pred, f in sorted(zip(look, predicted, found), key=lambda z: -(z[2].score if z[2] else 0)):
            if f is None or not belongs(f, pred) or any(f.iou(k) >= 0.5 for k in faces):
                continue  # nothing there, something else, or the face another track already took (crossing)
            faces.append(f)
            ids.append(t.track_id)
        skipped = {}  # ... unless that lands on a face another track has
        for tid, b in followed.items():
            taken = [k.box for k in faces] + [v for v in skipped.values() if v is not None]
            if b is not None and taken and iou_xywh(b, np.asarray(taken, np.float64)).max() >= 0.5:
                b = None
            skipped[tid] = b
        clock.mark("rest")
        if moving:  # where something moved away from the followed faces: new faces, or ones the tracker lost
            for f in self.detector.detect(img, views=moving):
                if not any(f.iou(k) >= 0.3 for k in faces):
                    faces.append(f)
                    ids.append(None)
            clock.mark("motion views")
        return faces, ids, skipped

    def _verify(self, img: np.ndarray, new_tracks, seen) -> None:
        """New tracks start unverified; a candidate seen this frame is checked by the face mesh model (one
        invoke per candidate, at most ``verify_tries`` times per track)."""
        tr, tries = self.tracker, self.options.detector.verify_tries
        for t in new_tracks:
            t.verified = False
        for t in tr.tracks:  # found again in its own region, and surer than any phantom we measured: a face
            if not t.verified and t.track_id in seen and t.hits >= VERIFY_SURE_HITS and t.mean_score >= VERIFY_SURE:
                t.verified = True
        todo = [t for t in tr.tracks if not t.verified and t.track_id in seen and t.verify_tries < tries
                and tr.candidate(t)]
        for t in todo:
            t.verify_tries += 1
        for t, ok in zip(todo, confirmed(self.verifier, img, [seen[t.track_id][0] for t in todo])):
            t.verified = ok
        # out of tries: forget it, so that a later scan starts it afresh (a phantom is never reported)
        tr.forget(t.track_id for t in tr.tracks if not t.verified and t.verify_tries >= tries)

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
            c = cells(region_around(t.predicted_box(), MOTION_MASK_SCALE))  # the face and the head with it
            changed[c], near[c] = 0, 1
        if MOTION_NEAR_BLOCK and near.any():
            for t in self.tracker.tracks:  # the face itself changes as it moves, blinks, talks
                near[cells(region_around(t.predicted_box(), MOTION_CORE_SCALE))] = 0
            # near a followed face its own motion changes thin bands (its edges, hair); a face that comes in
            # there changes a solid block: what survives an opening by that block is news
            k = np.ones((MOTION_NEAR_BLOCK, MOTION_NEAR_BLOCK), np.uint8)
            changed |= cv2.morphologyEx(diff & near, cv2.MORPH_OPEN, k)
        if changed.sum() > 0.3 * changed.size:
            return None
        # a moving face changes at its edges and features: join those pieces before counting blobs
        n, _, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(changed, np.ones((3, 3), np.uint8)), 8)
        # a face of min_face_size pixels is (min_face_size / 8)^2 cells; half of that moving is enough
        least = max(2, int(0.5 * (self.options.detector.min_face_size / 8) ** 2))
        blobs = [stats[i] for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= least]
        boxes = [[8.0 * x, 8.0 * y, 8.0 * (x + w), 8.0 * (y + h)] for x, y, w, h, _ in blobs]
        while pair := next(((i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
                            if overlap(motion_view(boxes[i]), motion_view(boxes[j]))), None):
            i, j = pair  # pieces whose views would overlap become one view
            a, b = boxes[i], boxes.pop(j)
            boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
        views = [motion_view(b) for b in boxes]
        if len(views) > MOTION_VIEWS_MAX or any(v.side >= min(H, W) for v in views):
            return None  # many places or one as large as the frame: scan it whole
        return views
