"""The five published models fer-edge started from (``shared/seeds``), rebuilt in Keras 3.

Each builder reproduces the notebook's layer list and parameter count (checked
in tests); where a notebook hard-codes 7 or 4 classes the builder takes
``num_classes`` instead.
"""
from __future__ import annotations

import os

import keras
from keras import layers, regularizers


def seed_m2(num_classes: int, size: int = 48, channels: int = 1, *, drop: float = 0.25) -> keras.Model:
    """Notebook 000 "Model 2": 5 conv blocks 256-224-224-64-96 (kernels 3,4,2,3,3), dense 32-128-32.

    1,319,716 params with 4 classes. The dense layers have no activation, as published.
    """
    m = keras.Sequential(name="seed_m2")
    m.add(keras.Input((size, size, channels)))
    m.add(layers.Conv2D(256, 3, padding="same", activation="relu"))
    m.add(layers.MaxPooling2D(2))
    for filters, k in ((224, 4), (224, 2), (64, 3), (96, 3)):
        m.add(layers.Conv2D(filters, k, padding="same", activation="relu"))
        m.add(layers.MaxPooling2D(2))
        m.add(layers.Dropout(drop))
        m.add(layers.BatchNormalization())
    m.add(layers.Flatten())
    for units in (32, 128, 32):
        m.add(layers.Dense(units))
        m.add(layers.Dropout(drop))
    m.add(layers.Dense(num_classes, activation="softmax"))
    return m


def seed_cnn1(num_classes: int, size: int = 48, channels: int = 1, *, kernel: int = 3, dropout: float = 0.0,
              activation: str = "relu") -> keras.Model:
    """Notebook 001 ``cnn1``: conv 32-32-pool-64-64-pool (valid padding), dense 512; 2,723,303 params.

    ``kernel``, ``dropout`` and ``activation`` span the notebook's hyperopt space
    (its best: relu, kernel 5, dropout 0.245, Adam).
    """
    m = keras.Sequential(name="seed_cnn1")
    m.add(keras.Input((size, size, channels)))
    for filters in (32, 64):
        m.add(layers.Conv2D(filters, kernel, activation=activation))
        m.add(layers.Conv2D(filters, kernel, activation=activation))
        m.add(layers.MaxPooling2D(2))
        if dropout:
            m.add(layers.Dropout(dropout))
    m.add(layers.Flatten())
    m.add(layers.Dense(512, activation=activation))
    if dropout:
        m.add(layers.Dropout(dropout))
    m.add(layers.Dense(num_classes, activation="softmax"))
    return m


def seed_tuned4(num_classes: int, size: int = 48, channels: int = 3, *,
                filters: tuple[int, ...] = (32, 128, 128, 32), dense: int = 64) -> keras.Model:
    """Notebook 002 keras-tuner final model: 4 blocks of conv-relu-bn-conv-relu-bn-pool-dropout 0.2,
    dense 64 + bn + dropout 0.5, RGB input; 557,799 params."""
    m = keras.Sequential(name="seed_tuned4")
    m.add(keras.Input((size, size, channels)))
    for f in filters:
        for _ in range(2):
            m.add(layers.Conv2D(f, 3, padding="same", kernel_initializer="he_normal"))
            m.add(layers.Activation("relu"))
            m.add(layers.BatchNormalization())
        m.add(layers.MaxPooling2D(2))
        m.add(layers.Dropout(0.2))
    m.add(layers.Flatten())
    m.add(layers.Dense(dense, kernel_initializer="he_normal"))
    m.add(layers.Activation("relu"))
    m.add(layers.BatchNormalization())
    m.add(layers.Dropout(0.5))
    m.add(layers.Dense(num_classes, kernel_initializer="he_normal"))
    m.add(layers.Activation("softmax"))
    return m


def seed_vgg(num_classes: int, size: int = 48, channels: int = 1) -> keras.Model:
    """Notebook 003 "improved model": conv 32-pool-64x2-pool-64x2-pool-128x3-pool-dropout 0.5, dense 128;
    647,111 params."""
    m = keras.Sequential(name="seed_vgg")
    m.add(keras.Input((size, size, channels)))
    plan = ((32,), (64, 64), (64, 64), (128, 128, 128))
    for block in plan:
        for f in block:
            m.add(layers.Conv2D(f, 3, padding="same", activation="relu"))
        m.add(layers.MaxPooling2D(2))
    m.add(layers.Dropout(0.5))
    m.add(layers.Flatten())
    m.add(layers.Dense(128, activation="relu"))
    m.add(layers.Dense(num_classes, activation="softmax"))
    return m


TRANSFER_BASES = ("vgg16", "vgg19", "mobilenet", "resnet50")


def seed_transfer(num_classes: int, size: int = 224, channels: int = 1, *, base: str = "resnet50",
                  weights: str | None = None, l2: float = 0.01, dropout: float = 0.5) -> keras.Model:
    """Notebook 004: Conv2D(3) grayscale adapter -> ImageNet base -> GAP -> dense 1024 (l2) -> dropout -> softmax.

    ``weights``: a local ``.h5``/``.weights.h5`` file of the base without its top
    (nothing is downloaded); ``None`` trains from random initialisation.
    """
    apps = {"vgg16": keras.applications.VGG16, "vgg19": keras.applications.VGG19,
            "mobilenet": keras.applications.MobileNet, "resnet50": keras.applications.ResNet50}
    if base not in apps:
        raise ValueError(f"unknown transfer base {base!r}; use one of {', '.join(TRANSFER_BASES)}")
    if weights is not None and not os.path.isfile(weights):
        raise FileNotFoundError(f"ImageNet weights file {weights!r} not found; fer-edge never downloads weights. "
                                f"Pass a local file of {base} without its top, or omit --weights to start from scratch")
    backbone = apps[base](include_top=False, weights=None, input_shape=(size, size, 3))
    if weights is not None:
        try:
            backbone.load_weights(weights)
        except Exception as e:
            raise ValueError(f"{weights}: not {base} weights without top ({str(e).splitlines()[0]})") from None
    inp = keras.Input((size, size, channels))
    x = layers.Conv2D(3, 3, padding="same")(inp)
    x = backbone(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(1024, activation="relu", kernel_regularizer=regularizers.l2(l2))(x)
    x = layers.Dropout(dropout)(x)
    out = layers.Dense(num_classes, activation="softmax", kernel_regularizer=regularizers.l2(l2))(x)
    return keras.Model(inp, out, name=f"seed_transfer_{base}")
