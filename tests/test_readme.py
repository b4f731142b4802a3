"""Every Python block of README.md runs as written, from the repository root."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.runtime  # device runtime only: runs under aarch64 emulation too

ROOT = Path(__file__).parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_has_python_blocks():
    assert BLOCKS


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_python_block_runs(i):
    r = subprocess.run([sys.executable, "-c", BLOCKS[i]], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    if "recognize(image)" in BLOCKS[i]:
        assert "happy" in r.stdout and "surprise" in r.stdout  # the example image's faces, really recognised


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    """The README's two bash set-up commands: install + predict, install + tests; .ci/run runs the second verbatim."""
    cmds = [c.strip() for c in re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)]
    setup = [c for c in cmds if c.startswith("pip install")]
    assert len(setup) == 2 and "fer-edge predict" in setup[0] and "pytest" in setup[1], setup
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert setup[1] in ci, (setup[1], ci)


def _iou(a, b):
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def test_the_example_output_holds_as_faces_boxes_and_emotions_not_digits():
    """Each face the README shows is found again, its box within IoU 0.9 and with the same emotion; the digits
    themselves move with the CPU and the OpenCV release, so they are not compared."""
    import json

    from command import FER_EDGE

    shown = re.findall(r"^examples/images/group\.jpg\t\[(\d+), (\d+), (\d+), (\d+)\]\t(\w+) ",
                       (ROOT / "README.md").read_text(), re.M)
    assert len(shown) == 3
    r = subprocess.run([*FER_EDGE, "predict", "examples/images/group.jpg", "--json"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    faces = json.loads(r.stdout)["faces"]
    assert len(faces) == len(shown)
    for *box, emotion in shown:
        box = [int(v) for v in box]
        best = max(faces, key=lambda f: _iou(box, f["box"]))
        assert _iou(box, best["box"]) >= 0.9 and best["emotion"] == emotion, (box, emotion, best)

