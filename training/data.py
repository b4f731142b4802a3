"""FER2013-style data in: the Kaggle CSV or ``split/class/*.jpg`` folders, same arrays out.

Labels are mapped by class *name* through :mod:`fer_edge.labels`, so the CSV's
numbering and alphabetical folders give identical arrays. Bad rows and odd
files are counted and reported, never dropped silently.
"""
from __future__ import annotations

import csv
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fer_edge.labels import FER2013_CLASSES, ClassSet
from fer_edge.preprocessing import resize, to_gray_u8

#: Split names of the folder release and the CSV's ``Usage`` values.
SPLITS = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".webp")


class DataError(ValueError):
    """The data source cannot be read as FER2013-style data."""


@dataclass
class FaceData:
    """uint8 faces ``x`` (N, S, S), integer labels ``y`` into ``classes``, and where each came from."""

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    names: list[str]
    skipped: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx) -> "FaceData":
        idx = np.asarray(idx)
        return FaceData(self.x[idx], self.y[idx], self.classes, [self.names[i] for i in idx], Counter(self.skipped))

    def __add__(self, other: "FaceData") -> "FaceData":
        """Both sets' faces (same classes), e.g. train + val for a release retrain."""
        if self.classes != other.classes or self.x.shape[1:] != other.x.shape[1:]:
            raise DataError(f"cannot join faces of classes {self.classes} {self.x.shape[1:]} and "
                            f"{other.classes} {other.x.shape[1:]}")
        return FaceData(np.concatenate([self.x, other.x]), np.concatenate([self.y, other.y]), self.classes,
                        self.names + other.names, self.skipped + other.skipped)

    def counts(self) -> dict[str, int]:
        c = np.bincount(self.y, minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, c)}


def _split_key(split: str) -> str:
    s = split.strip().lower()
    for key, usage in SPLITS.items():
        if s in (key, usage.lower()):
            return key
    raise DataError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")


def load(source, split: str, classes: ClassSet | str | None = None, size: int = 48) -> FaceData:
    """Faces of one split from a CSV file, an image-folder root or a pack (``.npz`` made by :func:`pack_folders`,
    what travels to a remote training machine)."""
    cs = classes if isinstance(classes, ClassSet) else ClassSet.parse(classes)
    path = Path(source)
    if not path.exists():
        raise DataError(f"data source {path} does not exist")
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return load_pack(path, split, cs, size)
        if path.suffix.lower() != ".csv":
            raise DataError(f"{path}: expected a FER2013 CSV file, a pack (.npz) or an image-folder root")
        return load_csv(path, split, cs, size)
    return load_folder(path, split, cs, size)


def pack_folders(root, out, splits=("train", "val"), skip=frozenset()) -> int:
    """Pack image folders (``root/<split>/<class>/*.jpg``) into one ``.npz`` that :func:`load_pack` reads: each
    JPEG's own bytes, the header they share stored once (FER2013's train + val: about 48 MiB). ``skip`` names
    ``class/file`` entries of ``train`` to leave out. Never overwrites; returns the faces packed."""
    root, out = Path(root), Path(out)
    if out.exists():
        raise DataError(f"{out} exists: a pack is never overwritten")
    classes = sorted(d.name for d in (root / splits[0]).iterdir() if d.is_dir() and not d.name.startswith("."))
    blobs, offsets, labels, split_ids, names, headers = [], [0], [], [], [], {}
    for s_i, split in enumerate(splits):
        for c_i, c in enumerate(classes):
            for f in sorted((root / split / c).iterdir()):
                if split == "train" and f"{c}/{f.name}" in skip:
                    continue
                b = f.read_bytes()
                cut = b.find(b"\xff\xda")  # start of scan: what comes before is the header
                b = bytes([headers.setdefault(b[:cut], len(headers))]) + b[cut:]
                blobs.append(np.frombuffer(b, np.uint8))
                offsets.append(offsets[-1] + len(b))
                labels.append(c_i)
                split_ids.append(s_i)
                names.append(f.name)
    if len(headers) > 255:
        raise DataError(f"{root}: too many distinct JPEG headers to pack")
    heads = list(headers)
    with open(out, "xb") as fh:
        np.savez(fh, jpeg=np.concatenate(blobs), headers=np.frombuffer(b"".join(heads), np.uint8),
                 header_offsets=np.cumsum([0] + [len(h) for h in heads]), offsets=np.array(offsets, np.int64),
                 labels=np.array(labels, np.uint8), split=np.array(split_ids, np.uint8), splits=np.array(splits),
                 classes=np.array(classes), names=np.frombuffer("\n".join(names).encode(), np.uint8))
    return len(labels)


