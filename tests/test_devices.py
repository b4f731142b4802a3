"""``fer-edge train --devices N``: data-parallel through Keras's distribution API on JAX, here on two virtual CPU
devices, matches the one-device run; and says in one line what it needs when it cannot run."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from command import FER_EDGE

pytest.importorskip("keras")


def _train(data, out, devices, env_extra):
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu", **env_extra}
    args = [*FER_EDGE, "train", "-r", "edge-s", "-d", str(data), "-o", str(out), "--epochs", "2", "--limit", "64",
            "--batch-size", "16", "--verbose", "0", "--no-test-report"]
    if devices:
        args += ["--devices", str(devices)]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, cwd=Path.home())


def _weights_and_answers(run, faces):
    from fer_edge.training.evaluate import load_predictor

    pred = load_predictor(run / "model.keras")
    return pred.model.get_weights(), pred.predict(faces)


def test_two_devices_train_what_one_device_trains(mini_fer, tmp_path):
    pytest.importorskip("jax")
    one, two = _train(mini_fer, tmp_path / "one", None, {}), _train(mini_fer, tmp_path / "two", 2, {})
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    import json
    s1, s2 = (json.loads((tmp_path / r / "train.json").read_text()) for r in ("one", "two"))
    assert (s1["backend"], s1["devices"]) == ("jax", 1)
    assert (s2["backend"], s2["devices"]) == ("jax", 2)
    from fer_edge.training.data import load

    faces = load(mini_fer, "val").x
    w1, p1 = _weights_and_answers(tmp_path / "one", faces)
    w2, p2 = _weights_and_answers(tmp_path / "two", faces)
    moved = max(float(np.abs(a - b).max()) for a, b in zip(w1, w2))
    assert moved < 1e-3, moved  # the same steps on the same batches: only the order of float sums differs
    assert np.abs(p1 - p2).max() < 1e-3
    assert s1["best_val_accuracy"] == pytest.approx(s2["best_val_accuracy"], abs=1e-6)


def test_devices_says_what_it_needs(mini_fer, tmp_path):
    r = _train(mini_fer, tmp_path / "x", 3, {})
    assert r.returncode != 0 and "Traceback" not in r.stderr
    if "not installed" not in r.stderr:  # jax present: two devices exist, three were asked for
        assert "--devices 3: JAX sees 2" in r.stderr, r.stderr[-500:]
    r = _train(mini_fer, tmp_path / "y", 2, {"KERAS_BACKEND": "tensorflow"})
    assert r.returncode != 0 and "KERAS_BACKEND is 'tensorflow'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x" / "model.keras").exists()
