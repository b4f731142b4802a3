"""The wheel holds what the device needs (models, detector files, licence, py.typed) and nothing it does not."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_wheel_contents(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-w", str(tmp_path), "-q"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "absent from the `packages` configuration" not in r.stderr + r.stdout
    wheel, = tmp_path.glob("fer_edge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for must in ("fer_edge/models/fer_edge_default.tflite", "fer_edge/models/fer_edge_default.md",
                 "fer_edge/assets/face_detection_short_range.tflite", "fer_edge/assets/face_detection_full_range.tflite",
                 "fer_edge/assets/face_landmark.tflite",
                 "fer_edge/assets/LICENSE-blazeface.txt", "fer_edge/py.typed", "fer_edge/cli.py",
                 "fer_edge/converters/tflite.py", "fer_edge/training/campaign.py"):
        assert must in names, must
    assert not [n for n in names if n.startswith(("tests/", "results/", "benchmarks/", "runs/", "examples/"))]
    assert not [n for n in names if n.endswith((".keras", ".npz", ".csv"))]
