"""Reading images and videos with one clear error per bad input.

Files are read as bytes and decoded in memory, so non-UTF-8 names work, and
the header is checked before decoding, so a 20000 x 20000 picture is refused
instead of taking gigabytes on a Raspberry Pi.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".gif")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
#: Largest image decoded by default (width x height): 50 megapixels.
MAX_PIXELS = 50_000_000


from .errors import ImageError  # noqa: E402,F401  (public name lives in errors)
from .preprocessing import pixels_u8


def header_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG, GIF, BMP or JPEG header without decoding; None if unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            seg = struct.unpack(">H", data[i + 2:i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            i += 2 + seg
    return None


def decode_image(data: bytes, where: str = "image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decoded pixels (gray, BGR or BGRA; 8 or 16 bit) or :class:`ImageError`."""
    if not data:
        raise ImageError(f"{where}: empty file")
    size = header_size(data)
    if size and size[0] * size[1] > max_pixels:
        raise ImageError(f"{where}: {size[0]}x{size[1]} pixels is larger than the {max_pixels:,}-pixel limit")
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as e:
        raise ImageError(f"{where}: cannot decode image ({e.msg.strip() or 'OpenCV error'})") from None
    if img is None or img.size == 0:
        raise ImageError(f"{where}: not a readable image (corrupt, truncated or unsupported format)")
    if img.ndim == 3 and img.shape[2] not in (1, 3, 4):
        raise ImageError(f"{where}: unsupported {img.shape[2]}-channel image")
    return img


def read_image(path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read and decode an image file, or raise :class:`ImageError` with the reason."""
    where = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise ImageError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{where}: is a directory") from None
    except PermissionError:
        raise ImageError(f"{where}: permission denied") from None
    except OSError as e:
        raise ImageError(f"{where}: cannot read ({e.strerror or e})") from None
    return decode_image(data, where, max_pixels)


def to_bgr(img: np.ndarray) -> np.ndarray:
    """8-bit BGR for drawing and detection (gray replicated, alpha dropped; pixel values by :func:`pixels_u8`)."""
    img = pixels_u8(img)
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return img


def expand_inputs(paths) -> list[Path]:
    """Files named directly, plus the images and videos inside named folders (sorted, recursive)."""
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
        else:
            out.append(p)
    return out


def is_video(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _video_property(source, prop: int, default: float) -> float:
    from .quiet import native_stderr_silenced

    with native_stderr_silenced():
        cap = cv2.VideoCapture(str(source))
    try:
        return float(cap.get(prop) or default) if cap.isOpened() else default
    finally:
        cap.release()


def video_fps(source) -> float:
    """Frames per second a video file declares (30 when it declares none)."""
    return _video_property(source, cv2.CAP_PROP_FPS, 30.0)


def video_frame_count(source) -> int | None:
    """Frames a video file declares (None when it declares none: a stream, a broken header)."""
    n = int(_video_property(source, cv2.CAP_PROP_FRAME_COUNT, 0.0))
    return n if n > 0 else None


def video_frames(source, max_frames: int | None = None):
    """Yield ``(index, timestamp_ms, bgr)`` from a video file or camera index; ImageError if it yields no frame
    (read as ``fer-edge camera`` reads it: :class:`~fer_edge.stream.OpenCVSource`)."""
    from .stream import CameraError, OpenCVSource

    try:
        src = OpenCVSource(source)
    except CameraError as e:
        raise ImageError(str(e)) from None
    fps = src.fps or 30.0
    try:
        i = 0
        while max_frames is None or i < max_frames:
            frame = src.read()
            if frame is None:
                break
            yield i, i * 1000.0 / fps, frame
            i += 1
    finally:
        src.close()
