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
