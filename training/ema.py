"""An exponential moving average of a model's weights, kept beside training (never replacing it).

The average is updated after every batch over every weight, batch-norm statistics
included (as timm's ModelEmaV2 does), evaluated on ``val/`` each epoch and saved as
its own model when it is the best. Its state goes into the checkpoint, so a resumed
run averages exactly as one run straight through.
"""
from __future__ import annotations

import numpy as np


class WeightAverage:
    """``decay`` per step, with the usual warm-up ``min(decay, (1 + t) / (10 + t))`` so early weights fade fast."""

    def __init__(self, model, decay: float = 0.999):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.model, self.decay, self.steps = model, decay, 0
        self.shadow = [np.array(w, np.float32) for w in model.get_weights()]

    def update(self) -> None:
        d = min(self.decay, (1.0 + self.steps) / (10.0 + self.steps))
        for s, v in zip(self.shadow, self.model.weights):
            s *= d
            s += (1.0 - d) * np.asarray(v, np.float32)
        self.steps += 1

    def swapped_in(self):
        """Context manager: the model holds the averaged weights inside the block, its own after."""
        avg = self

        class _Swap:
            def __enter__(self):
                self.saved = avg.model.get_weights()
                avg.model.set_weights([s.astype(w.dtype) for s, w in zip(avg.shadow, self.saved)])
                return avg.model

            def __exit__(self, *exc):
                avg.model.set_weights(self.saved)
                return False

        return _Swap()

    def state(self) -> dict:
        return {"ema_steps": np.array(self.steps), **{f"ema_{i}": s for i, s in enumerate(self.shadow)}}

    def load_state(self, arrays) -> None:
        self.steps = int(arrays["ema_steps"])
        self.shadow = [np.array(arrays[f"ema_{i}"], np.float32) for i in range(len(self.shadow))]


def callback(avg: WeightAverage):
    import keras

    class _EMA(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            avg.update()

    return _EMA()
