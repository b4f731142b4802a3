"""Interpreter helpers and the Edge TPU delegate path, proven with a stand-in libedgetpu."""

import numpy as np
import pytest

from fer_edge.classifier import EmotionClassifier
from fer_edge.interpreter import (EDGETPU_LIBRARY_ENV, ModelError, interpreter_module, load_edgetpu_delegate,
                                  make_interpreter, parse_device)

pytestmark = pytest.mark.runtime  # device runtime only: runs under aarch64 emulation too



def test_litert_is_the_first_choice():
    _, name = interpreter_module()
    assert name == "ai_edge_litert.interpreter"


@pytest.mark.parametrize("device,expected", [(None, None), ("cpu", None), ("usb", {"device": "usb"}),
                                             ("usb:1", {"device": "usb:1"}), ("pci:0", {"device": "pci:0"}),
                                             (":0", {"device": ":0"}), ("edgetpu", {})])
def test_device_grammar(device, expected):
    assert parse_device(device) == expected


@pytest.mark.parametrize("device", ["gpu", "usb:x", "usb:", ":"])
def test_bad_devices(device):
    with pytest.raises(ValueError, match="bad device"):
        parse_device(device)


def test_edgetpu_stand_in_is_loaded_with_options_and_used(standin_lib, tmp_path, monkeypatch):
    """make_interpreter (pycoral style) loads the delegate with pycoral's options; the graph is prepared by it."""
    from fer_edge.classifier import DEFAULT_MODEL, bundled_models

    log = tmp_path / "standin.log"
    monkeypatch.setenv("FER_EDGE_STANDIN_LOG", str(log))
    monkeypatch.setenv(EDGETPU_LIBRARY_ENV, str(standin_lib))
    it = make_interpreter(bundled_models()[DEFAULT_MODEL], device="usb:0")
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    it.invoke()
    lines = log.read_text().split()
    assert lines[:3] == ["device=", "usb:0", "create"]
    assert "prepare" in lines  # the interpreter handed its graph to the delegate


def test_missing_edgetpu_runtime_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(EDGETPU_LIBRARY_ENV, "/nonexistent/libedgetpu.so.1")
    with pytest.raises(RuntimeError, match="Edge TPU runtime '/nonexistent/libedgetpu.so.1' could not be loaded"):
        load_edgetpu_delegate({"device": "usb"})
    with pytest.raises(RuntimeError, match="could not be loaded|not compiled for the Edge TPU"):
        EmotionClassifier(device="usb")


@pytest.mark.parametrize("content,message", [
    (b"", "too short"), (b"not a model at all, just text", "TFL3"),
    (b"\x10\x00\x00\x00TFL3" + b"\xff" * 40, "corrupt|truncated"),
])
def test_hostile_model_bytes(content, message):
    with pytest.raises(ModelError, match=message):
        make_interpreter(content)


def test_missing_model_path(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        make_interpreter(tmp_path / "nope.tflite")
    with pytest.raises(ModelError, match="directory"):
        make_interpreter(tmp_path)


def test_faces_run_in_fixed_batches_with_one_interpreter_each():
    """Seven faces run as 4 + 2 + 1 on three interpreters built once; changing the face count allocates nothing
    new, and each face's probabilities are the ones it gets alone."""
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (48, 48), np.uint8) for _ in range(7)]
    clf = EmotionClassifier()
    assert clf._pool.split(7) == [4, 2, 1] and clf._pool.split(8) == [8] and clf._pool.split(0) == []
    together = clf.predict_proba(crops)
    alone = np.concatenate([clf.predict_proba(c[None]) for c in crops])
    np.testing.assert_array_equal(together, alone)
    built = dict(clf._pool._by_batch)
    assert sorted(built) == [1, 2, 4]
    clf.predict_proba(crops[:3])
    clf.predict_proba(crops)
    assert clf._pool._by_batch == built  # the same interpreters, none rebuilt
