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
        self._jax_index = None  # where each of model.weights sits in the JAX trainer's state, found once
        self.shadow = [np.array(w, np.float32) for w in model.get_weights()]

    def update(self) -> None:
        d = min(self.decay, (1.0 + self.steps) / (10.0 + self.steps))
        live = self._jax_live_weights()
        if live is None:  # in place, in numpy (after a JAX fit the average may still be device arrays)
            self.shadow = [s if isinstance(s, np.ndarray) else np.array(s, np.float32) for s in self.shadow]
            for s, v in zip(self.shadow, self.model.weights):
                s *= d
                s += (1.0 - d) * np.asarray(v, np.float32)
        else:  # JAX inside fit: one compiled update on the device, no host copy per batch
            self.shadow = _jax_update()(self.shadow, live, d)
        self.steps += 1

    def _jax_live_weights(self):
        """The weights in ``model.weights`` order from the JAX trainer's step state, or None outside a JAX fit.

        Inside ``fit`` the JAX trainer keeps the weights in its own state and purges the
        model's variables (reading them fails); syncing them back every batch would copy
        the whole state, so the average reads the trainer's arrays where they are.
        """
        m = self.model
        state = getattr(m, "_jax_state", None)
        if not state or getattr(m, "_jax_state_synced", True):
            return None
        if self._jax_index is None:
            where = {id(v): ("trainable_variables", i) for i, v in enumerate(m.trainable_variables)}
            where.update({id(v): ("non_trainable_variables", i) for i, v in enumerate(m.non_trainable_variables)})
            self._jax_index = [where[id(v)] for v in m.weights]
        return [state[group][i] for group, i in self._jax_index]

    def swapped_in(self):
        """Context manager: the model holds the averaged weights inside the block, its own after."""
        avg = self

        class _Swap:
            def __enter__(self):
                self.saved = avg.model.get_weights()
                avg.model.set_weights([np.asarray(s).astype(w.dtype) for s, w in zip(avg.shadow, self.saved)])
                return avg.model

            def __exit__(self, *exc):
                avg.model.set_weights(self.saved)
                return False

        return _Swap()

    def state(self) -> dict:
        return {"ema_steps": np.array(self.steps), **{f"ema_{i}": np.asarray(s) for i, s in enumerate(self.shadow)}}

    def load_state(self, arrays) -> None:
        self.steps = int(arrays["ema_steps"])
        self.shadow = [np.array(arrays[f"ema_{i}"], np.float32) for i in range(len(self.shadow))]


_JAX_UPDATE = None


def _jax_update():
    """The average as one compiled call over all weights: op by op it cost 21x as much a batch for edge-s on
    JAX-CPU (``benchmarks/ema_update.py``), several seconds of a GPU epoch."""
    global _JAX_UPDATE
    if _JAX_UPDATE is None:
        import jax
        import jax.numpy as jnp

        _JAX_UPDATE = jax.jit(lambda shadow, live, d: [d * jnp.asarray(s, jnp.float32) + (1.0 - d) * v.astype(
            jnp.float32) for s, v in zip(shadow, live)])
    return _JAX_UPDATE


def callback(avg: WeightAverage):
    import keras

    class _EMA(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            avg.update()

    return _EMA()
