"""Where calibration and parity faces come from: any source of faces, found without being told when possible.

Calibration needs faces, not labels: a FER2013 root or CSV (its ``train/`` faces),
a split or class folder, a flat folder of face crops, or a video (faces found by
the runtime's detector and cropped as at run time). Parity needs labels: a root
with ``val/`` or a CSV. With no ``--calibration``, the data the model's metadata
says it was trained on is used when it still exists, else ``$FER2013_ROOT``.
Nothing here imports TensorFlow, so a missing source is reported before it loads.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fer_edge.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from fer_edge.metadata import ModelMetadata

from .tflite import ConversionError

SOURCES = "a FER2013 root or CSV, a folder of face images (flat or by class), or a video"


class CalibrationError(ConversionError):
    """No usable faces for calibration (or labelled faces for parity / fine-tuning)."""


def is_labelled(source) -> bool:
    """A FER2013-style source with labels and splits: a CSV, or a folder holding ``train/``."""
    p = Path(source)
    return (p.is_file() and p.suffix.lower() == ".csv") or (p.is_dir() and (p / "train").is_dir())


def recorded_data(model_path, meta: ModelMetadata) -> str | None:
    """The training data a model's metadata records (absolute, or relative to the model file), if it exists."""
    t = meta.training or {}
    for cand in (t.get("data"), (Path(model_path).parent / t["data_from_model"]) if t.get("data_from_model") else None):
        if cand and Path(cand).exists():
            return str(cand)
    return None


def default_source(model_path, meta: ModelMetadata) -> str | None:
    env = os.environ.get("FER2013_ROOT")
    return recorded_data(model_path, meta) or (env if env and Path(env).exists() else None)


def faces(source, meta: ModelMetadata, n: int = 300, seed: int = 0) -> np.ndarray:
    """Up to ``n`` uint8 gray faces at the model's input size from any supported source."""
    from fer_edge.preprocessing import resize

    p = Path(source)
    if not p.exists():
        raise CalibrationError(f"calibration source {p} does not exist (expected {SOURCES})")
    size = meta.preprocessing.size
    if is_labelled(p):
        return calibration_set(p, meta, n, seed).x
    rng = np.random.default_rng(seed)
    if p.is_dir():
        from fer_edge.images import ImageError, read_image
        from fer_edge.preprocessing import to_gray_u8

        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise CalibrationError(f"{p}: no images inside (expected {SOURCES})")
        out = []
        for i in rng.permutation(len(files))[:n]:
            try:
                out.append(resize(to_gray_u8(read_image(files[i])), size))
            except (ImageError, ValueError):
                continue  # an unreadable file is skipped, not fatal: calibration needs typical faces only
        if not out:
            raise CalibrationError(f"{p}: none of its {len(files)} images could be read")
        return np.stack(out)
    if p.suffix.lower() in VIDEO_SUFFIXES:
        return _video_faces(p, meta, n)
    raise CalibrationError(f"{p}: not a calibration source (expected {SOURCES})")


def _video_faces(path: Path, meta: ModelMetadata, n: int) -> np.ndarray:
    """Faces of up to 200 evenly spread frames, found and cropped as the runtime does."""
    import cv2

    from fer_edge.detection import create_detector
    from fer_edge.preprocessing import crop_face, resize, to_gray_u8

    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if not cap.isOpened() or total <= 0:
        raise CalibrationError(f"{path}: cannot read this video")
    det, out = create_detector(), []
    try:
        for idx in np.unique(np.linspace(0, total - 1, min(total, 200)).astype(int)):
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(idx))
            ok, frame = cap.read()
            if not ok:
                continue
            gray = to_gray_u8(frame)
            out += [resize(crop_face(gray, b.box, meta.preprocessing), meta.preprocessing.size) for b in det.detect(frame)]
            if len(out) >= n:
                break
    finally:
        cap.release()
        det.close()
    if not out:
        raise CalibrationError(f"{path}: no faces found in the video")
    return np.stack(out[:n])


def training_faces(source, meta: ModelMetadata):
    """The ``train/`` faces of ``source`` minus any identical to a ``val/`` (parity) face.

    Calibration and fine-tuning both draw from here, so the parity suite never
    scores a face the converted model was fitted or calibrated on.
    """
    from fer_edge.training.data import DataError, drop_leaks, load

    if source is None:
        raise ConversionError("int8, pruned, qat and edgetpu need real calibration faces: pass --calibration DIR|CSV")
    if not is_labelled(source):
        raise ConversionError(f"pruned and qat fine-tune on a labelled data set (a FER2013 root with train/ or a "
                                f"CSV); {source} is not one")
    try:
        d = load(source, "train", meta.class_set, size=meta.preprocessing.size)
    except DataError as e:
        raise ConversionError(f"calibration set: {e}") from None
    try:
        d, _ = drop_leaks(d, load(source, "val", meta.class_set, size=meta.preprocessing.size), dedupe=False)
    except DataError:
        pass  # no val/ split: nothing to keep apart
    if len(d) == 0:
        raise ConversionError(f"calibration set {source} is empty")
    return d


def calibration_set(source, meta: ModelMetadata, n: int = 300, seed: int = 0):
    """A stratified set of ``n`` real training faces (uint8), none identical to a ``val/`` (parity) face."""
    from fer_edge.training.data import stratified_indices

    d = training_faces(source, meta)
    return d.subset(stratified_indices(d.y, min(n, len(d)), seed))
