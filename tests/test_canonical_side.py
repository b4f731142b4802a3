"""Canonical side: a face and its mirror image become the same model input, in training and on the device."""
import json

import numpy as np
import pytest

from fer_edge.metadata import MetadataError, ModelMetadata
from fer_edge.preprocessing import Preprocessing, canonical_side, normalize


def _faces(n=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def test_a_face_and_its_mirror_image_become_the_same_pixels():
    f = _faces()
    a, b = canonical_side(f), canonical_side(f[:, :, ::-1])
    assert np.array_equal(a, b)
    turned = np.array([not np.array_equal(x, y) for x, y in zip(a, f)])
    assert 0.2 < turned.mean() < 0.8  # random faces: about half are turned
    assert all(np.array_equal(x, y[:, ::-1]) for x, y in zip(a[turned], f[turned]))  # turned means mirrored, nothing else
    assert np.array_equal(canonical_side(a), a)  # already canonical: left alone


def test_the_brighter_left_half_is_kept_and_a_tie_is_decided_by_the_first_unequal_pair():
    left_bright = np.zeros((1, 48, 48), np.uint8)
    left_bright[:, :, :20] = 200
    assert np.array_equal(canonical_side(left_bright), left_bright)
    assert np.array_equal(canonical_side(left_bright[:, :, ::-1]), left_bright)
    # equal weighted halves, but not symmetric: two pixel pairs whose differences cancel under the weights
    tie = np.full((1, 48, 48), 100, np.uint8)
    tie[0, 23, 10], tie[0, 24, 10] = 90, 110  # rows 23 and 24 weigh the same: left score 0
    assert np.array_equal(canonical_side(tie), canonical_side(tie[:, :, ::-1]))
    sym = np.full((1, 48, 48), 7, np.uint8)
    assert np.array_equal(canonical_side(sym), sym)


def test_normalize_turns_faces_only_when_the_preprocessing_says_so():
    f = _faces(8)
    plain, canon = Preprocessing(), Preprocessing(canonical_side=True)
    assert np.array_equal(normalize(f, plain), f[..., None].astype(np.float32) / 255)
    assert not np.array_equal(normalize(f, plain), normalize(f[:, :, ::-1], plain))
    assert np.array_equal(normalize(f, canon), normalize(f[:, :, ::-1].copy(), canon))


def test_metadata_carries_canonical_side_and_older_models_read_as_without():
    meta = ModelMetadata(labels=["a", "b"], preprocessing=Preprocessing(canonical_side=True))
    back = ModelMetadata.from_json(meta.to_json())
    assert back.preprocessing.canonical_side is True
    d = json.loads(meta.to_json())
    del d["preprocessing"]["canonical_side"]
    assert ModelMetadata.from_dict(d).preprocessing.canonical_side is False
    for bad in ("yes", 1, None):
        d["preprocessing"]["canonical_side"] = bad
        with pytest.raises(MetadataError, match="preprocessing.canonical_side': expected true or false"):
            ModelMetadata.from_dict(d)
    with pytest.raises(ValueError, match="canonical_side must be true or false"):
        Preprocessing(canonical_side=1)


def test_the_classifier_answers_a_face_and_its_mirror_alike_when_its_model_says_so(tmp_path, test_faces):
    """One small net that is not mirror-invariant, as a TFLite file, once plain and once with canonical_side in its
    metadata: only the second answers every mirrored face exactly as the face."""
    import keras

    from fer_edge.classifier import EmotionClassifier
    from fer_edge.converters.tflite import to_float32
    from fer_edge.labels import FER2013_CLASSES
    from fer_edge.training.tflite_metadata import with_metadata

    keras.utils.set_random_seed(0)
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)  # keeps where things are: not mirror-invariant on its own
    net = keras.Model(inp, keras.layers.Dense(7, activation="softmax")(keras.layers.Dense(16)(x)))
    raw = to_float32(net)
    faces = list(test_faces[0][:60])
    mirrored = [f[:, ::-1].copy() for f in faces]
    answers = {}
    for canon in (False, True):
        meta = ModelMetadata(labels=list(FER2013_CLASSES), preprocessing=Preprocessing(canonical_side=canon))
        path = tmp_path / f"m{int(canon)}.tflite"
        path.write_bytes(with_metadata(raw, meta))
        clf = EmotionClassifier(str(path))
        answers[canon] = clf.predict_proba(faces), clf.predict_proba(mirrored)
    plain, canon = answers[False], answers[True]
    assert np.abs(plain[0] - plain[1]).max() > 1e-3
    assert np.array_equal(canon[0], canon[1])


def test_a_canonical_side_run_trains_on_turned_faces_and_says_so(mini_fer, tmp_path):
    from fer_edge.training.evaluate import load_predictor
    from fer_edge.training.train import train

    s = train("edge-s", mini_fer, tmp_path / "r", epochs=1, limit=40, verbose=0, arch={"width": 0.5}, batch_size=8,
              canonical_side=True)
    assert s["canonical_side"] is True
    pred = load_predictor(tmp_path / "r" / "model.keras")
    assert pred.metadata.preprocessing.canonical_side is True
    f = _faces(16, seed=3)
    assert np.array_equal(pred.predict(f), pred.predict(f[:, :, ::-1].copy()))
