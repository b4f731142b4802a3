"""The weight average is the same arithmetic on every backend (JAX keeps weights outside the model inside fit)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

# Fits a tiny batch-norm net for 6 batches with the EMA callback; a second callback syncs the
# JAX trainer's state (the slow, public way) and records every batch's weights, from which the
# average is recomputed in plain numpy.
SCRIPT = textwrap.dedent("""
    import numpy as np, keras
    from fer_edge.training.ema import WeightAverage, callback
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.BatchNormalization(),
                          keras.layers.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    avg, seen = WeightAverage(m, 0.9), [[np.array(w, np.float32) for w in m.get_weights()]]
    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            getattr(self.model, "jax_state_sync", lambda: None)()
            seen.append([np.array(w, np.float32) for w in self.model.get_weights()])
    x = np.random.default_rng(0).normal(size=(48, 4)).astype("float32")
    m.fit(x, np.arange(48) % 3, batch_size=8, epochs=1, verbose=0, callbacks=[callback(avg), Record()])
    want = [w.copy() for w in seen[0]]
    for t, ws in enumerate(seen[1:]):
        d = min(0.9, (1.0 + t) / (10.0 + t))
        want = [d * a + (1 - d) * w for a, w in zip(want, ws)]
    assert avg.steps == 6, avg.steps
    assert all(not np.allclose(a, b) for a, b in zip(want[:2], seen[0][:2]))  # the weights moved
    err = max(float(np.max(np.abs(np.asarray(s) - w))) for s, w in zip(avg.shadow, want))
    assert err < 1e-6, err
    state = avg.state()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    print("ok", err)
""")


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_ema_matches_numpy_recomputation(backend):
    pytest.importorskip(backend)
    env = {**os.environ, "KERAS_BACKEND": backend, "FER_EDGE_MIXED_PRECISION": ""}
    r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300,
                       cwd=Path.home())  # not the checkout: `python -c` would import its files, not the install
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-2000:]
