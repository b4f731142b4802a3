"""Parameter and multiply-accumulate counts of Keras models, for recipe tables and benchmarks."""
from __future__ import annotations

import numpy as np


def count_macs(model) -> int:
    """MACs of one forward pass (batch 1): convolutions and dense layers, which dominate the cost. A nested model
    counts once per call (a model averaged over two views of the face runs its classifier twice)."""
    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            total += count_macs(layer) * max(1, len(getattr(layer, "_inbound_nodes", None) or [None]))
            continue
        cls = type(layer).__name__
        try:
            out_shape = layer.output.shape
            in_shape = layer.input.shape
        except (AttributeError, ValueError):
            continue
        if cls == "Conv2D":
            kh, kw = layer.kernel_size
            total += int(np.prod(out_shape[1:3])) * kh * kw * int(in_shape[-1]) * layer.filters // max(1, layer.groups)
        elif cls == "DepthwiseConv2D":
            kh, kw = layer.kernel_size
            total += int(np.prod(out_shape[1:])) * kh * kw
        elif cls == "SeparableConv2D":
            kh, kw = layer.kernel_size
            cin = int(in_shape[-1])
            total += int(np.prod(out_shape[1:3])) * (kh * kw * cin * layer.depth_multiplier
                                                     + cin * layer.depth_multiplier * layer.filters)
        elif cls == "Blur":  # architectures.Blur: a fixed depthwise kernel of (2 radius + 1)^2 taps
            total += int(np.prod(out_shape[1:])) * (2 * layer.radius + 1) ** 2
        elif cls == "BlurPool":  # architectures.BlurPool: a 3x3 fixed depthwise kernel per pooled value
            total += int(np.prod(out_shape[1:])) * 9
        elif cls == "Dense":
            total += int(np.prod(in_shape[1:])) * layer.units
    return total


def summary(model) -> dict:
    return {"params": int(model.count_params()), "macs": count_macs(model)}
