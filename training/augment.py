"""Augmentation for 48x48 face crops, in numpy + OpenCV so every Keras backend can use it.

One random affine per face (shift, small rotation, scale, horizontal flip) and
a photometric jitter (brightness, contrast), plus optional random erasing:
the changes a detector's crop and a camera actually produce.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Augment:
    shift: float = 0.1          # fraction of the side
    rotation: float = 10.0      # degrees
    scale: tuple[float, float] = (0.9, 1.1)
    flip: bool = True
    brightness: float = 0.2     # fraction of 255
    contrast: float = 0.2
    erase: float = 0.0          # probability of erasing one random rectangle

    def to_dict(self) -> dict:
        return asdict(self)

    def __call__(self, faces: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``(N, S, S)`` uint8 in, augmented ``(N, S, S)`` uint8 out."""
        n, s = faces.shape[0], faces.shape[1]
        out = np.empty_like(faces)
        ang = rng.uniform(-self.rotation, self.rotation, n)
        sc = rng.uniform(self.scale[0], self.scale[1], n)
        sh = rng.uniform(-self.shift, self.shift, (n, 2)) * s
        flips = rng.random(n) < 0.5 if self.flip else np.zeros(n, bool)
        c = (s - 1) / 2.0
        for i in range(n):
            m = cv2.getRotationMatrix2D((c, c), ang[i], sc[i])
            if flips[i]:
                m[0, :2] *= -1
                m[0, 2] = 2 * c - m[0, 2]
            m[:, 2] += sh[i]
            out[i] = cv2.warpAffine(faces[i], m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        if self.brightness or self.contrast:
            f = out.astype(np.float32)
            mean = f.mean(axis=(1, 2), keepdims=True)
            gain = rng.uniform(1 - self.contrast, 1 + self.contrast, (n, 1, 1)).astype(np.float32)
            bias = rng.uniform(-self.brightness, self.brightness, (n, 1, 1)).astype(np.float32) * 255
            out = np.clip((f - mean) * gain + mean + bias, 0, 255).astype(np.uint8)
        if self.erase > 0:
            for i in np.flatnonzero(rng.random(n) < self.erase):
                eh, ew = (int(v) for v in rng.integers(s // 8, s // 3, 2))
                y0, x0 = (int(v) for v in rng.integers(0, s - max(eh, ew), 2))
                out[i, y0:y0 + eh, x0:x0 + ew] = rng.integers(0, 256, dtype=np.uint8)
        return out


NONE = Augment(shift=0.0, rotation=0.0, scale=(1.0, 1.0), flip=False, brightness=0.0, contrast=0.0)

