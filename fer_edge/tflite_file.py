"""Read the parts of a ``.tflite`` flatbuffer the runtime needs, without TensorFlow.

The interpreter does not expose a model's metadata table, and a hostile file
should be rejected with a clear message before any native code parses it, so
this module walks the flatbuffer itself with bounds checks on every read.
Schema: ``tensorflow/lite/schema/schema.fbs`` (Model, Metadata, Buffer tables).
"""
from __future__ import annotations

import struct

# Field slots of the schema tables used here.
_MODEL_VERSION, _MODEL_OPCODES, _MODEL_SUBGRAPHS, _MODEL_BUFFERS, _MODEL_METADATA = 0, 1, 2, 4, 6
_META_NAME, _META_BUFFER = 0, 1
_OPCODE_CUSTOM = 1
#: The op ``edgetpu_compiler`` puts in a model for the part that runs on the Edge TPU.
EDGETPU_CUSTOM_OP = "edgetpu-custom-op"
_BUF_DATA, _BUF_OFFSET, _BUF_SIZE = 0, 1, 2


class TFLiteFormatError(ValueError):
    """The bytes are not a well-formed TFLite flatbuffer."""


class _Reader:
    def __init__(self, data: bytes):
        self.b = memoryview(data)
        self.n = len(data)

    def _get(self, fmt: str, pos: int):
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > self.n:
            raise TFLiteFormatError(f"truncated or corrupt flatbuffer (read of {size} bytes at {pos}, file {self.n})")
        return struct.unpack_from(fmt, self.b, pos)[0]

    def table(self, pos: int) -> tuple[int, int, int]:
        """``(table_pos, vtable_pos, vtable_size)`` of the table at ``pos``."""
        vt = pos - self._get("<i", pos)
        vt_size = self._get("<H", vt)
        if vt_size < 4 or vt_size % 2:
            raise TFLiteFormatError("corrupt flatbuffer vtable")
        self._get("<B", vt + vt_size - 1)
        return pos, vt, vt_size

    def field_pos(self, table, slot: int) -> int | None:
        pos, vt, vt_size = table
        entry = 4 + 2 * slot
        if entry >= vt_size:
            return None
        off = self._get("<H", vt + entry)
        return pos + off if off else None

    def scalar(self, table, slot: int, fmt: str, default=0):
        p = self.field_pos(table, slot)
        return default if p is None else self._get(fmt, p)

    def indirect(self, table, slot: int) -> int | None:
        p = self.field_pos(table, slot)
        return None if p is None else p + self._get("<I", p)

    def vector(self, table, slot: int) -> tuple[int, int]:
        """``(first_element_pos, length)``; ``(0, 0)`` when absent."""
        p = self.indirect(table, slot)
        if p is None:
            return 0, 0
        length = self._get("<I", p)
        if length > self.n:
            raise TFLiteFormatError("corrupt flatbuffer vector length")
        return p + 4, length

    def table_vector(self, table, slot: int) -> list:
        start, length = self.vector(table, slot)
        return [self.table(start + 4 * i + self._get("<I", start + 4 * i)) for i in range(length)]

    def bytes_of(self, table, slot: int) -> bytes:
        start, length = self.vector(table, slot)
        if start + length > self.n:
            raise TFLiteFormatError("flatbuffer byte vector runs past the end of the file")
        return bytes(self.b[start:start + length])

    def string(self, table, slot: int) -> str | None:
        if self.field_pos(table, slot) is None:
            return None
        return self.bytes_of(table, slot).decode("utf-8", errors="replace")


def _root(data: bytes) -> tuple[_Reader, tuple]:
    if len(data) < 16:
        raise TFLiteFormatError(f"file is {len(data)} bytes, too short to be a TFLite model")
    if bytes(data[4:8]) != b"TFL3":
        raise TFLiteFormatError("not a TFLite model (flatbuffer identifier 'TFL3' missing)")
    r = _Reader(data)
    return r, r.table(r._get("<I", 0))


def read_metadata(data: bytes) -> dict[str, bytes]:
    """All entries of the model's ``metadata`` table as ``{name: bytes}``."""
    r, model = _root(data)
    buffers = r.table_vector(model, _MODEL_BUFFERS)
    out = {}
    for entry in r.table_vector(model, _MODEL_METADATA):
        name = r.string(entry, _META_NAME) or ""
        index = r.scalar(entry, _META_BUFFER, "<I")
        if index >= len(buffers):
            raise TFLiteFormatError(f"metadata {name!r} points at buffer {index} of {len(buffers)}")
        buf = buffers[index]
        offset = r.scalar(buf, _BUF_OFFSET, "<Q")
        if offset > 1:  # large models keep buffers after the flatbuffer
            size = r.scalar(buf, _BUF_SIZE, "<Q")
            if offset + size > len(data):
                raise TFLiteFormatError(f"metadata {name!r} runs past the end of the file")
            out[name] = bytes(data[offset:offset + size])
        else:
            out[name] = r.bytes_of(buf, _BUF_DATA)
    return out


def check_structure(data: bytes) -> int:
    """Cheap sanity walk before handing bytes to native code; returns the subgraph count."""
    r, model = _root(data)
    subgraphs = r.table_vector(model, _MODEL_SUBGRAPHS)
    if not subgraphs:
        raise TFLiteFormatError("TFLite model has no subgraphs")
    r.table_vector(model, _MODEL_OPCODES)
    r.table_vector(model, _MODEL_BUFFERS)
    return len(subgraphs)


def custom_ops(data: bytes) -> set[str]:
    """Names of the custom ops a model declares (``edgetpu-custom-op`` marks a compiled Edge TPU model)."""
    r, model = _root(data)
    return {c for c in (r.string(op, _OPCODE_CUSTOM) for op in r.table_vector(model, _MODEL_OPCODES)) if c}


def is_edgetpu_compiled(data: bytes) -> bool:
    return EDGETPU_CUSTOM_OP in custom_ops(data)
