"""Views of a face (fer_edge.training.views): one-pixel shifts as a moved crop sees them, the averaged teacher, and
a classifier averaged with its mirror image (each view blurred first) inside one graph that converts to INT8 and
Edge TPU ops."""
import cv2
import numpy as np
import pytest

pytest.importorskip("tensorflow")

from fer_edge.classifier import EmotionClassifier  # noqa: E402
from fer_edge.training.architectures import Blur, mirror_averaged  # noqa: E402
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


@pytest.mark.parametrize("sigma", [0.5, 1.2])
def test_blur_is_opencvs_gaussian_blur_with_reflected_edges(sigma, tmp_path):
    import keras

    x = np.random.default_rng(2).integers(0, 256, (3, 20, 17, 2)).astype(np.float32)
    y = np.asarray(Blur(sigma)(x))
    k = 2 * int(np.ceil(3 * sigma)) + 1
    for a, b in zip(x, y):
        for c in range(2):
            ref = cv2.GaussianBlur(a[..., c], (k, k), sigma, borderType=cv2.BORDER_REFLECT_101)
            assert np.abs(b[..., c] - ref).max() < 1e-3
    inp = keras.Input((20, 17, 2))
    keras.Model(inp, Blur(sigma, name="b")(inp)).save(tmp_path / "b.keras")
    back = keras.models.load_model(tmp_path / "b.keras", safe_mode=True)
    assert np.abs(np.asarray(back(x)) - y).max() < 1e-5
    with pytest.raises(ValueError, match="blur sigma"):
        Blur(0.0)


BLUR = 0.5


@pytest.fixture(scope="module")
def mirrored(parent_model, fer_root, tmp_path_factory):
    from fer_edge.converters.export import convert
    from fer_edge.metadata import read_keras_metadata, write_keras_metadata
    from fer_edge.training.evaluate import load_keras

    out = tmp_path_factory.mktemp("mirror")
    base = load_keras(parent_model)
    model = mirror_averaged(base, blur=BLUR)
    path = out / "mirror.keras"
    model.save(path)
    write_keras_metadata(path, read_keras_metadata(parent_model))
    summary = convert(path, ["int8", "edgetpu"], out / "converted", calibration=fer_root, n_calibration=100,
                      log=lambda *_: None)
    return base, model, out / "converted", summary


def test_mirror_averaged_model_is_the_mean_of_both_blurred_views(mirrored, test_faces):
    base, model, _, _ = mirrored
    x = test_faces[0][:64, ..., None].astype(np.float32) / 255
    b = np.stack([cv2.GaussianBlur(f, (5, 5), BLUR, borderType=cv2.BORDER_REFLECT_101) for f in x[..., 0]])[..., None]
    want = (np.asarray(base(b)) + np.asarray(base(b[:, :, ::-1]))) / 2
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


def _tiny_net(seed: int, name: str):
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(3, 3, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(4, activation="softmax")(x), name=name)


def test_an_ensemble_in_one_graph_is_the_mean_of_every_member_on_every_blurred_view(tmp_path):
    """The accurate tier's form: members averaged over the face and its mirror image, blurred first, in one model
    that saves and loads; one member and no mirror is the blurred net alone."""
    import keras

    from fer_edge.training.architectures import averaged
    from fer_edge.training.model_stats import summary

    a, b = _tiny_net(0, "net"), _tiny_net(1, "net")  # the same name, as two runs of one recipe have
    x = np.random.default_rng(4).random((5, 12, 12, 1)).astype(np.float32)
    blur = np.stack([cv2.GaussianBlur(f, (5, 5), BLUR, borderType=cv2.BORDER_REFLECT_101) for f in x[..., 0]])[..., None]
    want = np.mean([np.asarray(m(v)) for m in (a, b) for v in (blur, blur[:, :, ::-1])], axis=0)
    ens = averaged([a, b], mirror=True, blur=BLUR)
    assert np.abs(np.asarray(ens(x)) - want).max() < 1e-5
    assert ens.count_params() == a.count_params() + b.count_params()
    assert summary(ens)["macs"] == 4 * summary(a)["macs"] + 12 * 12 * 25  # two nets, two views, a 5x5 blur
    ens.save(tmp_path / "ens.keras")
    back = keras.models.load_model(tmp_path / "ens.keras", safe_mode=True)
    assert np.abs(np.asarray(back(x)) - want).max() < 1e-5
    assert np.abs(np.asarray(averaged([a], blur=BLUR)(x)) - np.asarray(a(blur))).max() < 1e-5
    with pytest.raises(ValueError, match="different inputs"):
        other = keras.Input((10, 10, 1))
        averaged([a, keras.Model(other, keras.layers.Flatten()(other))])


