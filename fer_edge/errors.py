"""The public exceptions of fer-edge, in one place (style: MediaPipe Tasks).

Bad input is a ``ValueError`` subclass, a failure while running a ``RuntimeError``
subclass, so callers can catch either family or one precise case::

    ValueError
      ImageError        an image or video (file or array) that cannot be used
      ModelError        a model file that is missing, unreadable or not usable TFLite
        MetadataError   its fer-edge metadata is missing, malformed or disagrees with it
    RuntimeError
      DelegateError     the Edge TPU runtime (libedgetpu) could not be loaded or used
      InferenceError    the interpreter failed while running, or the object is closed
    ImportError
      RuntimeMissingError  no TFLite interpreter package is installed
"""
from __future__ import annotations


class ImageError(ValueError):
    """An input image or video cannot be used; the message says what was expected and what was given."""


class ModelError(ValueError):
    """A model file is missing, unreadable or not a usable TFLite model."""


class MetadataError(ModelError):
    """A model's fer-edge metadata is missing, malformed or inconsistent with the model."""


class DelegateError(RuntimeError):
    """The Edge TPU delegate could not be loaded, or a model cannot run on it."""


class InferenceError(RuntimeError):
    """Running a model failed, or the task was used after ``close()``."""


class RuntimeMissingError(ImportError):
    """No TFLite interpreter package is installed."""
