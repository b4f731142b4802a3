"""Keras 3 model -> TFLite bytes, one small function per format, each with its metadata inside.

The formats themselves are declared in :mod:`.formats`; this module holds the
converter calls, the metadata embedding and the Edge TPU checks.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from fer_edge.metadata import ModelMetadata
from fer_edge.training.tflite_metadata import with_metadata

from .formats import FORMATS, INTEGER_FORMATS  # noqa: E402,F401  (declared once, in the formats table)

#: TFLite builtin ops the Edge TPU compiler maps to the TPU (Coral "Supported operations").
EDGETPU_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS",
    "FULLY_CONNECTED", "L2_NORMALIZATION", "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN",
    "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6",
    "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX",
    "SPACE_TO_DEPTH", "SPLIT", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "SQUARED_DIFFERENCE", "TANH",
    "TRANSPOSE", "TRANSPOSE_CONV", "DEQUANTIZE", "HARD_SWISH", "GATHER",
})


class ConversionError(ValueError):
    """The model cannot be converted to the requested format; the message says why."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    with open(path, "rb") as fh:
        return sha256_bytes(fh.read())


def _converter(model):
    """The TFLite converter for a Keras 3 or tf_keras model (both freeze variables and fold batch norm)."""
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model)


def _run(converter, what: str) -> bytes:
    import contextlib
    import io

    from fer_edge.quiet import native_stderr_silenced

    try:  # Keras' export prints every captured variable; the MLIR quantizer logs "fully_quantize: ..." natively
        with contextlib.redirect_stdout(io.StringIO()), native_stderr_silenced():
            return converter.convert()
    except Exception as e:  # the converter raises many types; keep the first line, which names the op
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConversionError(f"{what} conversion failed: {first}") from None


def to_float32(model) -> bytes:
    return _run(_converter(model), "float32")


def to_float16(model) -> bytes:
    import tensorflow as tf

    c = _converter(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.target_spec.supported_types = [tf.float16]
    return _run(c, "float16")


def to_dynamic(model) -> bytes:
    import tensorflow as tf

    c = _converter(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    return _run(c, "dynamic-range")


def to_int8(model, calibration: np.ndarray, what: str = "int8") -> bytes:
    """Full-integer model: int8 weights, activations, input and output; ``calibration`` is normalised input."""
    import tensorflow as tf

    if calibration is None or len(calibration) == 0:
        raise ConversionError("int8 conversion needs a non-empty calibration set of real face crops")

    def representative():
        for i in range(len(calibration)):
            yield [calibration[i:i + 1].astype(np.float32)]

    c = _converter(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = representative
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = tf.int8
    c.inference_output_type = tf.int8
    return _run(c, what)


def describe(tflite: bytes) -> dict:
    """Ops used (with counts), input/output types and quantization of a TFLite model."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=tflite)
    ops: dict[str, int] = {}
    for op in it._get_ops_details():
        ops[op["op_name"]] = ops.get(op["op_name"], 0) + 1
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    float_tensors = [t["name"] for t in it.get_tensor_details() if np.dtype(t["dtype"]) == np.float32]
    return {"ops": dict(sorted(ops.items())), "input": {"dtype": np.dtype(inp["dtype"]).name,
                                                       "shape": [int(v) for v in inp["shape"]],
                                                       "quantization": [float(inp["quantization"][0]),
                                                                        int(inp["quantization"][1])]},
            "output": {"dtype": np.dtype(out["dtype"]).name, "quantization": [float(out["quantization"][0]),
                                                                               int(out["quantization"][1])]},
            "float_tensors": len(float_tensors)}


def edgetpu_check(tflite: bytes) -> dict:
    """Whether every op is an Edge TPU op and every activation is integer: ``{ok, unsupported, float_tensors}``."""
    d = describe(tflite)
    bad = sorted(op for op in d["ops"] if op not in EDGETPU_OPS)
    ok = not bad and d["float_tensors"] == 0 and d["input"]["dtype"] in ("int8", "uint8")
    return {"ok": ok, "ops": d["ops"], "unsupported_ops": bad, "float_tensors": d["float_tensors"]}


def keras_edgetpu_problems(model) -> list[str]:
    """Layers a Keras model has that produce non-Edge-TPU ops, named, before converting."""
    from fer_edge.training.architectures import EDGE_TPU_LAYERS

    allowed = {c.__name__ for c in EDGE_TPU_LAYERS} | {"Functional", "Sequential"}  # containers are walked into
    ok_activations = {"linear", "relu", "relu6", "softmax", "sigmoid", "tanh", "hard_swish"}
    problems = []
    for layer in _walk(model):
        cls = type(layer).__name__
        act = getattr(layer, "activation", None)
        act_name = getattr(act, "__name__", None)
        if cls not in allowed:
            problems.append(f"layer '{layer.name}' ({cls}) has no Edge TPU equivalent")
        elif act_name and act_name not in ok_activations:
            problems.append(f"layer '{layer.name}' uses activation '{act_name}', not an Edge TPU op")
    return problems


def _walk(model):
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _walk(layer)
        else:
            yield layer


def run_edgetpu_compiler(tflite_path, out_dir, meta: ModelMetadata | None = None) -> dict:
    """Compile with ``edgetpu_compiler`` when it is on PATH and give the result back its fer-edge metadata.

    Returns ``{"compiled": True, "file": ..., "log": ...}``, or ``{"compiled": False, "reason": ...}``
    saying that ``tflite_path`` is the compiler's INT8 input, not a model for the device.
    """
    import shutil
    import subprocess

    from fer_edge.tflite_file import is_edgetpu_compiled

    tflite_path, out_dir = Path(tflite_path), Path(out_dir)
    exe = shutil.which("edgetpu_compiler")
    if not exe:
        return {"compiled": False, "reason": f"edgetpu_compiler not found on PATH: {tflite_path.name} is the INT8 "
                                             "input for the compiler, not a model for the device; install Coral's "
                                             "'edgetpu-compiler' package (x86-64 Linux) and run this again, or run "
                                             f"'edgetpu_compiler -s -o DIR {tflite_path.name}' where it is installed"}
    try:
        proc = subprocess.run([exe, "-s", "-o", str(out_dir), str(tflite_path)], capture_output=True, text=True,
                              timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"compiled": False, "reason": f"edgetpu_compiler failed to run ({e})"}
    compiled = out_dir / f"{tflite_path.stem}_edgetpu.tflite"
    log = (proc.stdout + proc.stderr)[-4000:]
    if proc.returncode != 0 or not compiled.exists():
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"compiled": False, "returncode": proc.returncode, "reason": f"edgetpu_compiler failed: {last[0]}",
                "log": log}
    data = compiled.read_bytes()
    if not is_edgetpu_compiled(data):
        return {"compiled": False, "reason": f"{compiled.name} has no edgetpu-custom-op: nothing was mapped to the "
                                             "Edge TPU", "log": log}
    if meta is not None:
        meta = ModelMetadata.from_dict({**meta.to_dict(), "format": "edgetpu",
                                        "quantization": {**meta.quantization, "edgetpu_compiled": True,
                                                         "compiled_from": tflite_path.name}})
        data = with_metadata(data, meta)
        compiled.write_bytes(data)
    return {"compiled": True, "file": compiled.name, "bytes": len(data), "log": log}
