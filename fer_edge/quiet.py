"""Native libraries' own log lines (LiteRT, OpenCV, FFmpeg) kept off the terminal unless ``-v`` asks.

A user sees fer-edge's one-line errors, not ``[ WARN:0@0.085] global cap_v4l.cpp`` or FFmpeg's
``moov atom not found`` printed before them. ``fer-edge -v`` (or ``FER_EDGE_VERBOSE=1``) shows them.
"""
from __future__ import annotations

import contextlib
import os
import sys


def verbose() -> bool:
    return bool(os.environ.get("FER_EDGE_VERBOSE"))


def quiet_opencv() -> None:
    """OpenCV's own logging (camera back-end warnings) down to errors that stop it, unless verbose."""
    if verbose():
        return
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # builds without the logging module
        pass


@contextlib.contextmanager
def native_stderr_silenced():
    """Send file descriptor 2 to /dev/null while native code runs (Python-level errors still raise).

    Only around opening a model, a camera or a file and reading its first frame: a thread printing to
    stderr meanwhile would be silenced too.
    """
    if verbose():
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
