"""Preprocessing shared by training and the device runtime.

A model only works on the device when it sees pixels prepared exactly as in
training, so both import this module: the face crop (square, with a margin),
grayscale, resize and normalisation, all driven by a :class:`Preprocessing`
record that travels in every model's metadata.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import cv2
import numpy as np


@dataclass(frozen=True)
class Preprocessing:
    """How face pixels become model input: ``(pixel - mean) / std`` at ``size`` x ``size``.

    ``crop_margin`` widens the detector's box on each side by that fraction of its
    size, and ``crop_offset`` moves the crop's centre down by that fraction of the
    box height (negative: up), so a detected face is framed like a FER2013 image.
    The defaults were measured: BlazeFace on 400 FER2013 test faces returns a box
    0.84 x the image side, centred 0.10 x side below the image centre.
    """

    size: int = 48
    color: str = "grayscale"  # or "rgb" (gray replicated for seed models built on RGB input)
    mean: float = 0.0
    std: float = 255.0
    crop_margin: float = 0.095
    crop_offset: float = -0.12
    canonical_side: bool = False  # turn each face to its canonical side first (:func:`canonical_side`)
    blur: float = 0.0  # Gaussian blur of the face in px before the model (:func:`blur_faces`); 0: none

    def __post_init__(self):
        if not 8 <= int(self.size) <= 512:
            raise ValueError(f"input size must be 8..512 pixels, got {self.size}")
        if self.color not in ("grayscale", "rgb"):
            raise ValueError(f"color must be 'grayscale' or 'rgb', got {self.color!r}")
        if not self.std > 0:
            raise ValueError(f"std must be positive, got {self.std}")
        if not 0 <= self.crop_margin <= 1:
            raise ValueError(f"crop_margin must be within 0..1, got {self.crop_margin}")
        if not -1 <= self.crop_offset <= 1:
            raise ValueError(f"crop_offset must be within -1..1, got {self.crop_offset}")
        if isinstance(self.blur, bool) or not 0 <= self.blur <= 3:
            raise ValueError(f"blur must be within 0..3 px, got {self.blur!r}")
        if not isinstance(self.canonical_side, bool):
            raise ValueError(f"canonical_side must be true or false, got {self.canonical_side!r}")

    @property
    def channels(self) -> int:
        return 1 if self.color == "grayscale" else 3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


def pixels_u8(image, what: str = "image") -> np.ndarray:
    """Any image array as uint8 pixels, by one rule every entry point shares.

    Shapes: ``(H, W)`` gray, or ``(H, W, C)`` with C = 1 (gray), 3 (BGR) or 4 (BGRA).
    Values: uint8 as is; uint16 scaled by 1/256; other integers must lie in 0..255;
    floats must be finite and lie in [0, 1] (scaled by 255) or else in [0, 255]
    (rounded). Anything else is an :class:`~fer_edge.errors.ImageError` (a
    ``ValueError``) saying what was expected and what was given.
    """
    from .errors import ImageError

    if image is None or isinstance(image, (str, bytes, bytearray)) or hasattr(image, "__fspath__"):
        hint = " (a path? read the file first, e.g. cv2.imread(path))" if image is not None else \
            " (cv2.imread returns None for a file it cannot read)"
        raise ImageError(f"{what}: expected an image array (H, W) or (H, W, 1|3|4), got "
                         f"{type(image).__name__}{hint}")
    try:
        img = np.asarray(image)
    except Exception as e:  # noqa: BLE001  (ragged lists and the like)
        raise ImageError(f"{what}: not an array ({type(e).__name__}: {e})") from None
    if img.ndim not in (2, 3) or img.size == 0 or (img.ndim == 3 and img.shape[2] not in (1, 3, 4)):
        given = f"shape {img.shape}" if isinstance(image, np.ndarray) else f"{type(image).__name__}, shape {img.shape}"
        raise ImageError(f"{what}: expected an (H, W) gray or (H, W, 1|3|4) gray/BGR/BGRA array, got {given}")
    kind = img.dtype.kind
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    if kind in "iu":
        lo, hi = int(img.min()), int(img.max())
        if lo < 0 or hi > 255:
            raise ImageError(f"{what}: {img.dtype} values span {lo}..{hi}; expected 0..255 (or uint8/uint16)")
        return img.astype(np.uint8)
    if kind == "f":
        if not np.isfinite(img).all():
            raise ImageError(f"{what}: float image contains NaN or infinity")
        lo, hi = float(img.min()), float(img.max())
        if lo < 0 or hi > 255:
            raise ImageError(f"{what}: float values span [{lo:.4g}, {hi:.4g}]; expected [0, 1] or [0, 255]")
        scale = 255.0 if hi <= 1.0 else 1.0
        return np.clip(np.rint(img.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    raise ImageError(f"{what}: unsupported pixel type {img.dtype}; expected uint8, uint16, integers or floats")


def to_gray_u8(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Any image array (see :func:`pixels_u8`) as 2-D uint8 gray."""
    img = pixels_u8(image, what)
    if img.ndim == 3 and img.shape[2] == 1:
        return img[:, :, 0]
    if img.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        return cv2.cvtColor(np.ascontiguousarray(img), code)
    return img