def test_blurpool_is_a_stride_one_max_then_a_binomial_blur_at_stride_two():
    from fer_edge.training.architectures import BlurPool

    x = np.random.default_rng(5).random((2, 12, 10, 3)).astype(np.float32)
    y = np.asarray(BlurPool()(x))
    assert y.shape == (2, 6, 5, 3)
    pad = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))  # "same" max at stride 1: the window reaches past the edge
    m = np.max([pad[:, i:i + 12, j:j + 10] for i in (0, 1) for j in (0, 1)], axis=0)
    k = np.outer([1, 2, 1], [1, 2, 1]) / 16
    mp = np.pad(m, ((0, 0), (0, 1), (0, 1), (0, 0)))  # "same" at stride 2 on an even side pads after only
    want = np.zeros_like(y)
    for r in range(6):
        for c in range(5):
            want[:, r, c] = np.einsum("ij,bijk->bk", k, mp[:, 2 * r:2 * r + 3, 2 * c:2 * c + 3])
    assert np.abs(y - want).max() < 1e-5


def test_an_antialiased_net_keeps_the_weights_and_moves_less_with_the_face():
    """edge_net(antialias=True) has exactly the plain net's weights (a trained run starts it, ``init``), and its
    features move less when the face moves one pixel: the point of pooling without aliasing."""
    import keras

    from fer_edge.training.architectures import edge_net

    plain = edge_net(7, width=0.5, name="n")
    smooth = edge_net(7, width=0.5, antialias=True, name="n")
    assert [w.shape for w in plain.get_weights()] == [w.shape for w in smooth.get_weights()]
    smooth.set_weights(plain.get_weights())
    faces = np.random.default_rng(6).random((16, 48, 48, 1)).astype(np.float32)
    faces = np.stack([cv2.GaussianBlur(f, (7, 7), 1.5) for f in faces[..., 0]])[..., None]  # face-like smoothness
    moved = np.roll(faces, 1, axis=2)
    change = {}
    for name, net in (("plain", plain), ("smooth", smooth)):
        gap = keras.Model(net.input, net.get_layer("gap").output)
        a, b = np.asarray(gap(faces)), np.asarray(gap(moved))
        change[name] = float(np.abs(a - b).mean() / np.abs(a).mean())
    assert change["smooth"] < 0.8 * change["plain"], change


def test_an_antialiased_net_trains_and_converts_to_int8_and_edge_tpu_ops(mini_fer, fer_root, tmp_path):
    from fer_edge.converters.export import convert
    from fer_edge.training.train import train

    s = train("edge-s", mini_fer, tmp_path / "a", epochs=1, limit=28, verbose=0, batch_size=8,
              arch={"antialias": True, "width": 0.5})
    assert s["complete"]
    out = convert(tmp_path / "a" / "model.keras", ["int8", "edgetpu"], tmp_path / "conv", calibration=fer_root,
                  n_calibration=50, log=lambda *_: None)
    tpu = next(o for o in out["outputs"] if o["format"] == "edgetpu")
    assert tpu["edgetpu_check"]["ok"], tpu["edgetpu_check"]
    from fer_edge.training.evaluate import load_predictor

    faces = np.random.default_rng(7).integers(0, 256, (32, 48, 48), dtype=np.uint8)
    float_probs = load_predictor(tmp_path / "a" / "model.keras").predict(faces)
    int8_probs = EmotionClassifier(tmp_path / "conv" / "model_int8.tflite").predict_proba(faces)
    assert np.abs(float_probs - int8_probs).max() < 0.05  # the pooling quantises like the rest of the net
