"""Converters and the parity suite on the real float parent of the bundled model and real faces."""
import json
import zipfile

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from fer_edge.classifier import EmotionClassifier  # noqa: E402
from fer_edge.converters import tflite as T  # noqa: E402
from fer_edge.converters.export import convert  # noqa: E402
from fer_edge.converters.parity import Thresholds, compare  # noqa: E402
from fer_edge.metadata import read_keras_metadata, read_tflite_metadata  # noqa: E402
from fer_edge.preprocessing import normalize  # noqa: E402


@pytest.fixture(scope="module")
def converted(parent_model, fer_root, tmp_path_factory):
    """float32, float16, dynamic, int8 and edgetpu of the bundled model's parent, parity on all 3,589 val faces."""
    out = tmp_path_factory.mktemp("converted")
    summary = convert(parent_model, ["float32", "float16", "dynamic", "int8", "edgetpu"], out, calibration=fer_root,
                      n_calibration=200, log=lambda *_: None)
    return out, summary


def test_every_format_passes_parity(converted):
    out, summary = converted
    rows = {r["format"]: r for r in summary["parity"]["rows"]}
    assert set(rows) == {"float32", "float16", "dynamic", "int8", "edgetpu"}
    assert summary["parity"]["passed"], [r["failures"] for r in rows.values()]
    assert rows["float32"]["agreement"] == 1.0 and rows["float32"]["max_abs_diff"] < 1e-4
    assert rows["float16"]["agreement"] >= 0.999
    assert rows["int8"]["agreement"] >= 0.97 and rows["int8"]["accuracy_drop_pp"] <= 1.0
    assert rows["int8"]["float_accuracy"] > 0.55  # a real model: a broken label order would sit near 1/7
    for name in ("parity.json", "parity.md", "parity.png", "convert.json"):
        assert (out / name).stat().st_size > 100


def test_outputs_carry_metadata_and_sizes_shrink(converted, parent_model):
    out, summary = converted
    sizes = {o["format"]: o["bytes"] for o in summary["outputs"]}
    assert sizes["int8"] < sizes["float16"] < sizes["float32"]
    assert sizes["int8"] < 0.3 * sizes["float32"]
    meta = read_tflite_metadata((out / f"{parent_model.stem}_int8.tflite").read_bytes())
    assert meta.format == "int8" and meta.source["sha256"] == T.sha256_file(parent_model)
    assert len(meta.quantization["calibration_sha256"]) == 64 and meta.quantization["calibration_images"] >= 190
    scale, zp = meta.quantization["input"]
    assert abs(scale * 255 - 1) < 0.02 and zp == -128  # pixel/255 input: int8 = pixel - 128


def test_edgetpu_output_uses_only_edge_tpu_ops(converted):
    out, summary = converted
    info = next(o for o in summary["outputs"] if o["format"] == "edgetpu")
    assert info["edgetpu_check"]["ok"] and info["edgetpu_check"]["unsupported_ops"] == []
    assert set(info["ops"]) <= T.EDGETPU_OPS
    assert "edgetpu_compiler" in info and ("not found" in info["edgetpu_compiler"].get("reason", "")
                                            or info["edgetpu_compiler"]["compiled"])


def test_int8_model_runs_in_the_runtime(converted, parent_model, test_faces):
    out, _ = converted
    clf = EmotionClassifier(out / f"{parent_model.stem}_int8.tflite")
    x, y = test_faces
    acc = float((clf.predict_proba(x).argmax(1) == y).mean())
    assert acc > 0.55


