"""How VIDEO mode keeps up with faces between detections: a face's template followed around where it is
heading, the detector view around a face (its region), and views around what moved in the frame.

Every constant here was measured on the benchmark clips; what each value bought is in
``benchmarks/results/tuning.md``.
"""
from __future__ import annotations

import numpy as np

from .detection.base import FaceBox, centre_inside, iou_pair
from .detection.blazeface import TileView

#: VIDEO: a new face is one when the face mesh model (detection.presence) is at least VERIFY_PRESENCE sure of a
#: face there and puts its eyes, nose and mouth within VERIFY_AGREE (x the box's side) of the detector's keypoints.
VERIFY_PRESENCE, VERIFY_AGREE = 0.5, 0.2
#: ... and a face found in VERIFY_SURE_HITS frames with a mean short-range score this high needs no check.
VERIFY_SURE, VERIFY_SURE_HITS = 0.7, 2
#: IMAGE mode: a face the short-range model scores under IMAGE_SURE is reported only if that model finds it again,
#: at least IMAGE_AGAIN sure, in each of the views IMAGE_AGAIN_SCALES x its box (a phantom belongs to one view).
IMAGE_SURE, IMAGE_AGAIN, IMAGE_AGAIN_SCALES = 0.8, 0.62, (1.5, 2.5)
#: With the face mesh model (detection.presence) as a second judge, an unsure face is reported if found again and the
#: mesh model gives it at least PRESENCE_AGAIN, or if the mesh model is at least PRESENCE_MIN sure of a face there
#: and puts its eyes, nose and mouth within PRESENCE_AGREE (x the box's side) of the detector's keypoints.
PRESENCE_AGAIN, PRESENCE_MIN, PRESENCE_AGREE = 0.05, 0.5, 0.12
#: Faces not looked for in a frame are followed by a template of TEMPLATE_SIZE px, searched TEMPLATE_SEARCH x
#: their size around where they should be; a match under TEMPLATE_MIN (normalised correlation) is not trusted.
TEMPLATE_SIZE, TEMPLATE_SEARCH, TEMPLATE_MIN = 24, 0.25, 0.8
#: Views where something moved: this many times the moving blob's larger side, at least MOTION_VIEW_MIN px;
#: more than MOTION_VIEWS_MAX blobs at once and the whole frame is scanned instead.
MOTION_VIEW_SCALE, MOTION_VIEW_MIN, MOTION_VIEWS_MAX = 1.5, 160.0, 3
#: Motion this close to a followed face (x its box's larger side) is its own head and shoulders moving.
MOTION_MASK_SCALE = 2.0
#: Between MOTION_CORE_SCALE and MOTION_MASK_SCALE x a followed face, a change counts only where it fills a
#: MOTION_NEAR_BLOCK-cell square (0: never): a face appearing beside another, not the followed face's edges.
MOTION_CORE_SCALE, MOTION_NEAR_BLOCK = 1.2, 3


def template(gray: np.ndarray, box):
    """The face in ``box`` as a small gray patch (its larger side TEMPLATE_SIZE px), or None at the edge."""
    import cv2

    x, y, w, h = (float(v) for v in box)
    H, W = gray.shape[:2]
    x0, y0, x1, y1 = int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h))
    if x0 < 0 or y0 < 0 or x1 > W or y1 > H or min(w, h) < 8:
        return None
    f = TEMPLATE_SIZE / max(w, h)
    return cv2.resize(gray[y0:y1, x0:x1], (max(4, round(w * f)), max(4, round(h * f))), interpolation=cv2.INTER_AREA)


def follow(gray: np.ndarray, track):
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


def cells(v: TileView):
    """The cells of the 1/8-scale frame that a view covers, as a slice (clipped at the top and left edges)."""
    return np.s_[max(0, int(v.y0 // 8)):int((v.y0 + v.side) // 8) + 1,
                 max(0, int(v.x0 // 8)):int((v.x0 + v.side) // 8) + 1]


def motion_view(box) -> TileView:
    """The square view around a moving blob ``[x0, y0, x1, y1]``."""
    side = max(MOTION_VIEW_MIN, MOTION_VIEW_SCALE * max(box[2] - box[0], box[3] - box[1]))
    return TileView((box[0] + box[2]) / 2 - side / 2, (box[1] + box[3]) / 2 - side / 2, side)


def overlap(a: TileView, b: TileView) -> bool:
    return a.x0 < b.x0 + b.side and b.x0 < a.x0 + a.side and a.y0 < b.y0 + b.side and b.y0 < a.y0 + a.side


def belongs(face: FaceBox, predicted) -> bool:
    """A region's detection is its track's face when its centre lies in the predicted box and the sizes agree."""
    w, h = float(predicted[2]), float(predicted[3])
    return centre_inside((face.x, face.y, face.w, face.h), predicted) and 0.6 <= max(face.w, face.h) / max(w, h, 1e-6) <= 1.6


def _seen(detector, img: np.ndarray, boxes, scale: float, least: float) -> list[bool]:
    """Whether ``detector`` finds each ``(x, y, w, h)`` box's face, at least ``least`` sure and overlapping it, in
    a view ``scale`` x the box (one batched invoke)."""
    found = detector.detect_in_regions(img, [region_around(b, scale) for b in boxes], near=boxes)
    return [f is not None and f.score >= least and iou_pair((f.x, f.y, f.w, f.h), b) > 0.3
            for f, b in zip(found, boxes)]


def confirmed(presence, img: np.ndarray, faces: list[FaceBox]) -> list[bool]:
    """Whether each new face is one in the face mesh model's judgement (a model of another kind, fooled by other
    things than the short-range detector), one invoke per face."""
    judged = [presence.judge(img, f) for f in faces]
    return [p.score >= VERIFY_PRESENCE and p.disagreement <= VERIFY_AGREE for p in judged]


def found_again(detector, img: np.ndarray, faces: list[FaceBox], presence=None) -> list[bool]:
    """IMAGE mode's check (one picture has no next frame to confirm a face in): sure faces pass; an unsure one
    must be found again by ``detector`` in closer views around it (one batched invoke per view size), or, given
    ``presence`` (a :class:`~fer_edge.detection.presence.FacePresence`), be judged a face by the face mesh model
    with its features where the detector put them; with ``presence``, a face found again must not be one the mesh
    model rules out. Textures, fruit and fur that fool one view of the short-range model rarely fool two more at
    other scales, nor a model of another kind."""
    ok = [f.score >= IMAGE_SURE for f in faces]
    todo = [i for i, v in enumerate(ok) if not v]
    for scale in IMAGE_AGAIN_SCALES:
        if not todo:
            break
        hits = _seen(detector, img, [faces[i].box for i in todo], scale, IMAGE_AGAIN)
        todo = [i for i, hit in zip(todo, hits) if hit]
    again = set(todo)
    for i, face in enumerate(faces):
        if ok[i]:
            continue
        if presence is None:
            ok[i] = i in again
            continue
        p = presence.judge(img, face)
        ok[i] = ((i in again and p.score >= PRESENCE_AGAIN)
                 or (p.score >= PRESENCE_MIN and p.disagreement <= PRESENCE_AGREE))
    return ok


def region_around(box, scale: float):
    """The square view ``scale`` x a box's larger side, centred on it, for following that face."""
    x, y, w, h = (float(v) for v in box)
    side = max(32.0, max(w, h) * scale)
    return TileView(x + w / 2 - side / 2, y + h / 2 - side / 2, side)
