"""Model metadata: labels, preprocessing and provenance that travel inside every model.

``.tflite`` files carry it as a flatbuffer metadata entry named
:data:`METADATA_KEY`; ``.keras`` files (zip archives) as a member of the same
name. The runtime refuses a model whose metadata is missing or disagrees with
its tensors, because a wrong label order or normalisation fails silently.
"""
from __future__ import annotations

import json
import math
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .labels import ClassSet
from .preprocessing import Preprocessing
from .tflite_file import TFLiteFormatError, read_metadata

METADATA_KEY = "fer_edge_metadata.json"
FORMAT_VERSION = 1


from .errors import MetadataError  # noqa: E402,F401  (public name lives in errors)


@dataclass
class ModelMetadata:
    """What a runtime must know to use a model, and where the model came from."""

    labels: list[str]
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    name: str = "model"
    recipe: str = ""
    format: str = "keras"  # keras | float32 | float16 | dynamic | int8 | pruned | qat | edgetpu
    version: str = "1"
    metrics: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)  # parent model file name and sha256
    quantization: dict = field(default_factory=dict)  # calibration set hash and size, sparsity...
    training: dict = field(default_factory=dict)
    score_calibration: dict = field(default_factory=dict)  # temperature, balanced_offsets (fer_edge.score_calibration)
    format_version: int = FORMAT_VERSION

    def __post_init__(self):
        if isinstance(self.preprocessing, dict):
            self.preprocessing = Preprocessing.from_dict(self.preprocessing)
        self.labels = [str(x) for x in self.labels]
        if len(self.labels) < 2:
            raise MetadataError(f"metadata lists {len(self.labels)} labels; a classifier needs at least 2")
        if len(set(self.labels)) != len(self.labels):
            raise MetadataError(f"metadata labels repeat: {self.labels}")

    @property
    def class_set(self) -> ClassSet:
        return ClassSet.from_names(self.labels)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["preprocessing"] = self.preprocessing.to_dict()
        return d

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True).encode()

    @classmethod
    def from_dict(cls, d: dict) -> "ModelMetadata":
        """Validated metadata: every field's type and range is checked; :class:`MetadataError` names the field."""
        if not isinstance(d, dict):
            raise MetadataError(f"metadata is not a JSON object (got {type(d).__name__})")
        fv = d.get("format_version", FORMAT_VERSION)
        if isinstance(fv, bool) or not isinstance(fv, int) or fv < 1:
            raise MetadataError(f"metadata field 'format_version': expected a positive integer, got {fv!r}")
        if fv > FORMAT_VERSION:
            raise MetadataError(f"metadata format {fv} is newer than this fer-edge understands "
                                f"({FORMAT_VERSION}); upgrade fer-edge")
        if "labels" not in d:
            raise MetadataError("metadata has no 'labels'")
        labels = d["labels"]
        if not isinstance(labels, list) or not all(isinstance(x, str) and x.strip() for x in labels):
            raise MetadataError(f"metadata field 'labels': expected a list of non-empty strings, got {_show(labels)}")
        for key in ("name", "recipe", "format", "version"):
            if key in d and not isinstance(d[key], str):
                raise MetadataError(f"metadata field '{key}': expected a string, got {_show(d[key])}")
        for key in ("metrics", "source", "quantization", "training", "score_calibration"):
            if key in d and not isinstance(d[key], dict):
                raise MetadataError(f"metadata field '{key}': expected an object, got {_show(d[key])}")
        if d.get("score_calibration"):
            from .score_calibration import ScoreCalibration

            ScoreCalibration.from_metadata(d["score_calibration"], len(labels))  # MetadataError names the bad field
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        if "preprocessing" in d:
            known["preprocessing"] = _preprocessing(d["preprocessing"])
        try:
            return cls(**known)
        except (TypeError, ValueError) as e:
            raise MetadataError(f"metadata is invalid: {e}") from None

    @classmethod
    def from_json(cls, raw: bytes | str) -> "ModelMetadata":
        try:
            d = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise MetadataError(f"metadata is not valid JSON: {e}") from None
        return cls.from_dict(d)

    def check_tensors(self, input_shape, output_shape) -> None:
        """Raise :class:`MetadataError` unless the model's tensors match this metadata."""
        p = self.preprocessing
        want_in = (p.size, p.size, p.channels)
        if tuple(int(v) for v in input_shape[1:]) != want_in:
            raise MetadataError(f"model input shape {list(input_shape)} does not match the metadata "
                                f"({p.size}x{p.size}x{p.channels}, {p.color})")
        if len(output_shape) != 2 or int(output_shape[-1]) != len(self.labels):
            raise MetadataError(f"model output shape {list(output_shape)} does not match the "
                                f"{len(self.labels)} labels in its metadata")


