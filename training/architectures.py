"""Keras 3 architectures: fer-edge's own edge-first nets and the published seed models.

Every builder takes ``(num_classes, size, channels)`` first and returns an
uncompiled ``keras.Model`` whose input is the normalised face batch that
:mod:`fer_edge.preprocessing` produces.
"""
from __future__ import annotations

import keras
from keras import layers

from fer_edge.preprocessing import gaussian_taps

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


def _separable_kernel(taps, channels: int, dtype):
    """A constant depthwise kernel (k, k, channels, 1): the outer product of ``taps`` with itself, per channel."""
    return keras.ops.convert_to_tensor([[[[a * b]] * channels for b in taps] for a in taps], dtype=dtype)


@keras.saving.register_keras_serializable(package="fer_edge")
class Blur(layers.Layer):
    """A fixed Gaussian blur of ``sigma`` px (the edge reflected, as OpenCV's ``GaussianBlur`` does): the edge row
    and column indices gathered (GATHER), then one depthwise convolution with a constant kernel. Both are Edge TPU
    ops; ~25 multiply-adds a pixel. Released models up to 0.4.4 blur inside their graph this way (:func:`averaged`);
    releases now blur in preprocessing (:func:`fer_edge.preprocessing.blur_faces`, the same taps), which costs
    microseconds instead of a third of a small model's invoke. Kept so those models load."""

    def __init__(self, sigma: float, **kw):
        super().__init__(**kw)
        if not 0.0 < sigma <= 3.0:
            raise ValueError(f"blur sigma must be within (0, 3] px, got {sigma}")
        self.sigma = float(sigma)
        self.radius = len(gaussian_taps(self.sigma)) // 2

    def _taps(self):
        return gaussian_taps(self.sigma)

    def _reflect(self, n: int):
        """Indices that pad an axis of ``n`` by ``radius`` on each side, the edge reflected (``dcb|abcd|cba``)."""
        r = self.radius
        return [abs(i) if i < 0 else (2 * (n - 1) - i if i >= n else i) for i in range(-r, n + r)]

    def call(self, x):
        x = keras.ops.take(x, keras.ops.convert_to_tensor(self._reflect(x.shape[1])), axis=1)
        x = keras.ops.take(x, keras.ops.convert_to_tensor(self._reflect(x.shape[2])), axis=2)
        kernel = _separable_kernel(self._taps(), x.shape[3], x.dtype)
        return keras.ops.depthwise_conv(x, kernel, strides=1, padding="valid")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma}


@keras.saving.register_keras_serializable(package="fer_edge")
class BlurPool(layers.Layer):
    """Anti-aliased 2x downsampling in place of a 2x2 max-pool (Zhang, "Making convolutional networks
    shift-invariant again", ICML 2019): the max over 2x2 windows at stride 1, then a fixed [1, 2, 1] x [1, 2, 1] / 16
    blur at stride 2 (a depthwise convolution). A plain max-pool at stride 2 aliases: a face moved by one pixel
    lands on another sampling grid and the features jump. No weights, so a net trained with max-pools starts from
    its own weights (``init``); MAX_POOL_2D and DEPTHWISE_CONV_2D, both Edge TPU ops; 9 MACs a pooled value."""

    def call(self, x):
        x = keras.ops.max_pool(x, 2, strides=1, padding="same")
        kernel = _separable_kernel((0.25, 0.5, 0.25), x.shape[3], x.dtype)
        return keras.ops.depthwise_conv(x, kernel, strides=2, padding="same")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return n, None if h is None else (h + 1) // 2, None if w is None else (w + 1) // 2, c


EDGE_TPU_LAYERS += (Mirror, Blur, BlurPool)


def averaged(models, mirror: bool = False, blur: float = 0.0, name: str | None = None):
    """One Keras model giving the mean of ``models``' probabilities for a face (an ensemble in one invoke), each
    also on its mirror image (``mirror``: :class:`Mirror`, a GATHER of the columns), after a blur of ``blur`` px
    (:class:`Blur`; 0: none).

    The members keep their weights; the result loads, converts and quantises like any fer-edge model, and costs
    the members' MACs times the views. Members must read the same input shape."""
    models = list(models)
    if not models:
        raise ValueError("averaged: no models")
    shapes = {tuple(m.input_shape[1:]) for m in models}
    if len(shapes) != 1:
        raise ValueError(f"averaged: the models read different inputs {sorted(shapes)}")
    if len(models) > 1:  # nested models need distinct names
        models = [keras.Model(m.inputs[0], m.outputs[0], name=f"{m.name}_{i}") for i, m in enumerate(models)]
    inp = keras.Input(models[0].input_shape[1:], name="face")
    face = Blur(blur, name="blur")(inp) if blur else inp
    views = [face, Mirror(name="mirror")(face)] if mirror else [face]
    outs = [m(v) for m in models for v in views]
    out = layers.Average(name="average")(outs) if len(outs) > 1 else outs[0]
    default = ("_".join(m.name for m in models) + ("_mirror_averaged" if mirror else "")
               + (f"_blur{blur:g}" if blur else ""))
    return keras.Model(inp, out, name=name or default)


def mirror_averaged(model, blur: float = 0.0):
    """``model``'s mean probabilities for the face and its mirror image (2x the MACs, one invoke), each blurred by
    ``blur`` px first."""
    return averaged([model], mirror=True, blur=blur)


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
             antialias: bool = False, name: str = "edge") -> keras.Model:
    """fer-edge's own INT8/Edge-TPU-first CNN.

    VGG-like stages of 3x3 conv + BN + ReLU6 (ReLU6 keeps activation ranges tight
    for INT8), 2x2 max-pool between stages, global average pooling and one dense
    layer. ``width`` scales every stage; stages from index ``separable_from`` on
    use depthwise-separable convs (cheap at inference, slow to train on CPU).
    ``stem_stride=2`` makes the first conv stride 2: every later stage runs on a
    quarter of the pixels, about 4x fewer MACs (LiteRT INT8 latency follows MACs). ``mirror=True`` returns the
    net averaged with its mirror image (:func:`mirror_averaged`): trained, converted and run as one model.
    ``antialias=True`` pools with :class:`BlurPool` instead (the same weights; answers that move less with the face).
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
            x = BlurPool(name=f"s{s}_pool")(x) if antialias else layers.MaxPooling2D(2, name=f"s{s}_pool")(x)
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
