"""LiteRT interpreters and the Edge TPU delegate (style: pycoral ``utils/edgetpu.py``).

Import order: ``ai_edge_litert`` (the maintained runtime), then ``tflite_runtime``
(old, breaks on numpy 2), then ``tensorflow.lite`` (workstations only). The
device install never needs TensorFlow.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

from .quiet import native_stderr_silenced
from .tflite_file import TFLiteFormatError, check_structure

#: Shared library of the Coral Edge TPU runtime, per OS.
EDGETPU_LIBRARY = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}
#: Environment variable naming another Edge TPU library (tests use a stand-in).
EDGETPU_LIBRARY_ENV = "FER_EDGE_EDGETPU_LIB"


from .errors import DelegateError, ModelError, RuntimeMissingError  # noqa: F401  (public names live in errors)


def interpreter_module():
    """The first importable interpreter module, as ``(module, name)``."""
    errors = []
    for name in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite"):
        try:
            module = __import__(name, fromlist=["Interpreter"])
            if hasattr(module, "Interpreter"):
                return module, name
        except Exception as e:  # a broken tflite_runtime on numpy 2 raises more than ImportError
            errors.append(f"{name}: {type(e).__name__}: {e}")
    raise RuntimeMissingError("no TFLite interpreter found; install one with 'pip install ai-edge-litert' ("
                              + "; ".join(errors) + ")")


def read_model_bytes(model_path_or_content) -> tuple[bytes, str]:
    """``(bytes, description)`` for a path or raw bytes, with a clear error for anything unusable."""
    if isinstance(model_path_or_content, (bytes, bytearray, memoryview)):
        data, where = bytes(model_path_or_content), "model bytes"
    else:
        path = Path(model_path_or_content)
        where = str(path)
        if not path.exists():
            raise ModelError(f"{where}: model file does not exist")
        if path.is_dir():
            raise ModelError(f"{where}: is a directory, not a model file")
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ModelError(f"{where}: cannot read model file ({e.strerror or e})") from None
    try:
        check_structure(data)
    except TFLiteFormatError as e:
        raise ModelError(f"{where}: {e}") from None
    return data, where


def parse_device(device: str | None) -> dict | None:
    """Edge TPU delegate options from pycoral's device grammar, or None for the CPU.

    ``None``/``"cpu"``: CPU. ``"usb"``, ``"pci"``: first of that kind; ``"usb:1"``: the
    second USB Edge TPU; ``":0"`` or ``"edgetpu"``: the first Edge TPU of any kind.
    """
    if device is None or device.lower() == "cpu":
        return None
    d = device.lower()
    if d in ("edgetpu", "tpu"):
        return {}
    kind, colon, index = d.partition(":")
    if kind not in ("", "usb", "pci") or (index and not index.isdigit()) or (colon and not index):
        raise ValueError(f"bad device {device!r}: use cpu, usb, usb:N, pci, pci:N, :N or edgetpu")
    if not index:
        return {"device": kind}
    return {"device": f"{kind}:{index}" if kind else f":{index}"}


def edgetpu_library() -> str:
    return os.environ.get(EDGETPU_LIBRARY_ENV) or EDGETPU_LIBRARY.get(platform.system(), "libedgetpu.so.1")


def load_edgetpu_delegate(options: dict | None = None, library: str | None = None):
    """Load the Edge TPU runtime as a LiteRT delegate; :class:`DelegateError` naming the library when absent."""
    import ctypes

    module, _ = interpreter_module()
    lib = library or edgetpu_library()
    try:  # load it ourselves first: LiteRT's Delegate.__del__ prints a traceback when its own load fails
        ctypes.CDLL(lib)
    except OSError as e:
        raise DelegateError(f"Edge TPU runtime '{lib}' could not be loaded ({e}); install libedgetpu "
                            f"(Coral docs: 'Get started with the USB Accelerator') or run on the CPU") from None
    try:
        return module.load_delegate(lib, options or {})
    except (ValueError, OSError) as e:
        raise DelegateError(f"Edge TPU runtime '{lib}' could not be loaded ({e}); install libedgetpu "
                           f"(Coral docs: 'Get started with the USB Accelerator') or run on the CPU") from None


def make_interpreter(model_path_or_content, device: str | None = None, num_threads: int | None = None,
                     delegate_library: str | None = None):
    """An allocated interpreter for a ``.tflite`` path or bytes.

    ``device`` follows :func:`parse_device`; with an Edge TPU device the delegate
    is loaded first and a missing runtime is a clear ``RuntimeError``.
    """
    if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int)
                                    or num_threads < 1):
        raise ValueError(f"num_threads must be a positive integer or None, got {num_threads!r}")
    data, where = read_model_bytes(model_path_or_content)
    module, _ = interpreter_module()
    options = parse_device(device)
    delegates = None if options is None else [load_edgetpu_delegate(options, delegate_library)]
    try:
        interp = module.Interpreter(model_content=data, experimental_delegates=delegates, num_threads=num_threads)
        with native_stderr_silenced():  # LiteRT logs an INFO line per interpreter here
            interp.allocate_tensors()
        return interp
    except (ValueError, RuntimeError) as e:
        raise ModelError(f"{where}: the TFLite runtime rejected the model ({str(e).splitlines()[0]})") from None


class BatchInterpreters:
    """One CPU interpreter per batch size in use, and ``n`` inputs split into a few fixed batch sizes.

    Resizing one interpreter to each new batch reallocates its tensors on every switch (a video's face count
    changes from frame to frame); an invoke's cost grows with its batch, so splitting costs next to nothing.
    """

    def __init__(self, first, data: bytes, num_threads: int | None, input_index: int, sizes=(8, 4, 2, 1)):
        self._data, self._threads, self._index = data, num_threads, input_index
        self._shape = list(first.get_input_details()[0]["shape"])
        self._by_batch = {int(self._shape[0]): first}
        self.sizes = sorted(set(sizes) | {1}, reverse=True)

    def allow(self, n: int) -> None:
        """Run batches of ``n`` in one invoke from now on (a whole-frame scan's fixed view count)."""
        if n not in self.sizes:
            self.sizes = sorted(self.sizes + [n], reverse=True)

    def split(self, n: int) -> list[int]:
        out = []
        while n:
            out.append(next(k for k in self.sizes if k <= n))
            n -= out[-1]
        return out

    def __getitem__(self, n: int):
        """The interpreter whose input holds a batch of ``n``."""
        if n not in self._by_batch:
            it = make_interpreter(self._data, num_threads=self._threads)
            it.resize_tensor_input(self._index, [n] + self._shape[1:])
            it.allocate_tensors()
            self._by_batch[n] = it
        return self._by_batch[n]

    def clear(self) -> None:
        self._by_batch.clear()
