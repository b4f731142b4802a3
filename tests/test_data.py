"""Data in: the Kaggle CSV and image folders give the same arrays; bad rows are counted; leaks found."""
import csv

import cv2
import numpy as np
import pytest

from fer_edge.labels import FER2013_CLASSES, ClassSet
from fer_edge.training.data import DataError, drop_leaks, load, report, stratified_indices


def _write_pair(tmp_path, faces, labels):
    """The same faces as a FER2013 CSV (CSV label order) and as PNG folders (alphabetical folder names)."""
    csv_path = tmp_path / "fer2013.csv"
    with open(csv_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        for i, (f, lab) in enumerate(zip(faces, labels)):
            usage = "Training" if i % 3 else "PublicTest"
            w.writerow([lab, " ".join(str(int(v)) for v in f.reshape(-1)), usage])
            split = "train" if i % 3 else "val"
            folder = tmp_path / "folders" / split / FER2013_CLASSES[lab]
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{i:04d}.png"), f)
    return csv_path, tmp_path / "folders"


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (42, 48, 48), dtype=np.uint8)
    labels = [i % 7 for i in range(42)]
    return _write_pair(tmp_path, faces, labels), faces, labels


@pytest.mark.parametrize("classes", [None, "neutral,surprise,happy,sad", "angry,calm=sad+neutral"])
def test_csv_and_folders_load_identically(pair, classes):
    (csv_path, folders), _, _ = pair
    for split in ("train", "val"):
        a, b = load(csv_path, split, classes), load(folders, split, classes)
        order_a, order_b = np.lexsort([a.y, a.x.reshape(len(a), -1).sum(1)]), np.lexsort([b.y, b.x.reshape(len(b), -1).sum(1)])
        assert a.classes == b.classes == ClassSet.parse(classes).names
        assert np.array_equal(a.x[order_a], b.x[order_b]) and np.array_equal(a.y[order_a], b.y[order_b])


def test_csv_labels_follow_csv_order(pair):
    (csv_path, _), faces, labels = pair
    d = load(csv_path, "train")
    i = 1  # row 1 is Training with label 1 (disgust)
    assert np.array_equal(d.x[0], faces[i]) and d.classes[d.y[0]] == "disgust"


def test_malformed_csv_rows_are_counted(tmp_path):
    p = tmp_path / "bad.csv"
    good = " ".join(["7"] * 2304)
    p.write_text("emotion,pixels,Usage\n"
                 f"3,{good},Training\n"
                 f"9,{good},Training\n"          # unknown label
                 f"x,{good},Training\n"          # non-numeric label
                 "2,1 2 3,Training\n"            # wrong pixel count
                 f"1,{good.replace('7', 'a', 1)},Training\n"  # non-numeric pixel
                 f"1,{good.replace('7', '300', 1)},Training\n"  # out of range
                 "0,9223372036854775808,Training\n"  # overflows int64 (found by fuzzing)
                 f"4,{good},Elsewhere\n"         # unknown usage
                 "5\n")                          # too few columns
    d = load(p, "train")
    assert len(d) == 1
    assert d.skipped == {"bad emotion label": 2, "pixel count is not a square": 1, "non-numeric pixels": 1,
                         "pixel value outside 0..255": 2, "unknown Usage 'Elsewhere'": 1, "too few columns": 1}


def test_csv_without_usage_has_only_train(tmp_path):
    p = tmp_path / "nousage.csv"
    p.write_text("emotion,pixels\n3," + " ".join(["1"] * 2304) + "\n")
    assert len(load(p, "train")) == 1
    with pytest.raises(DataError, match="no 'Usage' column"):
        load(p, "val")


def test_folder_errors_and_unknown_classes(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load(tmp_path / "nothing", "train")
    (tmp_path / "train").mkdir()
    with pytest.raises(DataError, match="no class folders"):
        load(tmp_path, "train")
    (tmp_path / "train" / "happy").mkdir()
    (tmp_path / "train" / "contempt").mkdir()
    cv2.imwrite(str(tmp_path / "train" / "happy" / "a.png"), np.zeros((48, 48), np.uint8))
    cv2.imwrite(str(tmp_path / "train" / "contempt" / "b.png"), np.zeros((48, 48), np.uint8))
    (tmp_path / "train" / "happy" / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    (tmp_path / "train" / "happy" / "readme.txt").write_text("hi")
    d = load(tmp_path, "train")
    assert len(d) == 1 and d.skipped == {"unknown class folder 'contempt'": 1, "unreadable image": 1,
                                         "not an image file": 1}
    with pytest.raises(DataError, match="unknown split"):
        load(tmp_path, "holdout")


def test_report_finds_duplicates_leaks_and_blanks(tmp_path):
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 256, (21, 48, 48), dtype=np.uint8)
    faces[5] = faces[4]            # duplicate inside train (i%3 != 0 for 4 and 5)
    faces[6] = faces[7]            # 6 is val, 7 is train: a cross-split leak
    faces[8] = 100                 # near-blank
    (csv_path, folders) = _write_pair(tmp_path, faces, [i % 7 for i in range(21)])
    rep = report(folders)
    assert rep["duplicate_groups"] == 2 and rep["cross_split_groups"] == 1
    assert rep["cross_split_pairs"]["train-val"] == 1
    assert rep["splits"]["train"]["near_blank"] == 1
    assert "error" in rep["splits"]["test"]
    train, val = load(folders, "train"), load(folders, "val")
    cleaned, info = drop_leaks(train, val)
    assert info == {"leaks_removed": 1, "duplicates_removed": 1, "kept": len(train) - 2}


@pytest.mark.runtime
def test_stratified_indices_keep_proportions():
    y = np.repeat(np.arange(4), [100, 10, 50, 40])
    idx = stratified_indices(y, 40, seed=3)
    counts = np.bincount(y[idx], minlength=4)
    assert counts.tolist() == [20, 2, 10, 8]
    assert np.array_equal(idx, stratified_indices(y, 40, seed=3))


@pytest.mark.runtime
def test_real_fer2013_split_counts(fer_root):
    """The shared copy, read through our loader, has the README's counts."""
    d = load(fer_root, "val")
    assert len(d) == 3589
    assert d.counts() == {"angry": 467, "disgust": 56, "fear": 496, "happy": 895, "sad": 653, "surprise": 415,
                          "neutral": 607}
