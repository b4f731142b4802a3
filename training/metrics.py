"""One function per metric (scikit-learn's style), in numpy alone, used by evaluate, parity, benchmark,
release and campaign: a number named the same is computed the same everywhere, also on a device without
scikit-learn.

Predictions may be given as labels (N,) or as probability rows (N, C); rows are reduced to their top-1.
"""
from __future__ import annotations

import numpy as np


def top1(pred) -> np.ndarray:
    """Labels from labels or probability rows."""
    pred = np.asarray(pred)
    return pred.argmax(1) if pred.ndim == 2 else pred


def accuracy(y_true, pred, mask=None) -> float:
    """The share of faces whose top-1 is the label (``mask``: only those faces); 0.0 for none."""
    ok = top1(pred) == np.asarray(y_true)
    if mask is not None:
        ok = ok[np.asarray(mask)]
    return float(ok.mean()) if ok.size else 0.0


def agreement(a, b, mask=None) -> float:
    """The share of faces on which two models' top-1 answers are the same."""
    same = top1(a) == top1(b)
    if mask is not None:
        same = same[np.asarray(mask)]
    return float(same.mean()) if same.size else 1.0


def class_recall(y_true, pred, label: int) -> float:
    """Accuracy on the faces of one class."""
    y_true = np.asarray(y_true)
    return accuracy(y_true, pred, y_true == label)


def macro_f1(y_true, pred, n_classes: int) -> float:
    """F1 averaged over ``n_classes`` classes, each weighted equally (0 for a class never seen nor predicted)."""
    y_true, p = np.asarray(y_true), top1(pred)
    f1 = []
    for c in range(n_classes):
        tp = int(((p == c) & (y_true == c)).sum())
        fp = int(((p == c) & (y_true != c)).sum())
        fn = int(((p != c) & (y_true == c)).sum())
        f1.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f1)) if f1 else 0.0


def expected_calibration_error(y_true, probs, bins: int = 15) -> float:
    """ECE: over ``bins`` equal-width bins of the top probability, the face-weighted mean of |accuracy - mean
    top probability| (0: a face reported at p is right a share p of the time)."""
    acc, conf, count = reliability(y_true, probs, bins)
    n = count.sum()
    return float(np.sum(count * np.abs(acc - conf)) / n) if n else 0.0


def reliability(y_true, probs, bins: int = 15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bin of the top probability (equal width on [0, 1]): accuracy, mean top probability and face count
    (empty bins: 0, 0, 0). The reliability diagram plots the first against the second."""
    probs, y_true = np.asarray(probs, np.float64), np.asarray(y_true)
    top = probs.max(1)
    right = probs.argmax(1) == y_true
    which = np.minimum((top * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.float64)
    safe = np.maximum(count, 1)
    acc = np.bincount(which, right, minlength=bins) / safe
    conf = np.bincount(which, top, minlength=bins) / safe
    return acc, conf, count


def recall_per_class(y_true, pred, n_classes: int) -> np.ndarray:
    """Each class's recall (accuracy on its faces); 0 for a class without faces."""
    return np.array([class_recall(y_true, pred, c) for c in range(n_classes)])


def coverage_accuracy(y_true, probs, threshold: float) -> tuple[float, float]:
    """``(coverage, accuracy)`` of the answers whose top probability is at least ``threshold``: the share of faces
    answered, and how many of those answers are right (1.0 when none is answered)."""
    probs = np.asarray(probs)
    kept = probs.max(1) >= threshold
    return float(kept.mean()), accuracy(y_true, probs, kept) if kept.any() else 1.0


def accuracy_at_coverage(y_true, probs, coverage: float) -> float:
    """Accuracy of the most confident ``coverage`` share of the answers (at least one)."""
    probs = np.asarray(probs)
    k = max(1, int(round(coverage * len(probs))))
    order = np.argsort(-probs.max(1), kind="stable")[:k]
    return accuracy(np.asarray(y_true)[order], probs[order])
