"""Knowledge distillation: train a small student on targets mixed from the labels and its teachers.

The teachers (``.keras`` or ``.tflite``, any input size or colour: each gets
its own preprocessing from its metadata) see exactly the augmented faces the
student sees, batch by batch, so the soft targets follow the augmentation. The
student's target is ``(1 - alpha) * one_hot + alpha * teacher``, where
``teacher`` is the mean of the teachers' probabilities softened by
``temperature``; this runs inside the data pipeline, so it works on every
Keras backend and the student is saved like any other run.

A teacher too slow to run here (the GPU teacher: 1.25 G MACs a face) comes as
its probabilities instead: a ``.npz`` cache (``train``, ``train_names``,
``labels``; what :func:`write_teacher_cache` writes), looked up by file name. Its
targets are the teacher's view of the plain face, not of the augmented one
(offline distillation).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_edge.preprocessing import resize_batch


class DistillError(ValueError):
    """A teacher that cannot teach this run (missing, unreadable, other labels)."""


class CachedTeacher:
    """A teacher's stored probabilities for the training faces, looked up by file name (see the module doc)."""

    def __init__(self, path: Path, labels: list[str], probs: dict[str, np.ndarray]):
        self.path, self.labels, self._by_name, self._rows = path, labels, probs, None

    @classmethod
    def load(cls, path: Path) -> "CachedTeacher":
        try:
            with np.load(path) as z:
                names, probs, labels = z["train_names"], z["train"].astype(np.float32), [str(v) for v in z["labels"]]
                if "val" in z and "val_names" in z:  # a train + val run (fit_val) looks val faces up too
                    names = np.concatenate([names, z["val_names"]])
                    probs = np.concatenate([probs, z["val"].astype(np.float32)])
        except (OSError, ValueError, KeyError) as e:
            raise DistillError(f"--teacher: {path} is not a teacher cache (train, train_names, labels): "
                               f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        if probs.ndim != 2 or probs.shape != (len(names), len(labels)):
            raise DistillError(f"--teacher: {path}: train probabilities {probs.shape} do not match "
                               f"{len(names)} names and {len(labels)} labels")
        return cls(path, labels, dict(zip((str(n) for n in names), probs)))

    @property
    def names(self) -> list[str]:
        """The file names the cache has probabilities for."""
        return list(self._by_name)

    def bind(self, names) -> None:
        """Align the cache with the training faces (in their order); every face must be in it."""
        missing = [n for n in names if n not in self._by_name]
        if missing:
            raise DistillError(f"--teacher: {self.path} has no probabilities for {len(missing)} of the "
                               f"{len(names)} training faces (e.g. {missing[0]}): made from other data")
        self._rows = np.stack([self._by_name[n] for n in names])

    def predict_rows(self, idx: np.ndarray) -> np.ndarray:
        if self._rows is None:
            raise RuntimeError("CachedTeacher.bind(names) must be called before training")
        return self._rows[idx]


@dataclass
class Teachers:
    predictors: list
    alpha: float = 0.7
    temperature: float = 1.0

    @property
    def names(self) -> list[str]:
        return [short_path(p.path) for p in self.predictors]

    def bind(self, names) -> None:
        """Give cached teachers the training faces' file names (model teachers need none)."""
        for p in self.predictors:
            if isinstance(p, CachedTeacher):
                p.bind(names)

    def probs(self, faces_u8: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Mean softened probabilities of the teachers for uint8 faces ``(N, H, W)``, which are training faces
        ``idx`` after augmentation (a cached teacher reads its row for the plain face)."""
        out = [soften(p.predict_rows(idx) if isinstance(p, CachedTeacher)
                      else p.predict(resize_batch(faces_u8, p.metadata.preprocessing.size)), self.temperature)
               for p in self.predictors]
        return np.mean(out, axis=0).astype(np.float32)

    def targets(self, faces_u8: np.ndarray, one_hot: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return mix(one_hot, self.probs(faces_u8, idx), self.alpha)

    def describe(self) -> dict:
        return {"teachers": self.names, "alpha": self.alpha, "temperature": self.temperature}


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(logits / T)`` computed from probabilities (``p ** (1/T)``, renormalised)."""
    if temperature == 1.0:
        return probs
    logp = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    return e / e.sum(axis=1, keepdims=True)


def mix(one_hot: np.ndarray, teacher: np.ndarray, alpha: float) -> np.ndarray:
    return ((1.0 - alpha) * one_hot + alpha * teacher).astype(np.float32)


def load_teachers(paths, labels, alpha: float = 0.7, temperature: float = 1.0) -> Teachers:
    """Load every teacher and check it predicts the student's classes in the student's order."""
    from fer_edge.metadata import MetadataError

    from .evaluate import load_predictor

    if not 0.0 < alpha <= 1.0:
        raise DistillError(f"--distill must be in (0, 1], got {alpha}")
    if temperature <= 0:
        raise DistillError(f"--temperature must be > 0, got {temperature}")
    preds = []
    for path in paths:
        path = Path(path).expanduser()
        if not path.is_file():
            raise DistillError(f"--teacher: no model or teacher cache at {path}")
        if path.suffix == ".npz":
            cached = CachedTeacher.load(path)
            if cached.labels != list(labels):
                raise DistillError(f"--teacher: {path} predicts {cached.labels}, this run {list(labels)}")
            preds.append(cached)
            continue
        try:
            p = load_predictor(path, calibrated=False)  # the network's own: --temperature softens it
        except (ValueError, MetadataError, OSError) as e:
            raise DistillError(f"--teacher: {str(e).splitlines()[0]}") from None
        if list(p.metadata.labels) != list(labels):
            raise DistillError(f"--teacher: {path} predicts {list(p.metadata.labels)}, this run {list(labels)}")
        preds.append(p)
    if not preds:
        raise DistillError("--teacher: no teacher given")
    return Teachers(preds, alpha, temperature)


def short_path(path) -> str:
    """``run/model.keras``: the file and its run folder, for metadata."""
    path = Path(path)
    return path.name if path.parent.name in ("", ".") else f"{path.parent.name}/{path.name}"


def write_teacher_cache(models, data, dest, log=print, shifts=((0, 0),), with_mirror: bool = False) -> Path:
    """A teacher cache for ``fer-edge train --teacher CACHE.npz``: float16 probabilities and file names for each
    face of ``data``'s train and val splits, from one model or the mean of several (same labels).

    ``shifts`` and ``with_mirror`` make it an averaged teacher (:func:`.views.view_average`): each face's target is
    the mean over its shifted and mirrored views, the same for every augmented crop of it, so a student trained on
    it learns an answer that does not hang on a pixel."""
    from .data import load
    from .evaluate import load_predictor
    from .metrics import accuracy
    from .views import view_average

    preds = [load_predictor(m, calibrated=False) for m in ([models] if isinstance(models, (str, Path)) else models)]
    labels = list(preds[0].metadata.labels)
    for p in preds[1:]:
        if list(p.metadata.labels) != labels:
            raise DistillError(f"{p.path} predicts {list(p.metadata.labels)}, {preds[0].path} {labels}")
    arrays = {"labels": np.array(labels)}
    what = ", ".join(Path(p.path).name for p in preds)
    for split in ("train", "val"):
        d = load(data, split)
        p = np.mean([view_average(q.predict, d.x, shifts, with_mirror) for q in preds], axis=0)
        arrays[split], arrays[f"{split}_names"] = p.astype(np.float16), np.array(d.names)
        log(f"{what} on {split}: {len(d)} faces, accuracy {accuracy(d.y, p):.4f}")
    np.savez_compressed(dest, **arrays)
    return Path(dest)
