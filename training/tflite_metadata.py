"""fer-edge's metadata inside a ``.tflite`` file: written at conversion, rewritten when numbers are measured.

Reading needs no TensorFlow (:func:`fer_edge.metadata.read_tflite_metadata`); writing uses TensorFlow's
flatbuffer utilities, so it lives here, below the converters and the release that both write.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fer_edge.metadata import METADATA_KEY, ModelMetadata


def with_metadata(tflite: bytes, meta: ModelMetadata | bytes) -> bytes:
    """The model bytes with ``meta`` (or raw JSON bytes, for tests of bad documents) stored as a
    flatbuffer metadata entry, replacing any old one."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite))
    m.metadata = [e for e in (m.metadata or []) if e.name not in (METADATA_KEY, METADATA_KEY.encode())]
    buf = schema.BufferT()
    buf.data = np.frombuffer(meta if isinstance(meta, bytes) else meta.to_json(), np.uint8)
    m.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = METADATA_KEY
    entry.buffer = len(m.buffers) - 1
    m.metadata.append(entry)
    # Empty the buffers nothing points at any more (an earlier metadata document): emptied, not removed, so every
    # other buffer keeps its index.
    used = {t.buffer for g in m.subgraphs for t in g.tensors} | {e.buffer for e in m.metadata}
    for i, b in enumerate(m.buffers):
        if i and i not in used and b.data is not None:
            b.data = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


def record_metrics(tflite_path, metrics: dict) -> None:
    """Add measured numbers to the metadata inside a converted model (rewrites the file)."""
    from fer_edge.metadata import read_tflite_metadata

    path = Path(tflite_path)
    data = path.read_bytes()
    meta = read_tflite_metadata(data, str(path))
    meta.metrics.update(metrics)
    path.write_bytes(with_metadata(data, meta))
