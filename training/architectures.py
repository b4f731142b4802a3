"""Keras 3 architectures: fer-edge's own edge-first nets and the published seed models.

Every builder takes ``(num_classes, size, channels)`` first and returns an
uncompiled ``keras.Model`` whose input is the normalised face batch that
:mod:`fer_edge.preprocessing` produces.
"""
from __future__ import annotations

import keras
from keras import layers

# The one list of Keras layers that become Edge TPU ops (Coral docs, "TensorFlow models on the Edge TPU"):
# the edge nets use nothing else, and converters.tflite.keras_edgetpu_problems checks any model against it
# before converting (the TFLite op names it checks after converting are converters.tflite.EDGETPU_OPS).
EDGE_TPU_LAYERS = (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D, layers.BatchNormalization,
                   layers.ReLU, layers.MaxPooling2D, layers.AveragePooling2D, layers.GlobalAveragePooling2D,
                   layers.Dense, layers.Dropout, layers.Softmax, layers.Activation, layers.InputLayer,
                   layers.Add, layers.Flatten, layers.Rescaling, layers.Concatenate, layers.Average,
                   layers.Reshape, layers.ZeroPadding2D, layers.Multiply, layers.Subtract)


@keras.saving.register_keras_serializable(package="fer_edge")
class Mirror(layers.Layer):
    """The image mirrored left to right, as a GATHER of the columns in reverse order: an Edge TPU op and exact in
    INT8 (``flip`` would be REVERSE_V2, which the TPU lacks). Used by :func:`mirror_averaged`."""

    def call(self, x):
        return keras.ops.take(x, keras.ops.arange(x.shape[2] - 1, -1, -1), axis=2)


EDGE_TPU_LAYERS += (Mirror,)


def mirror_averaged(model):
    """A Keras model giving the mean of ``model``'s probabilities for the face and its mirror image.

    ``model`` keeps its weights (shared by both views); the result loads, converts and quantises like
    any fer-edge model. The mirror is :class:`Mirror` (a GATHER of the columns); one invoke, twice the MACs."""
    inp = keras.Input(model.input_shape[1:], name="face")
    mirrored = Mirror(name="mirror")(inp)
    out = layers.Average(name="mirror_average")([model(inp), model(mirrored)])
    return keras.Model(inp, out, name=f"{model.name}_mirror_averaged")


def _conv_bn_relu(x, filters: int, separable: bool, name: str, stride: int = 1):
    if separable:
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
        x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
        x = layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
        x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    else:
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x)


def edge_net(num_classes: int, size: int = 48, channels: int = 1, *, width: float = 1.0,
             base: tuple[int, ...] = (16, 32, 64, 128), depth: tuple[int, ...] = (2, 2, 2, 2),
             separable_from: int = 99, dropout: float = 0.3, stem_stride: int = 1, mirror: bool = False,
             name: str = "edge") -> keras.Model:
    """fer-edge's own INT8/Edge-TPU-first CNN.

    VGG-like stages of 3x3 conv + BN + ReLU6 (ReLU6 keeps activation ranges tight
    for INT8), 2x2 max-pool between stages, global average pooling and one dense
    layer. ``width`` scales every stage; stages from index ``separable_from`` on
    use depthwise-separable convs (cheap at inference, slow to train on CPU).
    ``stem_stride=2`` makes the first conv stride 2: every later stage runs on a
    quarter of the pixels, about 4x fewer MACs (LiteRT INT8 latency follows MACs). ``mirror=True`` returns the
    net averaged with its mirror image (:func:`mirror_averaged`): trained, converted and run as one model.
    """
    inp = keras.Input((size, size, channels), name="face")
    x = inp
    for s, (f, d) in enumerate(zip(base, depth)):
        filters = max(8, int(round(f * width / 8)) * 8)
        for j in range(d):
            first = s == 0 and j == 0
            x = _conv_bn_relu(x, filters, s >= separable_from and not first, f"s{s}c{j}",
                              stride=stem_stride if first else 1)
        if s < len(base) - 1:
            x = layers.MaxPooling2D(2, name=f"s{s}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    probs = layers.Softmax(name="probs")(logits)
    model = keras.Model(inp, probs, name=name)
    return mirror_averaged(model) if mirror else model


def resnet_teacher(num_classes: int, size: int = 48, channels: int = 1, *, widths: tuple[int, ...] = (64, 128, 256, 512),
                   blocks: tuple[int, ...] = (2, 2, 2, 2), dropout: float = 0.3, name: str = "teacher") -> keras.Model:
    """A ResNet-18-style teacher for 48 px faces (11 M params): a 3x3 stem without pooling, four stages of
    basic blocks (the first at full resolution, then stride 2), global average pooling.

    Too big for the edge (~0.56 G MACs); it exists to be trained long on a GPU and distilled into the
    edge nets (``fer-edge train --teacher``).
    """
    inp = keras.Input((size, size, channels), name="face")
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="stem")(inp)
    x = layers.ReLU(name="stem_relu")(layers.BatchNormalization(name="stem_bn")(x))
    for s, (w, n) in enumerate(zip(widths, blocks)):
        for b in range(n):
            stride = 2 if s > 0 and b == 0 else 1
            tag = f"s{s}b{b}"
            y = layers.Conv2D(w, 3, strides=stride, padding="same", use_bias=False, name=f"{tag}_c1")(x)
            y = layers.ReLU(name=f"{tag}_r1")(layers.BatchNormalization(name=f"{tag}_bn1")(y))
            y = layers.Conv2D(w, 3, padding="same", use_bias=False, name=f"{tag}_c2")(y)
            y = layers.BatchNormalization(name=f"{tag}_bn2")(y)
            if stride != 1 or x.shape[-1] != w:
                x = layers.BatchNormalization(name=f"{tag}_proj_bn")(
                    layers.Conv2D(w, 1, strides=stride, use_bias=False, name=f"{tag}_proj")(x))
            x = layers.ReLU(name=f"{tag}_out")(layers.Add(name=f"{tag}_add")([x, y]))
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    logits = layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return keras.Model(inp, layers.Softmax(name="probs", dtype="float32")(logits), name=name)
