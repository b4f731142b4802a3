"""Nothing a user or a camera feeds fer-edge produces a traceback, a hang or a lost result."""
import json
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from fer_edge.cli import main
from fer_edge.classifier import DEFAULT_MODEL, EmotionClassifier, bundled_models
from fer_edge.detection.base import weighted_nms
from fer_edge.detection.blazeface import decode, ssd_anchors
from fer_edge.images import ImageError, decode_image, header_size, read_image
from fer_edge.interpreter import ModelError
from fer_edge.metadata import MetadataError, ModelMetadata, read_tflite_metadata
from fer_edge.preprocessing import Preprocessing, crop_face, faces_to_input, to_gray_u8
from fer_edge.tflite_file import TFLiteFormatError, read_metadata

GOOD_JPEG = cv2.imencode(".jpg", np.full((40, 30, 3), 120, np.uint8))[1].tobytes()
GOOD_PNG = cv2.imencode(".png", np.full((40, 30), 99, np.uint8))[1].tobytes()


def _png_header_only(w, h):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))


# ------------------------------------------------------------------ images
@pytest.mark.parametrize("name,data,msg", [
    ("empty.jpg", b"", "empty file"),
    ("truncated.jpg", GOOD_JPEG[:60], "not a readable image"),
    ("truncated.png", GOOD_PNG[:40], "not a readable image"),
    ("text.jpg", b"hello, I am not a picture" * 10, "not a readable image"),
    ("huge.png", _png_header_only(20000, 20000), "larger than the 50,000,000-pixel limit"),
])
@pytest.mark.runtime
def test_bad_image_files(tmp_path, name, data, msg):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(ImageError, match=msg):
        read_image(p)


@pytest.mark.runtime
def test_header_sizes():
    assert header_size(GOOD_JPEG) == (30, 40)
    assert header_size(GOOD_PNG) == (30, 40)
    assert header_size(cv2.imencode(".bmp", np.zeros((5, 7), np.uint8))[1].tobytes()) == (7, 5)
    assert header_size(b"GIF89a\x10\x00\x20\x00") == (16, 32)
    assert header_size(b"\xff\xd8\xff") is None


