"""Bridge Keras 3 models to ``tf_keras`` (Keras 2) so TensorFlow Model Optimization can prune and QAT them.

tensorflow-model-optimization 0.8.1 only wraps ``tf_keras`` layers. This module
rebuilds a fer-edge Keras 3 functional model layer by layer in ``tf_keras``,
copies every weight exactly, and hands back a model TFMOT accepts.

Traps (see docs/converters.md):
- TFMOT sets ``TF_USE_LEGACY_KERAS=1`` when it is imported; after that,
  ``tf.keras`` means ``tf_keras``. Import Keras 3 as ``import keras``, never through
  ``tf.keras``, and import tensorflow_model_optimization only inside these functions.
- Keras 3 and tf_keras configs differ (dtype policies, ``module`` keys), so the
  rebuild maps supported layer classes explicitly and names any other layer.
"""
from __future__ import annotations

import numpy as np

# Keras 3 layer class -> config keys carried over to the tf_keras layer of the same name.
_COMMON = ("name", "trainable")
_LAYERS = {
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "dilation_rate", "groups", "activation", "use_bias"),
    "DepthwiseConv2D": ("kernel_size", "strides", "padding", "depth_multiplier", "dilation_rate", "activation",
                        "use_bias"),
    "SeparableConv2D": ("filters", "kernel_size", "strides", "padding", "depth_multiplier", "dilation_rate",
                        "activation", "use_bias"),
    "Dense": ("units", "activation", "use_bias"),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "MaxPooling2D": ("pool_size", "strides", "padding"),
    "AveragePooling2D": ("pool_size", "strides", "padding"),
    "GlobalAveragePooling2D": ("keepdims",),
    "Dropout": ("rate",),
    "Softmax": ("axis",),
    "Activation": ("activation",),
    "Flatten": (),
    "Add": (),
    "Concatenate": ("axis",),
    "Average": (),
    "Rescaling": ("scale", "offset"),
}


class BridgeError(ValueError):
    """A layer of the model cannot be rebuilt in tf_keras; the message names it."""


def _tf_keras():
    import tf_keras
    return tf_keras


def _layer_config(layer) -> dict:
    cls = type(layer).__name__
    if cls not in _LAYERS:
        raise BridgeError(f"layer '{layer.name}' ({cls}) cannot be rebuilt in tf_keras for pruning/QAT; "
                          f"supported: {', '.join(sorted(_LAYERS))}")
    cfg = layer.get_config()
    out = {k: cfg[k] for k in _COMMON + _LAYERS[cls] if k in cfg}
    if cls == "BatchNormalization" and isinstance(out.get("axis"), (list, tuple)):
        out["axis"] = out["axis"][0] if len(out["axis"]) == 1 else list(out["axis"])
    if "activation" in out and not isinstance(out["activation"], str):
        raise BridgeError(f"layer '{layer.name}' has a custom activation that tf_keras cannot rebuild")
    return out


def _foldable(model) -> dict:
    """BatchNormalization layers whose input is a linear Conv2D/DepthwiseConv2D/Dense used by nothing else.

    Maps id(producer) -> the batch norm folded into it. Folding them gives the weights
    the TFLite file will hold anyway; magnitude pruning must rank those, because a
    channel with a large batch-norm scale turns small raw weights into large effective ones.
    """
    producer, uses = {}, {}
    for layer in model.layers:
        for node in layer._inbound_nodes[:1]:
            for t in node.output_tensors:
                producer[id(t)] = layer
            for t in node.input_tensors:
                uses[id(t)] = uses.get(id(t), 0) + 1
    folds = {}
    for layer in model.layers:
        if type(layer).__name__ != "BatchNormalization":
            continue
        (t,) = layer._inbound_nodes[0].input_tensors
        src = producer.get(id(t))
        if (src is not None and type(src).__name__ in ("Conv2D", "DepthwiseConv2D", "Dense") and uses[id(t)] == 1
                and src.get_config().get("activation") in ("linear", None)):
            folds[id(src)] = layer
    return folds


