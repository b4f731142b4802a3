"""Consistency training: each face is trained on together with a jittered copy of itself, and the two answers are
pulled together, so that a crop box one or two pixels off (as a detector's boxes move from frame to frame) or a
few percent larger gives the same emotion.

With ``consistency_mirror`` (a recipe field) a share of the copies is also mirrored.

The net sees the pair as one input of two channels (:func:`pair_model`, weights shared), the loss
(:func:`pair_loss`) is the mean of both views' cross-entropy with the targets plus ``weight`` x their
symmetric KL divergence. Only the single-view net is saved, evaluated and released.
"""
from __future__ import annotations

import numpy as np

#: The partner of a face: shifted by up to JITTER_PX in x and y (never both 0) and scaled by 1 +- up to JITTER_ZOOM.
JITTER_PX, JITTER_ZOOM = 2, 0.05


def jittered(faces: np.ndarray, rng: np.random.Generator, mirror: float = 0.0) -> np.ndarray:
    """Each uint8 face ``(N, H, W)`` moved by a random 1-2 px step and zoomed by up to 5%, edges replicated; a
    ``mirror`` share of them also mirrored (a single view must answer a mirrored face as it answers the face: what
    mirror averaging inside a model buys at twice the cost). ``mirror`` 0 draws nothing more: the same copies as
    before it existed."""
    import cv2

    out = np.empty_like(faces)
    h, w = faces.shape[1:3]
    c = (w / 2 - 0.5, h / 2 - 0.5)
    for i, f in enumerate(faces):
        dx, dy = 0, 0
        while dx == 0 and dy == 0:
            dx, dy = (int(v) for v in rng.integers(-JITTER_PX, JITTER_PX + 1, 2))
        m = cv2.getRotationMatrix2D(c, 0.0, 1.0 + float(rng.uniform(-JITTER_ZOOM, JITTER_ZOOM)))
        m[:, 2] += (dx, dy)
        out[i] = cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if mirror and rng.random() < mirror:
            out[i] = out[i][:, ::-1]
    return out


def pair_model(net):
    """A model of ``net`` on two views stacked as channels: its output is both views' probabilities side by side."""
    import keras
    from keras import layers

    h, w, c = net.input_shape[1:]
    inp = keras.Input((h, w, 2 * c), name="face_pair")
    a = layers.Lambda(lambda t: t[..., :c], name="view_a")(inp)
    b = layers.Lambda(lambda t: t[..., c:], name="view_b")(inp)
    return keras.Model(inp, layers.Concatenate(name="both")([net(a), net(b)]), name=f"{net.name}_pair")


def pair_loss(n_classes: int, weight: float, label_smoothing: float = 0.0):
    """``loss(targets, [p_a, p_b])``: mean cross-entropy of the two views + ``weight`` x symmetric KL(p_a, p_b)."""
    from keras import losses, ops

    def loss(y_true, y_pred):
        pa, pb = y_pred[:, :n_classes], y_pred[:, n_classes:]
        ce = 0.5 * (losses.categorical_crossentropy(y_true, pa, label_smoothing=label_smoothing)
                    + losses.categorical_crossentropy(y_true, pb, label_smoothing=label_smoothing))
        la, lb = ops.log(ops.clip(pa, 1e-7, 1.0)), ops.log(ops.clip(pb, 1e-7, 1.0))
        return ce + weight * ops.sum((pa - pb) * (la - lb), axis=-1)
    return loss
