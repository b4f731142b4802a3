"""Learning-rate schedules expressed per epoch, so a resumed run lands on the same rate."""
from __future__ import annotations

import math


def cosine_lr(base: float, epochs: int, warmup: int = 2, floor: float = 0.01):
    """Linear warm-up for ``warmup`` epochs, then cosine decay to ``floor * base``."""
    def schedule(epoch: int, _lr=None) -> float:
        if epoch < warmup:
            return base * (epoch + 1) / (warmup + 1)
        t = (epoch - warmup) / max(1, epochs - warmup)
        return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))
    return schedule


def constant_lr(base: float):
    """The seeds' fixed learning rate."""
    def schedule(epoch: int, _lr=None) -> float:
        return base
    return schedule
