"""Whole epochs of training batches, prepared one epoch ahead in a background thread.

Keras' ``PyDataset`` path cost about 45% of a CPU epoch here (123 faces/s
against 200-250 for the same model on in-memory arrays). So the trainer fits
each epoch on plain arrays, and this feed builds epoch ``e + 1`` (shuffle,
augmentation, mixup, teacher targets, normalisation) while epoch ``e`` trains.
Everything drawn at random comes from ``(seed, epoch)``, so an epoch is the same
whether it runs straight through or after a resume.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from fer_edge.preprocessing import Preprocessing, normalize, resize_batch

from .augment import NONE, Augment


@dataclass
class Epoch:
    """One epoch in training order: inputs, (soft) targets, per-sample loss weights or ``None``."""

    x: np.ndarray
    targets: np.ndarray
    weights: np.ndarray | None


@dataclass(frozen=True)
class Mixup:
    """Mixup (Zhang et al. 2018): a fraction ``prob`` of faces blended with a random partner, weight ~ Beta(alpha, alpha)."""

    alpha: float = 0.2
    prob: float = 0.5

    def __call__(self, x, targets, weights, rng: np.random.Generator):
        n = len(x)
        partner = rng.permutation(n)
        lam = rng.beta(self.alpha, self.alpha, n).astype(np.float32)
        lam = np.maximum(lam, 1.0 - lam)            # the face keeps the larger share: its label stays the main one
        lam[rng.random(n) >= self.prob] = 1.0
        lx = lam.reshape((n,) + (1,) * (x.ndim - 1))
        x = lx * x + (1.0 - lx) * x[partner]
        targets = lam[:, None] * targets + (1.0 - lam[:, None]) * targets[partner]
        if weights is not None:
            weights = lam * weights + (1.0 - lam) * weights[partner]
        return x.astype(np.float32), targets.astype(np.float32), weights


def build_epoch(faces: np.ndarray, labels: np.ndarray, n_classes: int, spec: Preprocessing, epoch: int, seed: int,
                *, augment: Augment = NONE, shuffle: bool = True, class_weights: np.ndarray | None = None,
                teachers=None, mixup: Mixup | None = None, pairs: bool = False, pair_mirror: float = 0.0,
                chunk: int = 512) -> Epoch:
    """The arrays of one epoch; identical for the same ``(seed, epoch)``.

    ``teachers`` (:class:`~.distill.Teachers`) see each augmented face before mixup,
    so a blended face gets the blend of its parts' soft targets. ``pairs`` adds each augmented face's jittered
    copy as a second channel (:mod:`.consistency`), a ``pair_mirror`` share of them mirrored.
    """
    order = np.random.default_rng([seed, epoch]).permutation(len(labels)) if shuffle else np.arange(len(labels))
    y = labels[order]
    targets = np.eye(n_classes, dtype=np.float32)[y]
    channels = 1 if spec.color == "grayscale" else 3
    x = np.empty((len(y), spec.size, spec.size, 2 * channels if pairs else channels), np.float32)

    def fill(i: int) -> None:  # chunk i draws from (seed, epoch, i) alone: any thread order gives the same epoch
        start = i * chunk
        part = faces[order[start:start + chunk]]
        if augment is not NONE:
            part = augment(part, np.random.default_rng([seed, epoch, i]))
        if teachers is not None:
            targets[start:start + chunk] = teachers.targets(part, targets[start:start + chunk],
                                                            order[start:start + chunk])
        x[start:start + chunk, ..., :channels] = normalize(resize_batch(part, spec.size), spec)
        if pairs:
            from .consistency import jittered
            partner = jittered(part, np.random.default_rng([seed, epoch, i, 7]), pair_mirror)
            x[start:start + chunk, ..., channels:] = normalize(resize_batch(partner, spec.size), spec)

    n_chunks = -(-len(y) // chunk)
    workers = feed_workers() if teachers is None else 1  # teachers' interpreters are not shared across threads
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(fill, range(n_chunks)))
    else:
        for i in range(n_chunks):
            fill(i)
    weights = None if class_weights is None else class_weights[y].astype(np.float32)
    if mixup is not None:
        x, targets, weights = mixup(x, targets, weights, np.random.default_rng([seed, epoch, 1 << 20]))
    return Epoch(x, targets, weights)


def feed_workers() -> int:
    """Threads that build an epoch: ``$FER_EDGE_FEED_WORKERS`` (a GPU machine has cores to spare), else 1."""
    import os

    try:
        return max(1, int(os.environ.get("FER_EDGE_FEED_WORKERS", "1")))
    except ValueError:
        return 1


class EpochFeed:
    """``feed[epoch]`` returns that epoch and starts building the next one in a background thread.

    OpenCV and numpy release the GIL, so the next epoch's augmentation overlaps
    with the current epoch's training. Errors in the thread surface on the next
    ``feed[epoch]``.
    """

    def __init__(self, make, last_epoch: int):
        self._make, self._last = make, last_epoch
        self._ready: dict[int, Epoch] = {}
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _build(self, epoch: int) -> None:
        try:
            self._ready[epoch] = self._make(epoch)
        except BaseException as e:  # noqa: BLE001  (re-raised in the caller's thread)
            self._error = e

    def __getitem__(self, epoch: int) -> Epoch:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        ep = self._ready.pop(epoch, None) or self._make(epoch)
        self._ready.clear()
        if epoch + 1 < self._last:
            self._thread = threading.Thread(target=self._build, args=(epoch + 1,), daemon=True)
            self._thread.start()
        return ep

    def wait(self) -> None:
        """Block until the epoch being built in the background is ready."""
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._ready.clear()
