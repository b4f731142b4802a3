"""The demos, run as a user runs them, against a stand-in Pi camera and a synthetic video."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_edge.release.scenes import make_scene

pytestmark = pytest.mark.runtime  # device runtime only: runs under aarch64 emulation too

ROOT = Path(__file__).resolve().parents[1]
STANDINS = Path(__file__).parent / "standins"


@pytest.fixture(scope="module")
def standin_env(tmp_path_factory, scene_faces):
    from test_runtime import _detectable

    faces = np.stack(_detectable(scene_faces, 2))
    npz = tmp_path_factory.mktemp("cam") / "faces.npz"
    np.savez(npz, faces=faces)
    return {**os.environ, "PYTHONPATH": str(STANDINS),
            "FER_EDGE_STANDIN_FACES": str(npz), "DISPLAY": ""}


def _demo(args, env, **kw):
    return subprocess.run([sys.executable, str(ROOT / "examples" / "pi_camera.py"), *args], env=env,
                          capture_output=True, text=True, timeout=180, **kw)


def test_pi_demo_reports_the_faces_headless(standin_env, tmp_path):
    out = tmp_path / "faces.jsonl"
    p = _demo(["--max-frames", "12", "--json-out", str(out), "--snapshot-dir", str(tmp_path / "snaps"),
               "--snapshot-every", "0.0001"], standin_env)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(12))
    assert all(len(r["faces"]) == 2 for r in lines)
    ids = {f["track_id"] for r in lines for f in r["faces"]}
    assert ids == {0, 1}  # two people, tracked across all 12 frames
    summary = json.loads(p.stderr.split("summary: ")[1].splitlines()[0])
    assert summary["frames"] == 12 and summary["faces"] == 24 and sum(summary["emotions"].values()) == 24
    assert summary["stopped_by"] == "max frames"
    assert len(list((tmp_path / "snaps").glob("*.jpg"))) >= 1


@pytest.mark.parametrize("how", ["timeout", "error"])
def test_camera_lost_mid_stream_stops_cleanly(standin_env, tmp_path, how):
    out = tmp_path / "faces.jsonl"
    env = {**standin_env, "FER_EDGE_STANDIN_FRAMES": "5", "FER_EDGE_STANDIN_FAIL": how}
    p = _demo(["--json-out", str(out)], env)
    assert p.returncode == 3
    assert len(out.read_text().splitlines()) == 5  # nothing captured was lost
    err = [x for x in p.stderr.splitlines() if x.startswith("error:")]
    assert len(err) == 1 and ("no frame" in err[0] or "unplugged" in err[0])
    assert "Traceback" not in p.stderr


def test_sigterm_ends_with_a_summary(standin_env, tmp_path):
    out = tmp_path / "faces.jsonl"
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / "pi_camera.py"), "--json-out", str(out)],
                            env=standin_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    summary = json.loads(err.split("summary: ")[1].splitlines()[0])
    assert summary["stopped_by"] == "SIGTERM" and summary["frames"] >= 3


def test_missing_picamera2_is_one_line(tmp_path):
    env = {**os.environ, "DISPLAY": ""}
    p = _demo(["--max-frames", "1"], env)
    if p.returncode == 0:
        pytest.skip("a real picamera2 is installed here")
    assert p.returncode == 2 and p.stderr.strip().startswith("error: picamera2 is not installed")
    assert len(p.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_video_demo_timeline(tmp_path, scene_faces):
    from test_runtime import _detectable

    base, placed = make_scene(_detectable(scene_faces, 2), [0, 1], np.random.default_rng(4), side_range=(120, 160))
    video = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 10, (640, 480))  # lossless
    for i in range(20):
        w.write(np.roll(base, 3 * i, axis=1))
    w.release()
    # as on the device install (`pip install .`): no matplotlib, tqdm or TensorFlow to import
    absent = tmp_path / "absent"
    absent.mkdir()
    for mod in ("matplotlib", "tqdm", "tensorflow"):
        (absent / f"{mod}.py").write_text(f"raise ModuleNotFoundError(\"No module named '{mod}'\", name='{mod}')\n")
    env = {**os.environ, "PYTHONPATH": str(absent)}
    p = subprocess.run([sys.executable, str(ROOT / "examples" / "video.py"), str(video), "--out", str(tmp_path / "o")],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = (tmp_path / "o" / "clip_timeline.csv").read_text().splitlines()
    assert rows[0].startswith("face,frame,t_s,x,y,w,h,emotion,angry")
    assert len(rows) - 1 == 40  # 2 faces x 20 frames
    tl = json.loads((tmp_path / "o" / "clip_timeline.json").read_text())
    assert sorted(tl) == ["0", "1"] and all(len(v) == 20 for v in tl.values())
    png = cv2.imread(str(tmp_path / "o" / "clip_timeline.png"))
    assert png is not None and png.shape[1] == 900  # a picture of two panels, one line per emotion in its colour
    from fer_edge.drawing import COLORS
    drawn = {lab for lab, c in COLORS.items() if (np.abs(png.astype(int) - c).sum(2) < 30).sum() > 50}
    assert len(drawn) >= 5, drawn
    cap = cv2.VideoCapture(str(tmp_path / "o" / "clip_annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20


def test_image_example_is_short_and_works():
    src = (ROOT / "examples" / "image.py").read_text().splitlines()
    assert len(src) < 15
    p = subprocess.run([sys.executable, str(ROOT / "examples" / "image.py")], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and len(p.stdout.strip().splitlines()) == 3
