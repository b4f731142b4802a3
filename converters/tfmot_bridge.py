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


def to_tf_keras(model):
    """A ``tf_keras`` copy of a Keras 3 functional/sequential model with identical weights."""
    tfk = _tf_keras()
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise BridgeError("only single-input, single-output models can be bridged")
    shape = tuple(model.inputs[0].shape[1:])
    inp = tfk.Input(shape, name=model.inputs[0].name.split(":")[0] or "input")
    built = {id(model.inputs[0]): inp}
    pairs = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        node = layer._inbound_nodes[0]
        ins = [built[id(t)] for t in node.input_tensors]
        tf_layer = getattr(tfk.layers, type(layer).__name__).from_config(_layer_config(layer))
        out = tf_layer(ins if len(ins) > 1 else ins[0])
        for t in node.output_tensors:
            built[id(t)] = out
        pairs.append((layer, tf_layer))
    tf_model = tfk.Model(inp, built[id(model.outputs[0])], name=model.name)
    for src, dst in pairs:
        w = src.get_weights()
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


def prune(tf_model, x, y, *, sparsity: float = 0.5, epochs: int = 2, batch_size: int = 64, lr: float = 1e-4,
          verbose: int = 0):
    """Magnitude-prune to ``sparsity`` with fine-tuning; returns the stripped tf_keras model."""
    import tensorflow_model_optimization as tfmot

    tfk = _tf_keras()
    freeze_batch_norm(tf_model)
    steps = max(1, int(np.ceil(len(x) / batch_size)) * epochs)
    # reach the target sparsity half-way, then let the remaining weights recover at that sparsity
    schedule = tfmot.sparsity.keras.PolynomialDecay(0.0, sparsity, begin_step=0, end_step=max(1, int(steps * 0.5)),
                                                    frequency=max(1, steps // 20))
    pruned = tfmot.sparsity.keras.prune_low_magnitude(tf_model, pruning_schedule=schedule)
    pruned.compile(tfk.optimizers.Adam(lr), "categorical_crossentropy", metrics=["accuracy"])
    pruned.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(pruned)


def quantize_aware(tf_model, x, y, *, epochs: int = 2, batch_size: int = 64, lr: float = 1e-5, verbose: int = 0):
    """Quantization-aware fine-tuning; returns the QAT tf_keras model (fake-quant nodes inside)."""
    import tensorflow_model_optimization as tfmot

    tfk = _tf_keras()
    freeze_batch_norm(tf_model)
    qat = tfmot.quantization.keras.quantize_model(tf_model)
    qat.compile(tfk.optimizers.Adam(lr), "categorical_crossentropy", metrics=["accuracy"])
    qat.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose)
    return qat


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
