"""The device runtime's contract (issue 15): every input either works or is refused in one line.

Each test here failed on the code before the contract work and passes now.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fer_edge
from fer_edge import EmotionClassifier, EmotionRecognizer, RecognizerOptions, RunningMode
from fer_edge.classifier import DEFAULT_MODEL, bundled_models
from fer_edge.errors import DelegateError, ImageError, InferenceError, MetadataError, ModelError
from fer_edge.metadata import FORMAT_VERSION, ModelMetadata
from fer_edge.preprocessing import pixels_u8
from command import FER_EDGE

ROOT = Path(__file__).parents[1]
GROUP = ROOT / "examples" / "images" / "group.jpg"


# ------------------------------------------------------------------ one pixel rule
@pytest.mark.runtime
def test_float_frames_in_0_1_find_the_same_faces_as_uint8():
    img = cv2.imread(str(GROUP))
    with EmotionRecognizer.create_from_model_path() as rec:
        ref = rec.recognize(img)
        as_unit = rec.recognize(img.astype(np.float32) / 255.0)
        as_255 = rec.recognize(img.astype(np.float64))
    assert len(ref) == 3
    assert [f.box for f in as_unit] == [f.box for f in ref] == [f.box for f in as_255]
    assert [f.emotion for f in as_unit] == [f.emotion for f in ref]


@pytest.mark.parametrize("arr,expected", [
    (np.array([[0.0, 0.5, 1.0]]), [0, 128, 255]),
    (np.array([[0.0, 2.0, 255.0]], np.float32), [0, 2, 255]),
    (np.array([[0, 256, 65535]], np.uint16), [0, 1, 255]),
    (np.array([[0, 7, 255]], np.int64), [0, 7, 255]),
])
@pytest.mark.runtime
def test_pixel_rule(arr, expected):
    assert pixels_u8(arr).tolist() == [expected]


@pytest.mark.parametrize("arr,msg", [
    (np.array([[0.0, 1.5, 300.0]]), r"float values span \[0, 300\]; expected \[0, 1\] or \[0, 255\]"),
    (np.array([[np.nan, 0.5]]), "NaN or infinity"),
    (np.array([[-1, 5]], np.int32), "int32 values span -1..5; expected 0..255"),
    (np.zeros((4, 4), bool), "unsupported pixel type bool"),
    (np.zeros((4, 4, 2), np.uint8), r"got shape \(4, 4, 2\)"),
    (np.zeros((0, 4), np.uint8), r"got shape \(0, 4\)"),
])
@pytest.mark.runtime
def test_pixel_rule_refusals_say_what_was_expected_and_given(arr, msg):
    with pytest.raises(ImageError, match=msg):
        pixels_u8(arr)


@pytest.mark.runtime
def test_one_crop_is_one_face():
    crop = cv2.resize(cv2.imread(str(GROUP))[221:349, 313:441], (48, 48))
    with EmotionClassifier() as clf:
        one = clf.classify(crop)                    # (48, 48, 3) BGR: one face, not 48 rows
        listed = clf.classify([crop])
        gray = clf.classify(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY))
        stack = clf.classify(np.stack([cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)] * 3))
        with pytest.raises(ImageError, match="expected one crop"):
            clf.classify(np.zeros((2, 3, 48, 48, 1), np.uint8))
    assert len(one) == 1 and one == listed and len(gray) == 1 and len(stack) == 3
    assert one[0].label == "happy"


# ------------------------------------------------------------------ metadata
GOOD = {"labels": ["a", "b"], "format_version": 1}


@pytest.mark.parametrize("doc,field", [
    ({"format_version": "1"}, "format_version"), ({"format_version": True}, "format_version"),
    ({"preprocessing": [48]}, "preprocessing"), ({"labels": "happy"}, "labels"), ({"labels": ["a", 3]}, "labels"),
    ({"metrics": [1]}, "metrics"), ({"training": "x"}, "training"), ({"name": 5}, "name"),
    ({"preprocessing": {"size": "48"}}, "preprocessing.size"), ({"preprocessing": {"std": True}}, "preprocessing.std"),
    ({"preprocessing": {"mean": float("inf")}}, "preprocessing.mean"),
])
@pytest.mark.runtime
def test_metadata_fields_are_type_checked_and_named(doc, field):
    with pytest.raises(MetadataError, match=f"metadata field '{field}'"):
        ModelMetadata.from_dict({**GOOD, **doc})


_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 600) | st.floats(allow_nan=True) | st.text(max_size=6),
                       lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                       max_leaves=10)
_keys = st.sampled_from(["labels", "preprocessing", "name", "recipe", "format", "version", "metrics", "source",
                         "quantization", "training", "format_version", "junk"])


@given(st.dictionaries(_keys, _values, max_size=8), st.booleans())
@pytest.mark.runtime
@pytest.mark.slow
def test_fuzz_whole_metadata_documents(doc, with_labels):
    if with_labels:
        doc = {**doc, "labels": ["happy", "sad"]}
    try:
        m = ModelMetadata.from_dict(doc)
    except MetadataError:
        return
    assert len(m.labels) >= 2 and all(isinstance(x, str) for x in m.labels)
    assert all(isinstance(getattr(m, k), dict) for k in ("metrics", "source", "quantization", "training"))
    assert isinstance(m.format_version, int) and 1 <= m.format_version <= FORMAT_VERSION
    assert 8 <= m.preprocessing.size <= 512 and m.preprocessing.std > 0
    json.loads(m.to_json())


def _model_with_metadata(tmp_path, doc) -> Path:
    pytest.importorskip("tensorflow")
    from fer_edge.training.tflite_metadata import with_metadata

    data = with_metadata(bundled_models()[DEFAULT_MODEL].read_bytes(), json.dumps(doc).encode())
    path = tmp_path / "bad.tflite"
    path.write_bytes(data)
    return path


def _cli(*args, env=None, cwd=None):
    return subprocess.run([*FER_EDGE, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=180, cwd=cwd)


@pytest.mark.parametrize("bad", [{"format_version": "1"}, {"preprocessing": [1, 2]}, {"metrics": 3}])
def test_cli_refuses_bad_metadata_in_one_line(tmp_path, bad):
    from fer_edge.metadata import read_tflite_metadata

    doc = {**read_tflite_metadata(bundled_models()[DEFAULT_MODEL].read_bytes()).to_dict(), **bad}
    path = _model_with_metadata(tmp_path, doc)
    r = _cli("predict", GROUP, "--model", path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert str(path) in r.stderr and f"metadata field '{next(iter(bad))}'" in r.stderr


# ------------------------------------------------------------------ public API
@pytest.mark.runtime
def test_public_exceptions_are_exported_in_two_families():
    for name in ("ImageError", "ModelError", "MetadataError"):
        assert issubclass(getattr(fer_edge, name), ValueError)
    for name in ("DelegateError", "InferenceError"):
        assert issubclass(getattr(fer_edge, name), RuntimeError)
    assert issubclass(MetadataError, ModelError)
    from fer_edge.images import ImageError as from_images
    from fer_edge.interpreter import ModelError as from_interpreter
    assert from_images is ImageError and from_interpreter is ModelError
    clf = EmotionClassifier()
    clf.close()
    with pytest.raises(InferenceError, match="closed"):
        clf.classify(np.zeros((48, 48), np.uint8))
    with pytest.raises(ValueError, match="num_threads must be a positive integer"):
        EmotionClassifier(num_threads=0)
    assert DelegateError is fer_edge.DelegateError


# ------------------------------------------------------------------ LIVE_STREAM
@pytest.mark.runtime
def test_live_stream_delivers_results_to_the_callback_and_drops_when_busy():
    img = cv2.imread(str(GROUP))
    got, gate = [], threading.Event()

    def callback(result, frame, ts):
        gate.wait(5)
        got.append((ts, len(result.faces), frame.shape))

    with pytest.raises(ValueError, match="needs a result_callback"):
        EmotionRecognizer(RecognizerOptions(running_mode=RunningMode.LIVE_STREAM))
    with pytest.raises(ValueError, match="result_callback is for LIVE_STREAM"):
        EmotionRecognizer(RecognizerOptions(result_callback=callback))
    rec = EmotionRecognizer(RecognizerOptions(running_mode=RunningMode.LIVE_STREAM, result_callback=callback))
    assert rec.recognize_async(img, 0) is True
    time.sleep(0.05)
    assert rec.recognize_async(img, 33) is False  # the first frame is still in the callback: dropped
    with pytest.raises(ValueError, match="not after"):
        rec.recognize_async(img, 33)
    with pytest.raises(ValueError, match="LIVE_STREAM mode"):
        rec.recognize(img)
    gate.set()
    ts, deadline = 66, time.time() + 120  # conditions, not fixed sleeps: emulated aarch64 is ~50x slower
    while not rec.recognize_async(img, ts) and time.time() < deadline:
        ts += 1  # still busy with the first frame: dropped, try the next
        time.sleep(0.01)
    rec.close()  # finishes the frame in flight
    assert [(t, n) for t, n, _ in got] == [(0.0, 3), (float(ts), 3)] and got[0][2] == img.shape
    with pytest.raises(InferenceError, match="closed"):
        rec.recognize_async(img, 99)


@pytest.mark.runtime
def test_live_stream_worker_errors_surface_on_the_next_frame():
    def callback(result, frame, ts):
        raise KeyError("consumer bug")

    img = cv2.imread(str(GROUP))
    with EmotionRecognizer(RecognizerOptions(running_mode=RunningMode.LIVE_STREAM, result_callback=callback)) as rec:
        rec.recognize_async(img, 1)
        deadline, ts = time.time() + 120, 2
        with pytest.raises(InferenceError, match="consumer bug"):
            while time.time() < deadline:  # dropped while busy; raises once the worker has failed
                rec.recognize_async(img, ts)
                ts += 1
                time.sleep(0.02)


@pytest.mark.runtime
def test_video_mode_requires_a_timestamp():
    with EmotionRecognizer(RecognizerOptions(running_mode=RunningMode.VIDEO)) as rec:
        with pytest.raises(TypeError):
            rec.recognize_for_video(np.zeros((64, 64, 3), np.uint8))
        with pytest.raises(ValueError, match="must be a number"):
            rec.recognize_for_video(np.zeros((64, 64, 3), np.uint8), "soon")


# ------------------------------------------------------------------ CLI outputs
@pytest.mark.runtime
def test_annotate_never_overwrites_inputs_and_mirrors_paths(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        cv2.imwrite(str(tmp_path / d / "x.jpg"), cv2.imread(str(GROUP)))
    before = (tmp_path / "a" / "x.jpg").read_bytes()
    r = _cli("predict", "a", "b", "--annotate", "a", cwd=tmp_path)  # the output folder is an input folder
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a" / "x.jpg").read_bytes() == before
    assert (tmp_path / "a" / "a" / "x.jpg").exists() and (tmp_path / "a" / "b" / "x.jpg").exists()
    assert "annotated: a/x.jpg -> a/a/x.jpg" in r.stderr and "annotated: b/x.jpg -> a/b/x.jpg" in r.stderr
    r = _cli("predict", "b/x.jpg", "--annotate", "a", cwd=tmp_path)  # one input: mirrored below its own folder,
    assert "annotated: b/x.jpg -> a/x-1.jpg" in r.stderr               # where a/x.jpg (an input before) stays
    assert (tmp_path / "a" / "x.jpg").read_bytes() == before and (tmp_path / "a" / "x-1.jpg").exists()


@pytest.mark.runtime
def test_annotate_writes_an_annotated_video(tmp_path):
    img = cv2.resize(cv2.imread(str(GROUP)), (320, 240))
    w = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for i in range(6):
        w.write(np.roll(img, i, axis=1))
    w.release()
    r = _cli("predict", "clip.avi", "--annotate", "out", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    cap = cv2.VideoCapture(str(tmp_path / "out" / "clip.mp4"))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert n == 6 and len(r.stdout.strip().splitlines()) == 6
    assert "annotated: clip.avi -> out/clip.mp4" in r.stderr


@pytest.mark.runtime
def test_camera_checks_outputs_before_opening_the_camera(tmp_path):
    blocked = tmp_path / "ro"
    blocked.mkdir()
    (blocked / "file").write_text("")
    r = _cli("camera", "--source", tmp_path / "no_such_video.mp4", "--json-out", blocked / "file" / "x.jsonl")
    assert r.returncode == 2 and "--json-out" in r.stderr and "cannot open" not in r.stderr
    assert r.stderr.count("\n") == 1
    r = _cli("camera", "--source", tmp_path / "no_such_video.mp4", "--snapshot-dir", blocked / "file")
    assert r.returncode == 2 and "--snapshot-dir" in r.stderr
    r = _cli("predict", GROUP, "--threads", "0")
    assert r.returncode == 2 and "0 is not in the range x>=1" in r.stderr and "rejected the model" not in r.stderr


# ------------------------------------------------------------------ device package purity
@pytest.mark.runtime
def test_device_modules_import_without_workstation_packages():
    """Every module of the runtime (fer_edge outside training, converters and release) imports with TensorFlow & co.
    blocked."""
    code = r'''
import importlib, importlib.util, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"tensorflow", "keras", "tf_keras", "matplotlib", "sklearn", "tensorflow_model_optimization"}:
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
import fer_edge
names = []
for m in pkgutil.walk_packages(fer_edge.__path__, "fer_edge."):
    if m.name.startswith(("fer_edge.training", "fer_edge.converters", "fer_edge.release")):
        continue
    if m.name.startswith("fer_edge.web.") and importlib.util.find_spec("aiohttp") is None:
        continue  # the [web] extra is not installed here
    importlib.import_module(m.name)
    names.append(m.name)
print(len(names), " ".join(sorted(names)))
'''
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=Path.home())
    assert r.returncode == 0, r.stderr[-2000:]
    n, names = r.stdout.split(" ", 1)
    assert int(n) >= 15 and "fer_edge.cli" in names and "fer_edge.recognizer" in names
    assert "fer_edge.benchmark" not in names and "fer_edge.scenes" not in names


# ------------------------------------------------------------------ first steps on the CLI (issue 17)
@pytest.mark.parametrize("args,msg", [
    (["--detector", "yunet"], "--detector yunet needs --yunet-model PATH"),
    (["--yunet-model", "x.onnx"], "--yunet-model goes with --detector yunet"),
    (["-m", "tests/fixtures/edge-s/model.keras"], "a Keras model; the runtime takes TFLite. Convert it first: fer-edge convert"),
    (["-m", "no_such_bundle"], "no tier of that name (tiers: default, fast, accurate; or a .tflite path)"),
])
@pytest.mark.runtime
def test_cli_first_step_mistakes_get_a_pointing_line(args, msg):
    r = _cli("predict", GROUP, *args, cwd=ROOT)
    assert r.returncode == 2 and msg in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.runtime
def test_cli_haar_only_where_opencv_has_it():
    r = _cli("predict", GROUP, "--detector", "haar")
    if hasattr(cv2, "CascadeClassifier"):
        assert "CascadeClassifier" not in r.stderr
    else:
        assert r.returncode == 2 and f"OpenCV {cv2.__version__} has no CascadeClassifier" in r.stderr