def _folded_weights(src, bn) -> list[np.ndarray]:
    """Kernel and bias of ``src`` with the inference-mode batch norm ``bn`` multiplied in."""
    kernel = np.asarray(src.kernel, np.float64)
    bias = np.asarray(src.bias, np.float64) if src.use_bias else 0.0
    mean, var = np.asarray(bn.moving_mean, np.float64), np.asarray(bn.moving_variance, np.float64)
    gamma = np.asarray(bn.gamma, np.float64) if bn.scale else 1.0
    beta = np.asarray(bn.beta, np.float64) if bn.center else 0.0
    scale = gamma / np.sqrt(var + bn.epsilon)
    if type(src).__name__ == "DepthwiseConv2D":  # output channel = input channel * multiplier + m
        kernel = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
    else:
        kernel = kernel * scale
    return [kernel.astype(np.float32), ((bias - mean) * scale + beta).astype(np.float32)]


def to_tf_keras(model, fold_batch_norm: bool = False):
    """A ``tf_keras`` copy of a Keras 3 functional/sequential model with identical weights.

    ``fold_batch_norm`` multiplies each batch norm that follows a linear conv/dense layer
    into that layer (same outputs, fewer layers): what pruning should see.
    """
    tfk = _tf_keras()
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise BridgeError("only single-input, single-output models can be bridged")
    folded_into = _foldable(model) if fold_batch_norm else {}
    folded_bns = {id(bn) for bn in folded_into.values()}
    shape = tuple(model.inputs[0].shape[1:])
    inp = tfk.Input(shape, name=model.inputs[0].name.split(":")[0] or "input")
    built = {id(model.inputs[0]): inp}
    pairs = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        node = layer._inbound_nodes[0]
        ins = [built[id(t)] for t in node.input_tensors]
        if id(layer) in folded_bns:  # the batch norm now lives inside its producer
            built[id(node.output_tensors[0])] = ins[0]
            continue
        cfg = _layer_config(layer)
        if id(layer) in folded_into:
            cfg["use_bias"] = True
        tf_layer = getattr(tfk.layers, type(layer).__name__).from_config(cfg)
        out = tf_layer(ins if len(ins) > 1 else ins[0])
        for t in node.output_tensors:
            built[id(t)] = out
        pairs.append((layer, tf_layer))
    tf_model = tfk.Model(inp, built[id(model.outputs[0])], name=model.name)
    for src, dst in pairs:
        w = _folded_weights(src, folded_into[id(src)]) if id(src) in folded_into else src.get_weights()
        if w:
            dst.set_weights(w)
    return tf_model


def check_bridge(model, tf_model, x: np.ndarray, atol: float = 1e-5) -> float:
    """Max absolute difference of the two models' outputs on ``x``; raises when above ``atol``."""
    a = np.asarray(model(x, training=False))
    b = np.asarray(tf_model(x, training=False))
    diff = float(np.abs(a - b).max())
    if diff > atol:
        raise BridgeError(f"tf_keras rebuild differs from the Keras 3 model by {diff:.2e} (> {atol})")
    return diff


def freeze_batch_norm(tf_model) -> None:
    """Keep batch-norm statistics fixed while fine-tuning (tf_keras runs frozen BN in inference mode).

    Small fine-tuning sets would otherwise drag the moving statistics away from the
    parent's, which changes decisions the parity suite then counts as disagreements.
    """
    for layer in tf_model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.trainable = False


#: Layer classes magnitude pruning works on. Depthwise kernels stay dense: few weights, each a whole
#: channel's filter.
PRUNABLE = ("Conv2D", "Dense")


def _kernels(tf_model) -> dict[str, np.ndarray]:
    """Kernel of every prunable layer, by layer name, in model order."""
    return {layer.name: layer.kernel.numpy() for layer in tf_model.layers if type(layer).__name__ in PRUNABLE}


def silence_dropout(tf_model) -> None:
    """Turn dropout off for a distillation fine-tune (inference ignores it, so the converted model is unchanged).

    The target is the parent's exact output; dropout noise on the student kept the
    logit loss of edge-s at 0.09 instead of 0.01 and left agreement 1-2 points lower.
    """
    for layer in tf_model.layers:
        if type(layer).__name__ == "Dropout":
            layer.rate = 0.0


def prepare_student(tf_model, seed: int) -> None:
    """Set up a copy for a distillation fine-tune (pruning, QAT): seeded, batch norm frozen, dropout off.

    Training mode then computes the function the converted model will (a test checks it), and
    the batch order is fixed: an unseeded fine-tune moved CI-sized agreement by a point.
    """
    _tf_keras().utils.set_random_seed(seed)
    freeze_batch_norm(tf_model)
    silence_dropout(tf_model)


