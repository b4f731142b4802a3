"""The Coral path end to end with stand-ins: compile (stand-in edgetpu_compiler), re-embed metadata,
run on the (stand-in) delegate at the compiled static batch size; refusals that used to be silent."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fer_edge.classifier import DEFAULT_MODEL, EmotionClassifier, bundled_models
from fer_edge.errors import DelegateError, ModelError
from fer_edge.interpreter import EDGETPU_LIBRARY_ENV
from fer_edge.metadata import read_tflite_metadata
from fer_edge.tflite_file import is_edgetpu_compiled
from command import FER_EDGE

STANDINS = Path(__file__).parent / "standins"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The bundled INT8 model through the stand-in compiler, as `fer-edge convert --edgetpu` does it."""
    pytest.importorskip("tensorflow")
    from fer_edge.converters.tflite import run_edgetpu_compiler

    d = tmp_path_factory.mktemp("coral")
    src = d / "model_edgetpu.tflite"
    shutil.copy(bundled_models()[DEFAULT_MODEL], src)
    meta = read_tflite_metadata(src.read_bytes())
    old = os.environ["PATH"]
    os.environ["PATH"] = f"{STANDINS}{os.pathsep}{old}"
    try:
        res = run_edgetpu_compiler(src, d, meta)
    finally:
        os.environ["PATH"] = old
    assert res["compiled"], res
    return d / res["file"], src


def test_the_compiled_model_gets_its_metadata_back(compiled):
    path, src = compiled
    assert path.name == "model_edgetpu_edgetpu.tflite"
    data = path.read_bytes()
    assert is_edgetpu_compiled(data) and not is_edgetpu_compiled(src.read_bytes())
    meta = read_tflite_metadata(data)
    assert meta.format == "edgetpu" and meta.quantization["edgetpu_compiled"] is True
    assert meta.labels == read_tflite_metadata(src.read_bytes()).labels


def test_without_the_compiler_the_input_file_is_named_as_such(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")
    from fer_edge.converters.tflite import run_edgetpu_compiler

    monkeypatch.setenv("PATH", "/nonexistent")
    res = run_edgetpu_compiler(bundled_models()[DEFAULT_MODEL], tmp_path)
    assert not res["compiled"] and "is the INT8 input for the compiler, not a model for the device" in res["reason"]
    monkeypatch.setenv("FER_EDGE_STANDIN_COMPILER_FAIL", "1")
    monkeypatch.setenv("PATH", f"{STANDINS}{os.pathsep}/usr/bin:/bin")
    shutil.copy(bundled_models()[DEFAULT_MODEL], tmp_path / "m.tflite")
    res = run_edgetpu_compiler(tmp_path / "m.tflite", tmp_path)
    assert not res["compiled"] and res["reason"].startswith("edgetpu_compiler failed: ERROR: Attempting")


def test_compiled_model_runs_on_the_delegate_at_its_static_batch(compiled, standin_lib, monkeypatch, tmp_path):
    path, src = compiled
    log = tmp_path / "standin.log"
    monkeypatch.setenv("FER_EDGE_STANDIN_LOG", str(log))
    monkeypatch.setenv(EDGETPU_LIBRARY_ENV, str(standin_lib))
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    tpu = EmotionClassifier(path, device="usb")
    resized = []
    real = tpu._interp.resize_tensor_input
    tpu._interp.resize_tensor_input = lambda *a, **k: (resized.append(a), real(*a, **k))
    probs = tpu.predict_proba(faces)
    assert tpu.static_batch == 1 and not resized  # five invokes of the compiled shape, never a resize
    assert tpu._interp.get_input_details()[0]["shape"][0] == 1
    cpu = EmotionClassifier(src).predict_proba(faces)
    assert np.array_equal(probs, cpu)  # the stand-in claims no ops: the same graph ran, face by face
    assert "prepare" in log.read_text().split()


def test_refusals_that_used_to_be_silent(compiled, standin_lib, monkeypatch):
    path, src = compiled
    monkeypatch.setenv(EDGETPU_LIBRARY_ENV, str(standin_lib))
    with pytest.raises(DelegateError, match="not compiled for the Edge TPU"):
        EmotionClassifier(src, device="usb")  # would have run everything on the CPU without a word
    with pytest.raises(ModelError, match="compiled for the Edge TPU; pass device="):
        EmotionClassifier(path)


def _cli(*args, env=None):
    return subprocess.run([*FER_EDGE, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_cli_device_without_runtime_is_one_line_and_no_traceback(compiled):
    path, _ = compiled
    img = Path(__file__).parents[1] / "examples" / "images" / "group.jpg"
    r = _cli("predict", str(img), "--model", str(path), "--device", "usb",
             env={EDGETPU_LIBRARY_ENV: "/nonexistent/libedgetpu.so.1"})
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error: Edge TPU runtime")
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr


def test_camera_edgetpu_takes_model(tmp_path):
    r = _cli("camera", "--source", "0", "--edgetpu", "--model", str(tmp_path / "mine_edgetpu.tflite"),
             "--max-frames", "1")
    assert r.returncode == 2 and "mine_edgetpu.tflite: model file does not exist" in r.stderr
