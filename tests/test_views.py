"""Views of a face (fer_edge.training.views): one-pixel shifts as a moved crop sees them, the averaged teacher, and
a classifier averaged with its mirror image inside one graph that converts to INT8 and Edge TPU ops."""
import cv2
import numpy as np
import pytest

pytest.importorskip("tensorflow")

from fer_edge.classifier import EmotionClassifier  # noqa: E402
from fer_edge.training.architectures import mirror_averaged  # noqa: E402
from fer_edge.training.views import ONE_PIXEL, mirror, shift, view_average  # noqa: E402


@pytest.mark.parametrize("dx,dy", [(1, 0), (-1, 0), (0, 1), (0, -1), (2, 0), (0, -2), (1, -1)])
def test_shift_is_a_translation_with_replicated_edges(dx, dy):
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (3, 48, 48), dtype=np.uint8)
    for f, g in zip(faces, shift(faces, dx, dy)):
        ref = cv2.warpAffine(f, np.float32([[1, 0, dx], [0, 1, dy]]), (48, 48), borderMode=cv2.BORDER_REPLICATE)
        assert np.array_equal(g, ref)
    assert shift(faces[..., None], dx, dy).shape == (3, 48, 48, 1)


def test_view_average_is_the_mean_over_every_view():
    faces = np.random.default_rng(1).integers(0, 256, (4, 8, 8), dtype=np.uint8)
    seen = []

    def predict(x):  # a "model" that remembers each view and answers with its mean pixel
        seen.append(x.copy())
        return x.reshape(len(x), -1).mean(1, keepdims=True).astype(np.float32)

    out = view_average(predict, faces, ONE_PIXEL, with_mirror=True)
    assert len(seen) == 2 * len(ONE_PIXEL)
    assert any(np.array_equal(v, mirror(shift(faces, 0, 1))) for v in seen)
    assert np.allclose(out, np.mean([predict(v) for v in list(seen)], axis=0), atol=1e-5)


@pytest.fixture(scope="module")
def mirrored(parent_model, fer_root, tmp_path_factory):
    from fer_edge.converters.export import convert
    from fer_edge.metadata import read_keras_metadata, write_keras_metadata
    from fer_edge.training.evaluate import load_keras

    out = tmp_path_factory.mktemp("mirror")
    base = load_keras(parent_model)
    model = mirror_averaged(base)
    path = out / "mirror.keras"
    model.save(path)
    write_keras_metadata(path, read_keras_metadata(parent_model))
    summary = convert(path, ["int8", "edgetpu"], out / "converted", calibration=fer_root, n_calibration=100,
                      log=lambda *_: None)
    return base, model, out / "converted", summary


def test_mirror_averaged_model_is_the_mean_of_both_views(mirrored, test_faces):
    base, model, _, _ = mirrored
    x = test_faces[0][:64, ..., None].astype(np.float32) / 255
    want = (np.asarray(base(x)) + np.asarray(base(x[:, :, ::-1]))) / 2
    assert np.abs(np.asarray(model(x)) - want).max() < 1e-5
    assert model.count_params() == base.count_params()  # one set of weights for both views


def test_mirror_averaged_int8_answers_a_mirrored_face_as_the_face(mirrored, test_faces, parent_model):
    _, _, conv, summary = mirrored
    assert summary["parity"]["passed"]
    clf = EmotionClassifier(conv / "mirror_int8.tflite")
    x = test_faces[0][:300]
    a, b = clf.predict_proba(x), clf.predict_proba(x[:, :, ::-1].copy())
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.99  # int8 rounding aside, the same answer
    assert np.abs(a - b).max() < 0.05
    tpu = next(o for o in summary["outputs"] if o["format"] == "edgetpu")
    assert tpu["edgetpu_check"]["ok"], tpu["edgetpu_check"]


def test_a_net_built_mirror_averaged_trains_as_one_model_and_ignores_mirroring(mini_fer, tmp_path):
    from fer_edge.training.evaluate import load_predictor
    from fer_edge.training.train import train

    s = train("edge-s", mini_fer, tmp_path / "m", epochs=1, limit=28, verbose=0, batch_size=8,
              arch={"mirror": True, "width": 0.5}, ema=0.9)
    plain = train("edge-s", mini_fer, tmp_path / "p", epochs=1, limit=28, verbose=0, batch_size=8,
                  arch={"width": 0.5}, ema=0.9)
    assert s["complete"] and s["params"] == plain["params"] and s["macs"] == 2 * plain["macs"]
    faces = np.random.default_rng(3).integers(0, 256, (16, 48, 48), dtype=np.uint8)
    for name in ("model.keras", "model_ema.keras"):
        pred = load_predictor(tmp_path / "m" / name)
        assert np.abs(pred.predict(faces) - pred.predict(faces[:, :, ::-1].copy())).max() < 1e-6