def load_pack(path, split: str, classes: ClassSet, size: int = 48) -> FaceData:
    """One split of a FER2013 pack: JPEG bytes with their shared header stored once, labels by folder name."""
    key = _split_key(split)
    try:
        z = np.load(path)
        splits, names_in = [str(v) for v in z["splits"]], [str(v) for v in z["classes"]]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{path}: not a FER2013 pack ({type(e).__name__}: {e})") from None
    if key not in splits:
        raise DataError(f"{path}: the pack has no '{key}' split (it has {', '.join(splits)})")
    jpeg, off, hb, ho = z["jpeg"], z["offsets"], z["headers"], z["header_offsets"]
    heads = [hb[ho[k]:ho[k + 1]] for k in range(len(ho) - 1)]
    files = z["names"].tobytes().decode().split("\n")
    xs, ys, names, skipped = [], [], [], Counter()
    for i in np.flatnonzero(z["split"] == splits.index(key)):
        cname = names_in[int(z["labels"][i])]
        try:
            target = classes.index_of(cname)
        except ValueError:
            skipped[f"unknown class '{cname}'"] += 1
            continue
        if target is None:
            skipped[f"class '{cname}' not in the class set"] += 1
            continue
        blob = jpeg[off[i]:off[i + 1]]
        img = cv2.imdecode(np.concatenate([heads[blob[0]], blob[1:]]), cv2.IMREAD_GRAYSCALE)
        if img is None:
            skipped["unreadable image"] += 1
            continue
        xs.append(resize(img, size))
        ys.append(target)
        names.append(f"{cname}/{files[i]}")
    if not xs:
        raise DataError(f"{path}: no readable images of the requested classes in '{key}'")
    return FaceData(np.stack(xs), np.array(ys, np.int64), classes.names, names, skipped)


