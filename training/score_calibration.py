"""Fitting a model's score calibration on ``val/`` (what :mod:`fer_edge.score_calibration` applies at run time).

- :func:`fit_temperature`: the temperature that minimises the negative log-likelihood of the labels (answers
  unchanged: the order of the probabilities stays).
- :func:`fit_balanced_offsets`: per-class log offsets that raise the worst class's recall while the macro recall
  stays at least the calibrated model's and the accuracy within 2 points of it, by coordinate search on ``val/``.
"""
from __future__ import annotations

import numpy as np

from fer_edge.score_calibration import ScoreCalibration

from .metrics import accuracy, recall_per_class


def nll(y_true, probs) -> float:
    """Mean negative log-likelihood of the labels."""
    p = np.asarray(probs, np.float64)[np.arange(len(y_true)), np.asarray(y_true)]
    return float(-np.mean(np.log(np.maximum(p, 1e-12))))


def fit_temperature(y_true, probs, lo: float = 0.1, hi: float = 10.0) -> float:
    """The temperature of least NLL on (y_true, probs), by golden-section search on log T (the NLL is convex in
    1/T for fixed logits); rounded to 4 digits."""
    f = lambda log_t: nll(y_true, ScoreCalibration(float(np.exp(log_t))).apply(probs))  # noqa: E731
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return round(float(np.exp((a + b) / 2)), 4)


def fit_balanced_offsets(y_true, probs, temperature: float, *, max_accuracy_drop: float = 0.02,
                         steps=np.round(np.arange(-1.5, 2.001, 0.025), 3), rounds: int = 6) -> list[float]:
    """Per-class offsets (log space, after the temperature) that raise the worst class's recall (ties: the macro
    recall) on these faces, keeping the macro recall at least the calibrated model's and the accuracy within
    ``max_accuracy_drop`` of it; coordinate search, one class at a time, over ``steps``."""
    y_true = np.asarray(y_true)
    n = probs.shape[1]
    base = ScoreCalibration(temperature).apply(probs)
    floor, macro_floor = accuracy(y_true, base) - max_accuracy_drop, recall_per_class(y_true, base, n).mean()

    def score(b):
        p = ScoreCalibration(temperature, tuple(b)).apply(probs, balanced=True)
        r = recall_per_class(y_true, p, n)
        if accuracy(y_true, p) < floor or r.mean() < macro_floor:
            return -np.inf
        return float(r.min() + 0.1 * r.mean())

    b = coordinate_search(score, n, steps, rounds)
    return [round(float(v), 4) for v in b]


def coordinate_search(score, n: int, steps, rounds: int) -> np.ndarray:
    """The ``n`` offsets of the highest ``score(offsets)``, one coordinate at a time over ``steps``, from zeros,
    until a round improves nothing (at most ``rounds``); centred (a common shift changes no answer)."""
    b = np.zeros(n)
    best = score(b)
    for _ in range(rounds):
        improved = False
        for c in range(n):
            for s in steps:
                trial = b.copy()
                trial[c] = s
                v = score(trial)
                if v > best + 1e-9:
                    best, b, improved = v, trial, True
        if not improved:
            break
    return b - b.mean()


def calibrate_tflite(path, data, *, balanced: bool = True, log=print) -> dict:
    """Fit the temperature (and the balanced offsets) of a converted model on ``data``'s ``val/`` faces and write
    them into its metadata (the file is rewritten in place, like its measured metrics). Returns the calibration
    written, with its val figures."""
    from pathlib import Path

    from fer_edge.metadata import read_tflite_metadata

    from .data import load
    from .evaluate import load_predictor
    from .metrics import expected_calibration_error
    from .tflite_metadata import with_metadata

    path = Path(path)
    blob = path.read_bytes()
    meta = read_tflite_metadata(blob, str(path))
    val = load(data, "val", ",".join(meta.labels))  # classes in the model's order: offsets are stored so
    probs = load_predictor(path, calibrated=False).predict(val.x)
    t = fit_temperature(val.y, probs)
    cal = {"temperature": t, "fitted_on": f"val/ ({len(val)} faces)", "method": "temperature scaling (NLL)",
           "val_ece_before": round(expected_calibration_error(val.y, probs), 4),
           "val_ece_after": round(expected_calibration_error(val.y, ScoreCalibration(t).apply(probs)), 4)}
    if balanced:
        cal["balanced_offsets"] = fit_balanced_offsets(val.y, probs, t)
    meta.score_calibration = cal
    path.write_bytes(with_metadata(blob, meta))
    log(f"score calibration: {path.name}: temperature {t} on {len(val)} val faces, ECE {cal['val_ece_before']} -> "
        f"{cal['val_ece_after']}" + (", balanced offsets fitted" if balanced else ""))
    return cal
