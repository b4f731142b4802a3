"""The runtime's answers on aarch64 (qemu-user emulation, tools/aarch64.py) against this machine's.

Runs where `python tools/aarch64.py setup` has been done (it needs root, Debian's registry and PyPI);
skipped with the reason elsewhere. The full comparison (700 faces, 41 images) is
`python tools/aarch64.py compare`; this is its small, quick form.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "benchmarks")]
import aarch64  # noqa: E402

TARGET = aarch64.Target("bookworm")
pytestmark = [
    pytest.mark.aarch64,
    pytest.mark.skipif(not TARGET.python.exists() or shutil.which("qemu-aarch64-static") is None,
                       reason="no emulated aarch64 Python: run `python tools/aarch64.py setup` (root, Debian + PyPI)"),
]


def test_aarch64_gives_the_same_answers(fer_root, tmp_path):
    TARGET.install_fer_edge()  # this checkout's code and models, not the wheel an earlier setup left there
    script = ROOT / "benchmarks" / "arch_compare.py"
    args = ["dump", "--per-class", "4", "--scenes", "3"]
    subprocess.run([sys.executable, "-P", str(script), args[0], str(tmp_path / "x86.npz"), *args[1:]], check=True,
                   capture_output=True, cwd=ROOT)
    r = TARGET.exec([str(script), args[0], str(tmp_path / "arm.npz"), *args[1:]], capture_output=True, text=True,
                    cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    arm = np.load(tmp_path / "arm.npz")
    assert '"machine": "aarch64"' in str(arm["meta"])
    from arch_compare import report

    res = report(tmp_path / "x86.npz", tmp_path / "arm.npz", tmp_path / "report")  # refuses two classifiers
    assert res["a"]["classifier"] == res["b"]["classifier"]
    assert res["faces"]["n"] == 28 and res["faces"]["top1_agreement"] == 1.0
    assert res["faces"]["prob_abs_diff_max"] <= 0.01  # at most a couple of INT8 output steps (1/256)
    assert res["detector"]["images_with_other_count"] == 0 and res["detector"]["iou_min"] >= 0.98
    assert res["recognizer"]["images_with_other_count"] == 0 and res["recognizer"]["emotion_agreement"] == 1.0