@pytest.mark.parametrize("img", [
    np.zeros((1, 1), np.uint8), np.full((60, 80), 40000, np.uint16), np.zeros((30, 30, 4), np.uint8),
    np.zeros((50, 50, 3), np.uint8), np.zeros((50, 50), np.uint8),
], ids=["1x1", "16bit", "bgra", "bgr", "gray"])
@pytest.mark.runtime
def test_odd_but_valid_images_decode_and_run(img, tmp_path):
    p = tmp_path / "x.png"
    cv2.imwrite(str(p), img)
    dec = read_image(p)
    assert dec.dtype == img.dtype and dec.shape[:2] == img.shape[:2]
    r = CliRunner().invoke(main, ["predict", str(p), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["faces"] == []


@pytest.mark.runtime
def test_animated_gif_uses_the_first_frame(tmp_path):
    from fer_edge.images import to_bgr

    frames = [np.full((20, 20, 3), v, np.uint8) for v in (10, 200)]
    p = tmp_path / "anim.gif"
    ok = cv2.imwritemulti(str(p), frames) if hasattr(cv2, "imwritemulti") else False
    if not ok or not p.exists():
        pytest.skip("this OpenCV cannot write GIF")
    img = read_image(p)
    assert to_bgr(img).shape == (20, 20, 3)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
@pytest.mark.runtime
def test_unreadable_permissions(tmp_path):
    p = tmp_path / "locked.jpg"
    p.write_bytes(GOOD_JPEG)
    p.chmod(0)
    with pytest.raises(ImageError, match="permission denied"):
        read_image(p)


@pytest.mark.runtime
def test_non_utf8_file_names_and_mixed_folders(tmp_path, scene_faces):
    from test_runtime import _detectable

    from fer_edge.release.scenes import make_scene

    folder = tmp_path / "mixed"
    folder.mkdir()
    img, placed = make_scene(_detectable(scene_faces, 1), [0], np.random.default_rng(3), side_range=(150, 150))
    good_name = os.fsencode(folder) + b"/caf\xe9-\xff.jpg"  # latin-1 bytes: not valid UTF-8
    with open(good_name, "wb") as fh:
        fh.write(cv2.imencode(".jpg", img)[1].tobytes())
    (folder / "broken.jpg").write_bytes(GOOD_JPEG[:50])
    (folder / "empty.png").write_bytes(b"")
    (folder / "ok.png").write_bytes(GOOD_PNG)
    r = CliRunner().invoke(main, ["predict", str(folder), "--json"])
    assert r.exit_code == 1
    recs = [json.loads(x) for x in r.stdout.strip().splitlines()]
    good = [x for x in recs if "faces" in x]
    assert len(recs) == 4 and sorted(len(x["faces"]) for x in good) == [0, 1]
    errs = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(errs) == 2 and "2 of 4 inputs failed" in r.stderr
    assert sorted(f"error: {x['error']}" for x in recs if "error" in x) == sorted(errs)  # every input has its line


# ------------------------------------------------------------------ model files
def _default_bytes():
    return bundled_models()[DEFAULT_MODEL].read_bytes()


@pytest.mark.parametrize("cut", [16, 200, 0.5])
@pytest.mark.runtime
def test_truncated_models(tmp_path, cut):
    data = _default_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else cut
    p = tmp_path / "trunc.tflite"
    p.write_bytes(data[:n])
    with pytest.raises((ModelError, MetadataError), match="trunc.tflite"):
        EmotionClassifier(p)


def test_wrong_input_shape_and_dtype_named(tmp_path):
    pytest.importorskip("tensorflow")
    import keras
    import tensorflow as tf

    from fer_edge.training.tflite_metadata import with_metadata

    inp = keras.Input((32, 32, 1))
    m = keras.Model(inp, keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(inp)))
    data = with_metadata(tf.lite.TFLiteConverter.from_keras_model(m).convert(),
                         ModelMetadata(labels=["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]))
    p = tmp_path / "shape.tflite"
    p.write_bytes(data)
    with pytest.raises(MetadataError, match="shape.tflite: model input shape .* does not match the metadata"):
        EmotionClassifier(p)


@pytest.mark.runtime
def test_cli_names_the_model_file(tmp_path):
    p = tmp_path / "weird.tflite"
    p.write_bytes(_default_bytes()[:300])
    r = CliRunner().invoke(main, ["predict", "x.jpg", "--model", str(p)])
    assert r.exit_code == 2 and "weird.tflite" in r.output and "Traceback" not in r.output


# ------------------------------------------------------------------ fuzzing
@given(st.binary(max_size=4096))
@pytest.mark.runtime
def test_fuzz_image_decoding(data):
    try:
        img = decode_image(data, "fuzz")
    except ImageError:
        return
    assert img.size > 0
    x = faces_to_input([to_gray_u8(img)], Preprocessing())
    assert x.shape == (1, 48, 48, 1) and np.isfinite(x).all()


@given(st.integers(1, 300), st.integers(1, 300), st.floats(-400, 700), st.floats(-400, 700),
       st.floats(0.5, 900), st.floats(0.5, 900))
@pytest.mark.runtime
def test_fuzz_crop_and_preprocess(h, w, x, y, bw, bh):
    img = np.random.default_rng(h * 1000 + w).integers(0, 256, (h, w), dtype=np.uint8)
    try:
        crop = crop_face(img, (x, y, bw, bh), Preprocessing())
    except ValueError as e:
        assert "outside" in str(e)
        return
    assert crop.shape[0] == crop.shape[1] >= 1
    assert faces_to_input([crop], Preprocessing()).shape == (1, 48, 48, 1)


_ANCHORS = ssd_anchors(128, (8, 16, 16, 16), 2)


@given(st.integers(0, 2**32 - 1), st.sampled_from([1.0, 100.0, 1e6]), st.booleans())
@pytest.mark.runtime
@pytest.mark.slow
def test_fuzz_detector_postprocessing(seed, scale, poison):
    rng = np.random.default_rng(seed)
    raw = (rng.standard_normal((896, 16)) * scale).astype(np.float32)
    logits = (rng.standard_normal(896) * scale).astype(np.float32)
    if poison:
        raw[rng.integers(0, 896, 20)] = np.nan
        logits[rng.integers(0, 896, 20)] = np.inf
    boxes, scores, kps = decode(raw, logits, _ANCHORS, 128, 0.5)
    assert len(boxes) == len(scores) == len(kps) and ((scores >= 0.5) & (scores <= 1)).all()
    merged = weighted_nms(boxes * 640, scores, kps.reshape(len(kps), -1) * 640, 0.3, max_faces=20)
    assert len(merged) <= 20
    for box, score, _kp in merged:
        assert np.isfinite(box).all() and box[2] > 0 and box[3] > 0 and 0.5 <= score <= 1


@given(st.lists(st.tuples(st.one_of(st.integers(-3, 9).map(str), st.text(max_size=3)),
                          st.one_of(st.just(" ".join(["5"] * 2304)), st.text(max_size=40),
                                    st.lists(st.integers(-5, 300), min_size=0, max_size=30).map(lambda v: " ".join(map(str, v)))),
                          st.sampled_from(["Training", "PublicTest", "PrivateTest", "Other", ""])), max_size=12))
def test_fuzz_csv_parser(tmp_path_factory, rows):
    import csv

    from fer_edge.training.data import DataError, load

    p = tmp_path_factory.mktemp("csv") / "f.csv"
    with open(p, "w", newline="", encoding="utf-8", errors="replace") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        w.writerows(rows)
    try:
        d = load(p, "train")
    except DataError as e:
        assert "no usable rows" in str(e)
        return
    def label_ok(e):
        try:
            return 0 <= int(e) <= 6
        except ValueError:
            return False

    ok = sum(1 for e, px, u in rows if u == "Training" and label_ok(e) and px == " ".join(["5"] * 2304))
    assert len(d) >= ok and d.x.shape[1:] == (48, 48)


@given(st.binary(max_size=2048))
@pytest.mark.runtime
def test_fuzz_tflite_metadata_reader(data):
    try:
        read_metadata(b"\x10\x00\x00\x00TFL3" + data)
    except TFLiteFormatError:
        pass


@given(st.integers(0, 10**6), st.integers(0, 255), st.integers(1, 4))
@pytest.mark.runtime
def test_fuzz_mutated_real_model_is_rejected_or_read(pos, value, count):
    data = bytearray(_default_bytes())
    for k in range(count):
        data[(pos + 97 * k) % len(data)] = value
    try:
        read_tflite_metadata(bytes(data))
    except MetadataError:
        pass


@given(st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=8) | st.integers(),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                    max_leaves=12))
@pytest.mark.runtime
@pytest.mark.slow
def test_fuzz_metadata_json(obj):
    raw = json.dumps({"labels": ["a", "b"], "preprocessing": obj} if isinstance(obj, dict) else obj)
    try:
        m = ModelMetadata.from_json(raw)
    except MetadataError:
        return
    assert len(m.labels) >= 2


# ------------------------------------------------------------------ long runs
@pytest.mark.runtime
@pytest.mark.slow
def test_long_video_run_has_bounded_memory_and_tracks(fer_root, tmp_path):
    """2,000 frames with faces coming and going: RSS growth under 25 MB, live tracks bounded.

    benchmarks/longrun.py runs the same loop for 10,000 frames and reports the numbers. It runs in a
    process of its own: inside the test session, RSS also moves with whatever earlier tests left
    behind (measured: 27 MB there, 0.15 MB alone, for the same 2,000 frames).
    """
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "longrun.py"
    out = tmp_path / "longrun.json"
    r = subprocess.run([sys.executable, str(script), "--frames", "2000", "--data", str(fer_root), "--json", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["rss_growth_mb"] < 25, res["samples"]
    assert res["max_live_tracks"] <= 12
    assert res["last_track_id"] >= 5  # faces really came and went