def load_folder(root, split: str, classes: ClassSet, size: int = 48) -> FaceData:
    """``root/split/class/*.jpg`` to arrays; unknown class folders and unreadable files are counted."""
    key = _split_key(split)
    folder = Path(root) / key
    if not folder.is_dir():
        alt = Path(root) / SPLITS[key]
        if not alt.is_dir():
            raise DataError(f"no '{key}' folder under {root}")
        folder = alt
    xs, ys, names, skipped = [], [], [], Counter()
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not subdirs:
        raise DataError(f"{folder} has no class folders")
    for d in subdirs:
        try:
            target = classes.index_of(d.name)
        except ValueError:
            skipped[f"unknown class folder '{d.name}'"] += sum(1 for _ in d.iterdir())
            continue
        if target is None:
            skipped[f"class '{d.name}' not in the class set"] += sum(1 for _ in d.iterdir())
            continue
        for f in sorted(d.iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                skipped["not an image file"] += 1
                continue
            img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
            if img is None or img.size == 0:
                skipped["unreadable image"] += 1
                continue
            xs.append(resize(to_gray_u8(img), size))
            ys.append(target)
            names.append(f"{d.name}/{f.name}")
    if not xs:
        raise DataError(f"no readable images of the requested classes under {folder}")
    return FaceData(np.stack(xs), np.array(ys, np.int64), classes.names, names, skipped)


def load_csv(path, split: str, classes: ClassSet, size: int = 48) -> FaceData:
    """Kaggle ``emotion,pixels,Usage`` CSV to arrays; malformed rows are counted by reason."""
    key = _split_key(split)
    usage = SPLITS[key]
    xs, ys, names, skipped = [], [], [], Counter()
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        missing = {"emotion", "pixels"} - set(header)
        if missing:
            raise DataError(f"{path}: CSV header lacks {', '.join(sorted(missing))} (got {header})")
        ie, ip = header.index("emotion"), header.index("pixels")
        iu = header.index("usage") if "usage" in header else None
        if iu is None and key != "train":
            raise DataError(f"{path}: CSV has no 'Usage' column, so it holds no '{key}' split")
        for row_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < len(header):
                skipped["too few columns"] += 1
                continue
            if iu is not None and row[iu].strip() != usage:
                if row[iu].strip() not in SPLITS.values():
                    skipped[f"unknown Usage '{row[iu].strip()[:20]}'"] += 1
                continue
            try:
                label = int(row[ie])
                if not 0 <= label < len(FER2013_CLASSES):
                    raise ValueError
            except ValueError:
                skipped["bad emotion label"] += 1
                continue
            try:
                values = np.array(row[ip].split(), dtype=np.int64)
            except ValueError:
                skipped["non-numeric pixels"] += 1
                continue
            except OverflowError:  # found by fuzzing: a 19-digit "pixel"
                skipped["pixel value outside 0..255"] += 1
                continue
            side = int(round(np.sqrt(values.size)))
            if values.size == 0 or side * side != values.size:
                skipped["pixel count is not a square"] += 1
                continue
            if values.min() < 0 or values.max() > 255:
                skipped["pixel value outside 0..255"] += 1
                continue
            target = classes.index_of(FER2013_CLASSES[label])
            if target is None:
                continue
            xs.append(resize(values.astype(np.uint8).reshape(side, side), size))
            ys.append(target)
            names.append(f"row{row_no}")
    if not xs:
        raise DataError(f"{path}: no usable rows for split '{key}' ({dict(skipped) or 'none matched'})")
    return FaceData(np.stack(xs), np.array(ys, np.int64), classes.names, names, skipped)


def pixel_hash(img: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(img).tobytes(), digest_size=12).hexdigest()


def drop_leaks(train: FaceData, *others: FaceData, dedupe: bool = True) -> tuple[FaceData, dict]:
    """Remove from ``train`` images identical to any in ``others`` (leaks), and repeats within train."""
    held_out = {pixel_hash(im) for o in others for im in o.x}
    keep, seen, leaks, dups = [], set(), 0, 0
    for i, im in enumerate(train.x):
        h = pixel_hash(im)
        if h in held_out:
            leaks += 1
        elif dedupe and h in seen:
            dups += 1
        else:
            keep.append(i)
            seen.add(h)
    return train.subset(keep), {"leaks_removed": leaks, "duplicates_removed": dups, "kept": len(keep)}


def stratified_indices(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """About ``n`` indices with the class proportions of ``y`` (at least one per class), sorted."""
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = max(1, int(round(n * len(idx) / len(y))))
        out.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    return np.sort(np.concatenate(out))


def report(source, classes: ClassSet | str | None = None, blank_std: float = 2.0) -> dict:
    """Counts per split and class, duplicate groups, cross-split leaks and near-blank images."""
    cs = classes if isinstance(classes, ClassSet) else ClassSet.parse(classes)
    splits, owners = {}, {}
    for key in SPLITS:
        try:
            d = load(source, key, cs)
        except DataError as e:
            splits[key] = {"error": str(e)}
            continue
        blank = [d.names[i] for i, im in enumerate(d.x) if float(im.std()) < blank_std]
        splits[key] = {"n": len(d), "per_class": d.counts(), "near_blank": len(blank),
                       "near_blank_examples": blank[:10], "skipped": dict(d.skipped)}
        for name, im in zip(d.names, d.x):
            owners.setdefault(pixel_hash(im), []).append((key, name))
    groups = [v for v in owners.values() if len(v) > 1]
    leaks = [g for g in groups if len({s for s, _ in g}) > 1]
    return {"source": os.fspath(source), "classes": list(cs.names), "splits": splits,
            "duplicate_groups": len(groups), "duplicate_images": sum(len(g) for g in groups),
            "cross_split_groups": len(leaks),
            "cross_split_pairs": {f"{a}-{b}": sum(1 for g in leaks if {a, b} <= {s for s, _ in g})
                                  for a, b in (("train", "val"), ("train", "test"), ("val", "test"))},
            "leak_examples": [[f"{s}/{n}" for s, n in g] for g in leaks[:5]]}

