"""Does a model hold its answer when the face moves a pixel? Agreement of a model with itself under small changes.

Two views:

- **faces** (:func:`face_stability`): each 48x48 test face against itself shifted by 1 and 2 px (the four
  directions), zoomed by +-5%, mirrored, rotated by +-5 degrees and brightened or darkened by 15%;
  the number is the share of faces whose top-1 answer stays (averaged over a change's directions);
- **pipeline** (:func:`pipeline_stability`): the same face pasted into a seeded 640x480 scene at several
  places and sizes, recognised in IMAGE mode: the share of placements that give the emotion of the first one
  (among those where the face was found), which is what a user sees when a face moves in front of a camera.

``python benchmarks/stability.py`` writes the committed table; ``fer-edge benchmark`` prints the faces view.
"""
from __future__ import annotations

import cv2
import numpy as np

from fer_edge.training.metrics import agreement
from fer_edge.training.views import mirror, shift


def _zoom(f: np.ndarray, z: float) -> np.ndarray:
    c = (f.shape[1] / 2 - 0.5, f.shape[0] / 2 - 0.5)
    return cv2.warpAffine(f, cv2.getRotationMatrix2D(c, 0.0, z), f.shape[::-1], flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _rotate(f: np.ndarray, deg: float) -> np.ndarray:
    c = (f.shape[1] / 2 - 0.5, f.shape[0] / 2 - 0.5)
    return cv2.warpAffine(f, cv2.getRotationMatrix2D(c, deg, 1.0), f.shape[::-1], flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _bright(f: np.ndarray, k: float) -> np.ndarray:
    return np.clip(f.astype(np.float32) * k, 0, 255).astype(np.uint8)


#: Every change, by the row it is reported in: one place, so the benchmark, the verb and the tests agree.
CHANGES = {
    "shift 1 px": [lambda f, d=d: shift(f[None], *d)[0] for d in ((1, 0), (-1, 0), (0, 1), (0, -1))],
    "shift 2 px": [lambda f, d=d: shift(f[None], *d)[0] for d in ((2, 0), (-2, 0), (0, 2), (0, -2))],
    "zoom 5%": [lambda f: _zoom(f, 1.05), lambda f: _zoom(f, 0.95)],
    "mirror": [lambda f: mirror(f[None])[0].copy()],
    "rotate 5 deg": [lambda f: _rotate(f, 5.0), lambda f: _rotate(f, -5.0)],
    "brightness 15%": [lambda f: _bright(f, 1.15), lambda f: _bright(f, 0.85)],
}


def face_stability(predict, faces: np.ndarray) -> dict[str, float]:
    """``predict(list of uint8 gray faces) -> probabilities``; returns each change's agreement with the plain faces."""
    base = predict(list(faces))
    out = {}
    for name, fns in CHANGES.items():
        out[name] = float(np.mean([agreement(base, predict([fn(f) for f in faces])) for fn in fns]))
    return out


#: The changes a model's metadata records (``fer-edge models`` lists them), by metric name.
METRICS = {"stable_shift_1px": "shift 1 px", "stable_shift_2px": "shift 2 px", "stable_zoom_5pct": "zoom 5%",
           "stable_mirror": "mirror"}


def stability_metrics(stability: dict) -> dict:
    """The agreements a model's metadata carries, from :func:`face_stability`'s result."""
    return {k: round(stability[c], 4) for k, c in METRICS.items()}


def pipeline_stability(recognizer, faces: np.ndarray, placements: int = 5, seed: int = 0) -> dict:
    """Each face pasted ``placements`` times (new place, size 100-180 px, on one background) and recognised in
    IMAGE mode: ``agreement`` is the share of the later found placements whose emotion is the first found one's;
    ``found`` the share of placements where the face was found at all."""
    from .scenes import background

    rng = np.random.default_rng(seed)
    same = pairs = found = 0
    for face in faces:
        bg = background(480, 640, rng)
        answers = []
        for _ in range(placements):
            side = int(rng.integers(100, 181))
            x, y = int(rng.integers(0, 640 - side)), int(rng.integers(0, 480 - side))
            img = bg.copy()
            img[y:y + side, x:x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)[..., None]
            hits = [f for f in recognizer.recognize(img)
                    if abs(f.box[0] + f.box[2] / 2 - (x + side / 2)) < side / 2
                    and abs(f.box[1] + f.box[3] / 2 - (y + side / 2)) < side / 2]
            if hits:
                found += 1
                answers.append(hits[0].emotion)
        same += sum(a == answers[0] for a in answers[1:])
        pairs += max(0, len(answers) - 1)
    return {"faces": len(faces), "placements": len(faces) * placements,
            "found": found / max(1, len(faces) * placements), "agreement": same / pairs if pairs else None}


def stability_rows(models: dict, faces: np.ndarray, pipeline_faces: np.ndarray | None = None) -> list[dict]:
    """One row per model: ``models`` maps a name to ``(classifier, recognizer or None)``; the faces view on
    ``faces`` and, where a recognizer is given, the pipeline view on ``pipeline_faces``."""
    rows = []
    for name, (clf, rec) in models.items():
        row = {"model": name, **face_stability(clf.predict_proba, faces)}
        if rec is not None and pipeline_faces is not None:
            row["pipeline"] = pipeline_stability(rec, pipeline_faces)
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    """The stability table: agreement with the unchanged face, per change (and through the pipeline)."""
    head = "| model | " + " | ".join(CHANGES) + " | pipeline: same emotion at another place (found) |"
    lines = [head, "|" + "---|" * (len(CHANGES) + 2)]
    for r in rows:
        p = r.get("pipeline")
        pipe = "-" if not p or p["agreement"] is None else f"{100 * p['agreement']:.1f}% ({100 * p['found']:.1f}%)"
        lines.append(f"| {r['model']} | " + " | ".join(f"{100 * r[c]:.1f}%" for c in CHANGES) + f" | {pipe} |")
    return "\n".join(lines) + "\n"