def test_broken_quantization_fails_parity(converted, parent_model, fer_root):
    """Parity catches a wrong input zero point and a wrong label order."""
    from fer_edge.training.data import load, stratified_indices
    from fer_edge.training.evaluate import load_predictor

    out, _ = converted
    v = load(fer_root, "val")
    v = v.subset(stratified_indices(v.y, 300))
    parent = load_predictor(parent_model)
    p_float = parent.predict(v.x)
    conv = load_predictor(out / f"{parent_model.stem}_int8.tflite")
    good = compare(v.y, p_float, conv.predict(v.x), parent.metadata.labels, "int8")
    assert good["passed"]
    clf = conv.model
    clf._in = {**clf._in, "quantization": (clf._in["quantization"][0], 0)}  # zero point off by 128
    shifted = compare(v.y, p_float, conv.predict(v.x), parent.metadata.labels, "int8")
    assert not shifted["passed"]
    swapped = compare(v.y, p_float, p_float[:, [1, 0, 2, 3, 4, 5, 6]][:, :], parent.metadata.labels, "int8")
    assert swapped["passed"] is (swapped["agreement"] >= 0.97)
    rolled = compare(v.y, p_float, np.roll(p_float, 1, axis=1), parent.metadata.labels, "int8")
    assert not rolled["passed"] and rolled["agreement"] < 0.2


def test_float_formats_are_judged_without_the_parents_ties_integer_formats_on_every_face():
    """A float16 top-1 flip on a face the parent ties (top-2 margin 1e-4) is rounding, not a conversion fault;
    a flip on a decided face still fails, and INT8 counts every face."""
    from fer_edge.converters.parity import compare

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(7) * 0.3, 2000).astype(np.float32)
    p[:5] = [0.4, 0.3999, 0.05, 0.05, 0.05, 0.05, 0.0501]  # five faces the parent ties on
    y = p.argmax(1)
    conv = p.copy()
    conv[:5, [0, 1]] = conv[:5, [1, 0]]  # float16 rounding flips all five
    labels = [str(i) for i in range(7)]
    r = compare(y, p, conv, labels, "float16")
    assert r["passed"] and r["agreement"] == 1 - 5 / 2000 and r["parent_ties"] >= 5
    assert r["agreement_without_ties"] == 1.0
    decided = np.flatnonzero(np.sort(p, 1)[:, -1] - np.sort(p, 1)[:, -2] > 0.2)[:3]
    conv[decided] = np.roll(conv[decided], 1, axis=1)
    r = compare(y, p, conv, labels, "float16")
    assert not r["passed"] and "faces the parent does not tie" in r["failures"][0]
    r = compare(y, p, conv, labels, "int8")
    assert r["parent_ties"] == 0 and r["agreement_without_ties"] == r["agreement"] == 1 - 8 / 2000


def test_rewriting_metadata_replaces_the_old_document_and_leaves_the_model_alone(test_faces):
    """record_metrics rewrote the metadata by appending a buffer and left the old document in the file (the
    bundled default carried two stale copies, 3 KB); now each rewrite costs only its own document."""
    from fer_edge.classifier import DEFAULT_MODEL, EmotionClassifier, bundled_models
    from fer_edge.training.tflite_metadata import with_metadata
    from fer_edge.metadata import read_tflite_metadata

    base = bundled_models()[DEFAULT_MODEL].read_bytes()
    meta = read_tflite_metadata(base)
    once = with_metadata(base, meta)
    meta.metrics["test_accuracy"] = 0.1234
    twice = with_metadata(with_metadata(once, meta), meta)
    old_doc = read_tflite_metadata(once).to_json()
    assert old_doc in once and old_doc not in twice and twice.count(meta.to_json()) == 1
    assert len(twice) - len(once) < 64  # two rewrites: an empty buffer slot each, never a 1.8 KB document
    assert read_tflite_metadata(twice).metrics["test_accuracy"] == 0.1234
    x = test_faces[0][:64]
    with EmotionClassifier(base) as a, EmotionClassifier(twice) as b:
        assert np.array_equal(a.predict_proba(x), b.predict_proba(x))


@pytest.mark.runtime
def test_thresholds_by_format():
    th = Thresholds()
    assert th.for_format("float16") == (None, 0.999)
    assert th.for_format("int8") == (1.0, 0.97) == th.for_format("qat") == th.for_format("pruned")