def face_list(faces) -> list:
    """Face crops as a list: one crop (``(H, W)`` or ``(H, W, 1|3|4)``) is one face, a stack
    ``(N, H, W)`` / ``(N, H, W, C)`` or a list is many; :class:`~fer_edge.errors.ImageError` otherwise."""
    from .errors import ImageError

    if isinstance(faces, (list, tuple)):
        return list(faces)
    arr = np.asarray(faces)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4)):
        return [arr]
    if arr.ndim in (3, 4):
        return list(arr)
    raise ImageError(f"faces: expected one crop (H, W[, 1|3|4]), a stack (N, H, W[, C]) or a list, "
                     f"got shape {arr.shape}")


def square_box(box, margin: float, offset: float = 0.0) -> tuple[int, int, int]:
    """``(x, y, w, h)`` to a square ``(x0, y0, side)`` widened by ``margin``, centre moved by ``offset * h``."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0 + offset * h
    side_i = max(1, int(round(side)))
    return int(round(cx - side / 2.0)), int(round(cy - side / 2.0)), side_i


def crop_face(gray: np.ndarray, box, spec: Preprocessing) -> np.ndarray:
    """The square crop of a detector ``box`` that ``spec`` prescribes; outside the frame repeats its edge."""
    x0, y0, side = square_box(box, spec.crop_margin, spec.crop_offset)
    h, w = gray.shape[:2]
    ix0, iy0 = max(0, x0), max(0, y0)
    ix1, iy1 = min(w, x0 + side), min(h, y0 + side)
    if ix1 <= ix0 or iy1 <= iy0:
        raise ValueError(f"face box {tuple(box)} lies outside the {w}x{h} image")
    crop = gray[iy0:iy1, ix0:ix1]
    pads = (iy0 - y0, y0 + side - iy1, ix0 - x0, x0 + side - ix1)
    if any(pads):
        crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_REPLICATE)
    return crop


def resize(gray: np.ndarray, size: int) -> np.ndarray:
    """Resize to ``size`` x ``size``: area averaging when shrinking, bilinear when growing."""
    if gray.shape[0] == size and gray.shape[1] == size:
        return gray
    interp = cv2.INTER_AREA if gray.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(gray, (size, size), interpolation=interp)


def resize_batch(faces_u8: np.ndarray, size: int) -> np.ndarray:
    """uint8 gray faces ``(N, H, W)`` at ``size`` x ``size`` (unchanged when they already are)."""
    if faces_u8.shape[1:3] == (size, size):
        return faces_u8
    return np.stack([resize(f, size) for f in faces_u8])


@lru_cache(maxsize=8)
def _side_weights(h: int, w: int) -> np.ndarray:
    """Weights of the left half's columns (computed once per face size: read-only): a centred Gaussian, sigma a
    quarter of the side, so the pixels near the face's middle decide. On FER2013 test faces 3.5% change side when
    moved 1 px, as with plain half sums, but 1.3% when zoomed 5% against 2.3%."""
    rows = np.exp(-0.5 * ((np.arange(h) - (h - 1) / 2) / (h / 4)) ** 2)
    cols = np.exp(-0.5 * ((np.arange(w // 2) - (w - 1) / 2) / (w / 4)) ** 2)
    out = np.outer(rows, cols)
    out.flags.writeable = False
    return out


def canonical_side(faces_u8: np.ndarray) -> np.ndarray:
    """uint8 faces ``(N, H, W)``, each mirrored where needed so that its left half is the brighter (weighted by
    :func:`_side_weights`). A face and its mirror image come out as the same pixels, so a model fed this way gives
    both one answer exactly, without a second view in its graph: one dot product and a flip per face.

    The side is decided on integer left-minus-right differences, so a face's mirror image gets exactly the negated
    score; a face whose score is 0 is decided by its first unequal pixel pair."""
    f = np.asarray(faces_u8)
    if f.ndim != 3 or not len(f):
        return f
    half = f.shape[2] // 2
    d = f[:, :, :half].astype(np.int32) - f[:, :, ::-1][:, :, :half].astype(np.int32)
    score = np.einsum("nij,ij->n", d.astype(np.float64), _side_weights(f.shape[1], f.shape[2]))
    for i in np.flatnonzero(score == 0):
        nz = np.flatnonzero(d[i])
        score[i] = d[i].flat[nz[0]] if len(nz) else 0
    turn = score < 0
    if not turn.any():
        return f
    out = f.copy()
    out[turn] = f[turn][:, :, ::-1]
    return out


def gaussian_taps(sigma: float) -> list[float]:
    """The normalised taps of a Gaussian of ``sigma`` px, radius ``ceil(3 sigma)`` (at least 1)."""
    radius = max(1, int(math.ceil(3.0 * sigma)))
    t = [math.exp(-(i * i) / (2.0 * sigma ** 2)) for i in range(-radius, radius + 1)]
    return [v / sum(t) for v in t]


def blur_faces(x: np.ndarray, sigma: float) -> np.ndarray:
    """float32 faces ``(N, H, W)`` blurred by ``sigma`` px, the edge reflected (``dcb|abcd|cba``). The nets learn
    faces that augmentation has resampled, so a camera's sharper face would be answered on its pixel noise; in
    numpy this costs microseconds, where the same blur inside an INT8 graph (GATHERs for the reflected edge and a
    depthwise convolution) costs a third of a small model's invoke."""
    taps = np.asarray(gaussian_taps(sigma), np.float32)
    return np.stack([cv2.sepFilter2D(f, cv2.CV_32F, taps, taps, borderType=cv2.BORDER_REFLECT_101) for f in x]) \
        if len(x) else x


