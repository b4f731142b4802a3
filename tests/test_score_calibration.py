"""Scores a user can put a threshold on (issue 45): score calibration from the metadata, the balanced operating point,
"not sure", and the metrics behind them."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fer_edge import EmotionClassifier, EmotionRecognizer, MetadataError, RecognizerOptions
from fer_edge.score_calibration import ScoreCalibration
from fer_edge.classifier import DEFAULT_MODEL, bundled_models
from fer_edge.metadata import ModelMetadata
from command import FER_EDGE

ROOT = Path(__file__).resolve().parents[1]
GROUP = ROOT / "examples" / "images" / "group.jpg"


def _rows(rng, n, c=7, sharp=3.0):
    logits = rng.normal(size=(n, c)) * sharp
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@given(st.integers(0, 10_000), st.floats(0.2, 5.0))
@pytest.mark.runtime
def test_calibration_keeps_every_answer_and_rows_sum_to_one(seed, t):
    p = _rows(np.random.default_rng(seed), 50).astype(np.float32)
    q = ScoreCalibration(t).apply(p)
    assert (q.argmax(1) == p.argmax(1)).all()
    assert np.allclose(q.sum(1), 1, atol=1e-5)
    if abs(t - 1) > 0.01:  # T < 1 sharpens, T > 1 flattens
        assert (t < 1) == (q.max(1).mean() > p.max(1).mean())


@pytest.mark.runtime
def test_metadata_refuses_a_bad_calibration_by_name():
    base = {"labels": ["a", "b", "c"]}
    for cal, field in (({"temperature": 0}, "score_calibration.temperature"),
                       ({"temperature": "hot"}, "score_calibration.temperature"),
                       ({"temperature": 1.0, "balanced_offsets": [0.1, 0.2]}, "score_calibration.balanced_offsets")):
        with pytest.raises(MetadataError, match=field):
            ModelMetadata.from_dict({**base, "score_calibration": cal})
    assert ModelMetadata.from_dict({**base, "score_calibration": {"temperature": 0.7}}).score_calibration == {
        "temperature": 0.7}


def test_a_fitted_temperature_takes_the_calibration_error_down():
    """Under-confident scores (true probabilities flattened by T = 2) get their temperature back and an ECE near 0."""
    from fer_edge.training.score_calibration import fit_temperature
    from fer_edge.training.metrics import expected_calibration_error

    rng = np.random.default_rng(0)
    true = _rows(rng, 6000)
    y = np.array([rng.choice(7, p=row) for row in true])
    flat = ScoreCalibration(2.0).apply(true)
    t = fit_temperature(y, flat)
    assert 0.45 <= t <= 0.55
    before, after = expected_calibration_error(y, flat), expected_calibration_error(y, ScoreCalibration(t).apply(flat))
    assert before > 0.1 and after < 0.02, (before, after)


def test_balanced_offsets_lift_the_class_a_model_under_predicts():
    from fer_edge.training.score_calibration import fit_balanced_offsets
    from fer_edge.training.metrics import accuracy, recall_per_class

    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 4000)
    logits = rng.normal(size=(4000, 4)) + 2.2 * np.eye(4)[y]
    logits[:, 2] -= 1.2  # class 2 is seen, but rarely answered
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    b = fit_balanced_offsets(y, p, 1.0)
    q = ScoreCalibration(1.0, tuple(b)).apply(p, balanced=True)
    before, after = recall_per_class(y, p, 4), recall_per_class(y, q, 4)
    assert after[2] > before[2] + 0.2 and after.min() > before.min()
    assert after.mean() >= before.mean() and accuracy(y, q) >= accuracy(y, p) - 0.02


@pytest.fixture(scope="module")
def calibrated_model(tmp_path_factory):
    """The bundled default with a known calibration written into its metadata."""
    from fer_edge.metadata import read_tflite_metadata
    from fer_edge.training.tflite_metadata import with_metadata

    path = tmp_path_factory.mktemp("cal") / "model.tflite"
    blob = bundled_models()[DEFAULT_MODEL].read_bytes()
    meta = read_tflite_metadata(blob)
    meta.score_calibration = {"temperature": 0.5, "balanced_offsets": [0, 0, 3.0, 0, 0, 0, 0]}  # fear strongly favoured
    path.write_bytes(with_metadata(blob, meta))
    return path


def test_every_consumer_gets_the_calibrated_probabilities(calibrated_model):
    img = cv2.imread(str(GROUP))
    faces = [cv2.resize(cv2.cvtColor(img[y:y + h, x:x + w], cv2.COLOR_BGR2GRAY), (48, 48))
             for x, y, w, h in ((313, 222, 127, 127), (133, 265, 132, 132), (106, 30, 150, 150))]
    with EmotionClassifier(calibrated_model, calibrated=False) as raw_clf:
        raw = raw_clf.predict_proba(faces)
    with EmotionClassifier(calibrated_model) as clf:
        cal = clf.predict_proba(faces)
    assert np.allclose(cal, ScoreCalibration(0.5).apply(raw), atol=1e-5)
    assert (cal.argmax(1) == raw.argmax(1)).all() and cal.max(1).mean() > raw.max(1).mean()
    with EmotionClassifier(calibrated_model, balanced=True) as bal:
        assert [e.label for e in bal.classify(faces)].count("fear") > list(raw.argmax(1)).count(2)
    with EmotionRecognizer(RecognizerOptions(model=str(calibrated_model))) as rec:  # the recognizer: same numbers
        happy = next(f for f in rec.recognize(img) if f.emotion == "happy")
    assert abs(happy.emotion_score - float(cal[0].max())) < 0.02


@pytest.mark.runtime
def test_a_model_without_calibration_runs_as_before_and_balanced_says_why_not():
    from fer_edge.metadata import read_tflite_metadata

    meta = read_tflite_metadata(bundled_models()[DEFAULT_MODEL].read_bytes())
    meta.score_calibration = {}
    with EmotionClassifier(metadata=meta) as clf:
        assert clf.score_calibration.is_identity
    with pytest.raises(ValueError, match="balanced operating point"):
        EmotionClassifier(metadata=meta, balanced=True)


@pytest.mark.runtime
def test_not_sure_is_null_in_the_api_and_the_json():
    img = cv2.imread(str(GROUP))
    with EmotionRecognizer(RecognizerOptions(min_emotion_score=0.999)) as rec:
        faces = rec.recognize(img)
    assert faces and all(f.emotion is None and 0 < f.emotion_score < 0.999 for f in faces)
    assert all(abs(sum(f.probabilities.values()) - 1) < 0.02 for f in faces)  # probabilities still there
    r = subprocess.run([*FER_EDGE, "predict", str(GROUP), "--json", "--min-emotion-score", "0.999"],
                       capture_output=True, text=True, timeout=120)
    line = json.loads(r.stdout)
    assert r.returncode == 0 and [f["emotion"] for f in line["faces"]] == [None] * len(faces)
    table = subprocess.run([*FER_EDGE, "predict", str(GROUP), "--min-emotion-score", "0.999"],
                           capture_output=True, text=True, timeout=120).stdout
    assert "\tunsure " in table and "None" not in table
    with pytest.raises(ValueError, match="min_emotion_score"):
        RecognizerOptions(min_emotion_score=1.5)


def test_not_sure_is_counted_apart_in_summaries():
    from fer_edge.recognizer import FaceResult, FrameResult
    from fer_edge.summary import summarize

    labels = ["happy", "sad"]
    probs = {"happy": 0.5, "sad": 0.5}
    seq = [FrameResult(i, i * 40.0, [FaceResult((0, 0, 9, 9), 0.9, e, 0.5, probs, (), 0)])
           for i, e in enumerate(["happy", None, None, "happy", "sad"])]
    (p,) = summarize(seq, labels)
    assert p.emotion == "happy" and p.unsure == pytest.approx(0.4) and p.changes == 1
    assert p.to_dict()["unsure"] == 0.4 and p.shares == {"happy": 0.4, "sad": 0.2}


def test_the_bundled_tiers_carry_their_calibration():
    for name, path in bundled_models().items():
        with EmotionClassifier(path) as clf:
            assert not clf.score_calibration.is_identity and clf.score_calibration.balanced_offsets is not None, name
            assert clf.metadata.metrics["test_ece"] <= 0.03, name


@pytest.mark.slow
def test_the_threshold_table_in_the_docs_is_what_the_default_model_does(fer_root):
    """docs/integrations.md's table, measured again on all of test/ (within a point: another CPU's int8 kernels
    round a few faces differently)."""
    import re

    from fer_edge.release.score_report import measure
    from fer_edge.training.data import load

    r = measure(bundled_models()[DEFAULT_MODEL], load(fer_root, "test"), "default")
    doc = (ROOT / "docs" / "integrations.md").read_text()
    rows = dict((float(t), (float(a), float(b))) for t, a, b in
                re.findall(r"^\| (0\.\d) \| (\d+)% \| (\d+\.\d)% \|$", doc, re.M))
    assert sorted(rows) == [0.5, 0.6, 0.7, 0.8, 0.9]
    for t in r["thresholds"]:
        answered, right = rows[t["threshold"]]
        assert abs(answered - 100 * t["coverage"]) <= 1 and abs(right - 100 * t["precision"]) <= 1, t
    assert r["calibrated"]["ece"] <= 0.03 and r["calibrated"]["accuracy"] == r["raw"]["accuracy"]


def test_benchmark_shows_calibration_and_a_reliability_diagram(mini_fer, tmp_path):
    model = tmp_path / "fer_edge_default.tflite"
    shutil.copy(bundled_models()[DEFAULT_MODEL], model)
    out = tmp_path / "bench"
    r = subprocess.run([*FER_EDGE, "benchmark", str(model), "--data", str(mini_fer), "--no-pipeline", "--runs", "5",
                        "-o", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "## Score calibration" in r.stdout and "| fer_edge_default.tflite | 0.663 |" in r.stdout
    assert "min score 0.8: answered / right" in r.stdout and "| fer_edge_default.tflite | balanced |" in r.stdout
    png = cv2.imread(str(out / "score_calibration.png"))
    assert png is not None and png.shape[0] > 200
    rows = json.loads((out / "benchmark.json").read_text())["score_calibration"]
    assert rows[0]["faces"] == 7 * 8 and rows[0]["calibrated"]["accuracy"] == rows[0]["raw"]["accuracy"]