def test_bridge_copies_weights_exactly():
    from fer_edge.converters.tfmot_bridge import check_bridge, to_tf_keras
    from fer_edge.training.architectures import edge_net

    m = edge_net(7, width=0.5, separable_from=2)
    x = np.random.default_rng(0).random((4, 48, 48, 1), np.float32)
    m(x)  # build, then move BN statistics away from their defaults so a missed copy would show
    for layer in m.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.moving_mean.assign(np.full(layer.moving_mean.shape, 0.1, np.float32))
    tfm = to_tf_keras(m)
    assert type(tfm).__module__.startswith("tf_keras")
    assert check_bridge(m, tfm, x) < 1e-5


def test_bridge_folds_batch_norm_into_convs_exactly():
    """Folded copies (what pruning ranks) compute the same function with no batch-norm layer left."""
    from fer_edge.converters.tfmot_bridge import check_bridge, to_tf_keras
    from fer_edge.training.architectures import edge_net

    rng = np.random.default_rng(3)
    m = edge_net(7, width=0.5, separable_from=2)  # plain convs and depthwise + pointwise stages
    x = rng.random((4, 48, 48, 1), np.float32)
    m(x)
    for layer in m.layers:
        if type(layer).__name__ == "BatchNormalization":
            n = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0, 0.2, n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.3, 3.0, n).astype(np.float32))
            layer.gamma.assign(rng.uniform(0.5, 2.0, n).astype(np.float32))
            layer.beta.assign(rng.normal(0, 0.1, n).astype(np.float32))
    tfm = to_tf_keras(m, fold_batch_norm=True)
    kinds = [type(layer).__name__ for layer in tfm.layers]
    assert "BatchNormalization" not in kinds and kinds.count("DepthwiseConv2D") >= 1
    assert check_bridge(m, tfm, x, atol=1e-5) < 1e-5
    unfolded = to_tf_keras(m)
    assert [type(layer).__name__ for layer in unfolded.layers].count("BatchNormalization") == kinds.count("Conv2D") + kinds.count("DepthwiseConv2D")


def test_prune_plan_spares_small_and_output_layers_and_hits_the_target(parent_model):
    from fer_edge.converters.tfmot_bridge import BridgeError, prune_plan, to_tf_keras
    from fer_edge.training.evaluate import load_keras

    tfm = to_tf_keras(load_keras(parent_model), fold_batch_norm=True)
    plan = prune_plan(tfm, 0.3)
    sizes = {layer.name: int(np.prod(layer.kernel.shape)) for layer in tfm.layers if layer.name in plan}
    assert plan["s0c0"] == plan["s0c1"] == plan["logits"] == 0.0  # < 1% of the weights, and the classifier
    assert plan["s3c1"] > 0.3
    zeroed = sum(round(plan[n] * k) for n, k in sizes.items())
    assert abs(zeroed / sum(sizes.values()) - 0.3) < 0.001
    with pytest.raises(BridgeError, match="would need"):
        prune_plan(tfm, 0.97)


def test_distillation_copy_trains_on_the_inference_function(parent_model, test_faces):
    """With batch norm frozen and dropout silenced, training mode computes what the converted model will."""
    from fer_edge.converters.tfmot_bridge import prepare_student, to_tf_keras
    from fer_edge.training.evaluate import load_keras

    model = load_keras(parent_model)
    x = normalize(test_faces[0][:16], read_keras_metadata(parent_model).preprocessing)
    tfm = to_tf_keras(model, fold_batch_norm=True)
    assert np.abs(np.asarray(tfm(x, training=True)) - np.asarray(model(x, training=False))).max() > 1e-3  # dropout on
    prepare_student(tfm, seed=0)
    assert np.abs(np.asarray(tfm(x, training=True)) - np.asarray(model(x, training=False))).max() < 1e-5


def test_bridge_names_unsupported_layers():
    import keras

    from fer_edge.converters.tfmot_bridge import BridgeError, to_tf_keras

    inp = keras.Input((8, 8, 1))
    out = keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.GaussianNoise(0.1, name="noisy")(inp)))
    with pytest.raises(BridgeError, match="'noisy' \\(GaussianNoise\\)"):
        to_tf_keras(keras.Model(inp, out))


