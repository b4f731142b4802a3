"""Scores a user can put a threshold on: the model's probabilities recalibrated from its metadata.

A model's raw probabilities are often under- or over-confident (mirror averaging, blur and distillation flatten
them). Temperature scaling, fitted on ``val/`` when the model is converted or released, fixes that without
changing any answer: ``softmax(log(p) / T)``. A *balanced* operating point adds per-class offsets fitted on
``val/`` to lift the weakest emotions' recall (``softmax(log(p) / T + b)``): it changes answers, on purpose.

Metadata ``score_calibration`` (not the INT8 calibration faces, which are the converter's):
``{"temperature": T, "balanced_offsets": [b per label] (optional), "fitted_on": ...}``. A model without it runs
unchanged, its probabilities as the network gives them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import MetadataError

#: below this a probability counts as this (int8 outputs step by 1/256; log(0) would be -inf)
FLOOR = 1.0 / 512


@dataclass(frozen=True)
class ScoreCalibration:
    """``temperature`` (1: none) and optional per-class ``balanced_offsets``, in the model's label order."""

    temperature: float = 1.0
    balanced_offsets: tuple | None = None

    def apply(self, probs: np.ndarray, balanced: bool = False) -> np.ndarray:
        """Calibrated rows for probability rows ``(N, C)`` (float32); rows still sum to 1."""
        if self.temperature == 1.0 and not balanced:
            return probs
        z = np.log(np.maximum(np.asarray(probs, np.float64), FLOOR)) / self.temperature
        if balanced:
            if self.balanced_offsets is None:
                raise ValueError("this model has no balanced operating point (no balanced_offsets in its metadata)")
            z = z + np.asarray(self.balanced_offsets, np.float64)
        z -= z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)

    @property
    def is_identity(self) -> bool:
        return self.temperature == 1.0 and self.balanced_offsets is None

    @classmethod
    def from_metadata(cls, calibration: dict, n_labels: int) -> "ScoreCalibration":
        """The metadata's ``score_calibration`` object, checked; :class:`MetadataError` names the bad field."""
        if not calibration:
            return cls()
        t = calibration.get("temperature", 1.0)
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0.05 <= t <= 20:
            raise MetadataError(f"metadata field 'score_calibration.temperature': expected a number in 0.05..20, "
                                f"got {t!r}")
        b = calibration.get("balanced_offsets")
        if b is not None:
            if (not isinstance(b, list) or len(b) != n_labels
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                               for v in b)):
                raise MetadataError(f"metadata field 'score_calibration.balanced_offsets': expected {n_labels} finite "
                                    f"numbers (one per label), got {str(b)[:60]}")
            b = tuple(float(v) for v in b)
        return cls(float(t), b)
