"""`fer-edge convert MODEL --int8` with no other flag, calibration from any face source (issue 17)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from fer_edge.metadata import read_keras_metadata, write_keras_metadata
from command import FER_EDGE

ROOT = Path(__file__).parents[1]
MODEL = ROOT / "tests" / "fixtures" / "edge-s" / "model.keras"


def _cli(*args, env=None):
    e = {k: v for k, v in os.environ.items() if k != "FER2013_ROOT"}
    return subprocess.run([*FER_EDGE, *map(str, args)], capture_output=True, text=True,
                          env={**e, **(env or {})}, timeout=900, cwd=ROOT)


def _recording(data, tmp_path) -> Path:
    """The fixture model, as if trained on ``data`` (where this machine keeps FER2013: ../shared or
    $FER2013_ROOT), in a folder of its own: what `fer-edge train` leaves a user."""
    model = tmp_path / "run" / "model.keras"
    model.parent.mkdir()
    shutil.copy(MODEL, model)
    meta = read_keras_metadata(model)
    meta.training.update(data=str(Path(data).resolve()), data_from_model=os.path.relpath(Path(data).resolve(),
                                                                                          model.parent))
    write_keras_metadata(model, meta)
    return model


@pytest.mark.slow
def test_convert_int8_with_no_other_flag_uses_the_recorded_data(fer_root, tmp_path):
    r = _cli("convert", _recording(fer_root, tmp_path), "--int8", "-o", tmp_path / "out", "--parity-limit", "400")
    assert r.returncode == 0, r.stderr[-1500:]
    assert "calibration: " in r.stderr and "recorded with the model" in r.stderr
    assert (tmp_path / "out" / "model_int8.tflite").exists() and (tmp_path / "out" / "parity.md").exists()
    assert "parity int8: accuracy" in r.stdout and "-> pass" in r.stdout
    from fer_edge.metadata import read_tflite_metadata  # calibrated on the same labelled val/ faces

    cal = read_tflite_metadata((tmp_path / "out" / "model_int8.tflite").read_bytes()).score_calibration
    assert 0.2 < cal["temperature"] < 5 and len(cal["balanced_offsets"]) == 7 and "val/" in cal["fitted_on"]
    assert "score calibration: model_int8.tflite: temperature" in r.stdout
    assert "cuda" not in (r.stdout + r.stderr).lower() and "absl" not in r.stderr  # quiet by default
    assert [ln for ln in r.stderr.splitlines() if not ln.startswith("calibration: ")] == []  # ours only


def test_no_calibration_source_is_one_line_before_tensorflow(tmp_path):
    model = tmp_path / "m.keras"
    shutil.copy(MODEL, model)
    meta = read_keras_metadata(model)
    meta.training.pop("data", None)
    meta.training.pop("data_from_model", None)
    write_keras_metadata(model, meta)
    # refused before TensorFlow loads: with TensorFlow made unimportable the answer is still about calibration
    block = "import sys; sys.modules['tensorflow'] = sys.modules['keras'] = None; from fer_edge.cli import main; main()"
    env = {k: v for k, v in os.environ.items() if k != "FER2013_ROOT"}
    r = subprocess.run([sys.executable, "-c", block, "convert", str(model), "--int8", "-o", str(tmp_path / "never")],
                       capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--calibration" in r.stderr, r.stderr
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_calibration_from_a_flat_folder_of_faces(fer_root, tmp_path):
    flat = tmp_path / "faces"
    flat.mkdir()
    for i, f in enumerate(sorted((fer_root / "train").glob("*/*.jpg"))[::400][:60]):
        cv2.imwrite(str(flat / f"{i}.png"), cv2.imread(str(f)))
    # no --data: parity on the data the model records (the flat folder has no labels)
    r = _cli("convert", _recording(fer_root, tmp_path), "--int8", "--calibration", flat, "-o", tmp_path / "o2",
             "--parity-limit", "300")
    assert r.returncode == 0, r.stderr[-1500:]
    assert (tmp_path / "o2" / "model_int8.tflite").exists() and f"faces from {flat}" in r.stdout + r.stderr
    assert "(recorded with the model)" in r.stderr and "parity int8: accuracy" in r.stdout
    bare = tmp_path / "bare.keras"  # ... and a model that records none: parity is skipped and says why
    shutil.copy(MODEL, bare)
    meta = read_keras_metadata(bare)
    meta.training.pop("data", None)
    meta.training.pop("data_from_model", None)
    write_keras_metadata(bare, meta)
    r = _cli("convert", bare, "--int8", "--calibration", flat, "-o", tmp_path / "o3", "--no-enforce")
    assert r.returncode == 0 and "parity: skipped: it needs labelled val/ faces" in r.stdout
    assert "score calibration: skipped" in r.stdout