def test_conversion_errors_are_clear(parent_model, tmp_path):
    with pytest.raises(T.ConversionError, match="unknown format.*did you mean 'int8'"):
        convert(parent_model, ["int9"], tmp_path)
    with pytest.raises(T.ConversionError, match="calibration"):
        convert(parent_model, ["int8"], tmp_path, calibration=None)
    with pytest.raises(T.ConversionError, match="calibration source .* does not exist"):
        convert(parent_model, ["int8"], tmp_path, calibration=tmp_path / "nothing")
    with pytest.raises(T.ConversionError, match="non-empty"):
        T.to_int8(None, np.zeros((0, 48, 48, 1), np.float32))


def test_edgetpu_refuses_non_tpu_layers_by_name(tmp_path, fer_root):
    import keras

    from fer_edge.metadata import ModelMetadata, write_keras_metadata

    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(4, 3, activation="elu", name="elu_conv")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(7, activation="softmax")(x)
    path = tmp_path / "elu.keras"
    keras.Model(inp, out).save(path)
    write_keras_metadata(path, ModelMetadata(labels=["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]))
    with pytest.raises(T.ConversionError, match="'elu_conv' uses activation 'elu'"):
        convert(path, ["edgetpu"], tmp_path, calibration=fer_root, n_calibration=20)


def test_lambda_layers_are_never_executed(tmp_path):
    """A .keras file with a Lambda layer is refused by safe_mode: its code never runs."""
    import keras

    from fer_edge.training.evaluate import load_keras

    marker = tmp_path / "pwned"
    inp = keras.Input((4,))
    # the layer's code writes the marker whenever it runs: building the model runs it once, loading must not
    code = eval(f"lambda t: (open({str(marker)!r}, 'a').close(), t * 2)[1]")  # the path inside the bytecode
    out = keras.layers.Lambda(code)(inp)
    assert marker.exists()
    marker.unlink()
    path = tmp_path / "lambda.keras"
    keras.Model(inp, out).save(path)
    with pytest.raises(ValueError, match="lambda.keras: cannot load Keras model"):
        load_keras(path)
    assert not marker.exists()
    unsafe = keras.models.load_model(path, safe_mode=False)  # the check can fail: unsafe loading runs the code
    unsafe(np.zeros((1, 4), np.float32))
    assert marker.exists()
    with zipfile.ZipFile(path) as z:
        assert "Lambda" in json.loads(z.read("config.json")).__repr__()


def test_a_model_trained_in_bfloat16_mixed_precision_loads_in_float32_and_converts(tmp_path):
    """The GPU jobs train with mixed_bfloat16 and the policy is saved in the file; TFLite cannot convert its
    bfloat16 convolutions, so models load computing in float32 with the same weights (found on g7's model)."""
    import keras

    from ai_edge_litert.interpreter import Interpreter

    from fer_edge.training.evaluate import as_float32, load_keras

    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        inp = keras.Input((12, 12, 1))
        x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
        x = keras.layers.GlobalAveragePooling2D()(x)
        out = keras.layers.Dense(3, activation="softmax", dtype="float32", name="head")(x)
        mixed = keras.Model(inp, out)
    finally:
        keras.config.set_dtype_policy("float32")
    mixed.save(tmp_path / "m.keras")
    assert {layer.dtype_policy.name for layer in mixed.layers} == {"mixed_bfloat16", "float32"}
    plain = load_keras(tmp_path / "m.keras")
    assert {layer.dtype_policy.name for layer in plain.layers} == {"float32"}
    assert all(np.array_equal(a, b) for a, b in zip(plain.get_weights(), mixed.get_weights()))
    x = np.random.default_rng(0).normal(size=(8, 12, 12, 1)).astype(np.float32)
    want = keras.ops.convert_to_numpy(plain(x))
    assert np.abs(keras.ops.convert_to_numpy(mixed(x)) - want).max() > 1e-6  # bfloat16 did compute differently
    assert as_float32(plain) is plain  # nothing to change: the same object
    interp = Interpreter(model_content=T.to_float32(plain))
    interp.resize_tensor_input(interp.get_input_details()[0]["index"], x.shape)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    assert np.abs(interp.get_tensor(interp.get_output_details()[0]["index"]) - want).max() < 1e-5