#: Preprocessing fields and the JSON types each accepts (bool is not a number here).
_PREP_TYPES = {"size": (int,), "color": (str,), "mean": (int, float), "std": (int, float),
               "crop_margin": (int, float), "crop_offset": (int, float), "canonical_side": (bool,),
               "blur": (int, float)}


def _show(v) -> str:
    text = json.dumps(v) if not isinstance(v, (bytes, bytearray)) else repr(v)
    return f"{type(v).__name__} {text[:60]}"


def _preprocessing(p) -> Preprocessing:
    if not isinstance(p, dict):
        raise MetadataError(f"metadata field 'preprocessing': expected an object, got {_show(p)}")
    for key, types in _PREP_TYPES.items():
        if key in p and (isinstance(p[key], bool) != (types == (bool,)) or not isinstance(p[key], types)
                         or (isinstance(p[key], float) and not math.isfinite(p[key]))):
            want = {(int,): "an integer", (str,): "a string", (bool,): "true or false"}.get(types, "a finite number")
            raise MetadataError(f"metadata field 'preprocessing.{key}': expected {want}, got {_show(p[key])}")
    try:
        return Preprocessing.from_dict(p)
    except ValueError as e:
        raise MetadataError(f"metadata field 'preprocessing': {e}") from None


def read_tflite_metadata(model: bytes, where: str = "model") -> ModelMetadata:
    """The fer-edge metadata inside TFLite bytes; :class:`MetadataError` if absent."""
    try:
        entries = read_metadata(model)
    except TFLiteFormatError as e:
        raise MetadataError(f"{where}: {e}") from None
    if METADATA_KEY not in entries:
        raise MetadataError(f"{where}: no fer-edge metadata inside the model (convert it with "
                            f"'fer-edge convert', or pass labels and preprocessing explicitly)")
    try:
        return ModelMetadata.from_json(entries[METADATA_KEY])
    except MetadataError as e:
        raise MetadataError(f"{where}: {e}") from None


def read_keras_metadata(path) -> ModelMetadata:
    """The fer-edge metadata stored in a ``.keras`` archive."""
    try:
        with zipfile.ZipFile(path) as z:
            if METADATA_KEY not in z.namelist():
                raise MetadataError(f"{path}: no fer-edge metadata in this Keras file "
                                    f"(train it with 'fer-edge train' or add it with fer_edge.metadata.write_keras_metadata)")
            return ModelMetadata.from_json(z.read(METADATA_KEY))
    except zipfile.BadZipFile:
        raise MetadataError(f"{path}: not a .keras archive") from None


def write_keras_metadata(path, meta: ModelMetadata) -> None:
    """Store ``meta`` inside a ``.keras`` archive (Keras ignores members it does not know)."""
    path = Path(path)
    with zipfile.ZipFile(path) as z:
        members = [(i, z.read(i)) for i in z.infolist() if i.filename != METADATA_KEY]
    tmp = path.with_suffix(path.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w") as z:
        for info, data in members:
            z.writestr(info, data)
        z.writestr(METADATA_KEY, meta.to_json())
    tmp.replace(path)