def prune_plan(tf_model, sparsity: float, min_share: float = 0.01) -> dict[str, float]:
    """Per-layer sparsity that zeroes ``sparsity`` of all prunable kernel weights.

    Spared (0.0): the output layer and layers holding under ``min_share`` of the
    weights (the first convs): they cost little and every decision depends on them;
    pruning them one-shot cut agreement with the parent from 91% to 70% on edge-s.
    The remaining layers take up the difference.
    """
    sizes = {name: k.size for name, k in _kernels(tf_model).items()}
    if not sizes:
        raise BridgeError("the model has no Conv2D/Dense layer to prune")
    total = sum(sizes.values())
    spared = {n for n, k in sizes.items() if k < min_share * total} | {list(sizes)[-1]}
    rest = total - sum(sizes[n] for n in spared)
    per_layer = sparsity * total / max(rest, 1)
    if not 0.0 <= per_layer < 0.95:
        raise BridgeError(f"sparsity {sparsity} would need {per_layer:.0%} of the prunable layers zeroed")
    return {n: 0.0 if n in spared else per_layer for n in sizes}


def distillation_loss(y_teacher, y_student):
    """Squared distance between the two models' centred log-probabilities (logits up to a constant).

    Matching logits keeps the student's decisions where the parent's are, close calls
    included: on edge-s at 30% sparsity it beat cross-entropy on soft targets.
    """
    import tensorflow as tf

    def centred(p):
        lp = tf.math.log(tf.clip_by_value(p, 1e-7, 1.0))
        return lp - tf.reduce_mean(lp, axis=-1, keepdims=True)

    return tf.reduce_mean(tf.square(centred(y_student) - centred(y_teacher)), axis=-1)


def prune(tf_model, x, y, *, sparsity: float = 0.2, epochs: int = 3, batch_size: int = 64, lr: float = 3e-4,
          seed: int = 0, verbose: int = 0):
    """Magnitude-prune to ``sparsity`` (see :func:`prune_plan`) while distilling ``y``; returns the stripped model.

    ``tf_model`` should come from ``to_tf_keras(..., fold_batch_norm=True)`` so that
    the magnitudes ranked are the effective weights of the converted model.
    """
    import tensorflow_model_optimization as tfmot

    tfk = _tf_keras()
    prepare_student(tf_model, seed)
    steps = max(1, int(np.ceil(len(x) / batch_size)) * epochs)
    plan = prune_plan(tf_model, sparsity)

    def wrap(layer):
        target = plan.get(layer.name, 0.0)
        if target <= 0.0:
            return layer
        # reach the target half-way, then let the remaining weights recover at that sparsity
        schedule = tfmot.sparsity.keras.PolynomialDecay(0.0, target, begin_step=0, end_step=max(1, steps // 2),
                                                        frequency=max(1, steps // 20))
        return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)

    pruned = tfk.models.clone_model(tf_model, clone_function=wrap)  # wrappers hold the very layers, weights included
    pruned.compile(tfk.optimizers.Adam(tfk.optimizers.schedules.CosineDecay(lr, steps)), distillation_loss)
    pruned.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(pruned)


def quantize_aware(tf_model, x, y, *, epochs: int = 2, batch_size: int = 64, lr: float = 1e-5, seed: int = 0,
                   verbose: int = 0):
    """Quantization-aware fine-tuning; returns the QAT tf_keras model (fake-quant nodes inside)."""
    import tensorflow_model_optimization as tfmot

    tfk = _tf_keras()
    prepare_student(tf_model, seed)
    qat = tfmot.quantization.keras.quantize_model(tf_model)
    qat.compile(tfk.optimizers.Adam(lr), "categorical_crossentropy", metrics=["accuracy"])
    qat.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose)
    return qat


def layer_sparsity(tf_model) -> dict[str, float]:
    """Fraction of exactly-zero kernel weights per prunable layer."""
    return {name: round(float((k == 0).mean()), 4) for name, k in _kernels(tf_model).items()}


def sparsity_of(tf_model) -> float:
    """Fraction of exactly-zero weights in conv and dense kernels."""
    zeros = total = 0
    for layer in tf_model.layers:
        for w in layer.weights:
            if "kernel" in w.name:
                v = w.numpy()
                zeros += int((v == 0).sum())
                total += v.size
    return zeros / max(total, 1)