def normalize(pixels_u8: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """uint8 faces ``(N, H, W)`` to float32 model input ``(N, H, W, C)``: turned to their canonical side first
    when ``spec.canonical_side``, blurred when ``spec.blur``."""
    if spec.canonical_side:
        pixels_u8 = canonical_side(pixels_u8)
    x = (np.asarray(pixels_u8, dtype=np.float32) - np.float32(spec.mean)) / np.float32(spec.std)
    if spec.blur:
        x = blur_faces(x, spec.blur)
    x = x[..., None]
    if spec.channels == 3:
        x = np.repeat(x, 3, axis=-1)
    return x


def faces_to_input(faces, spec: Preprocessing) -> np.ndarray:
    """Face crops (any size; see :func:`face_list` and :func:`pixels_u8`) to one normalised batch."""
    faces = face_list(faces)
    batch = np.stack([resize(to_gray_u8(f, f"face {i}"), spec.size) for i, f in enumerate(faces)]) if faces else \
        np.zeros((0, spec.size, spec.size), np.uint8)
    return normalize(batch, spec)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    """Float input to an integer tensor with the model's own scale and zero point."""
    info = np.iinfo(dtype)
    q = np.round(x / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer output to float; int64 first so that ``q - zero_point`` cannot overflow."""
    return (q.astype(np.int64) - zero_point).astype(np.float32) * np.float32(scale)
