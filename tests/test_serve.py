"""`fer-edge serve`: routes, token, client limit, faults, load, and the page in a real browser (Chromium)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("aiohttp", reason="fer-edge serve needs the web extra (aiohttp)")

pytestmark = pytest.mark.runtime  # device runtime + aiohttp only

from loadtest import ServerProcess as Server, load_run  # noqa: E402
from command import FER_EDGE  # noqa: E402  (the installed command)

ROOT = Path(__file__).resolve().parents[1]
STANDINS = Path(__file__).parent / "standins"


@pytest.fixture(scope="module")
def env(tmp_path_factory, scene_faces):
    from test_runtime import _detectable

    npz = tmp_path_factory.mktemp("serve") / "faces.npz"
    np.savez(npz, faces=np.stack(_detectable(scene_faces, 2)))
    return {**os.environ, "PYTHONPATH": str(STANDINS),
            "FER_EDGE_STANDIN_FACES": str(npz), "DISPLAY": ""}


@pytest.fixture(scope="module")
def clip(tmp_path_factory, scene_faces) -> Path:
    """An 80-frame lossless video of two faces drifting across a scene, at 20 frames/s (4 s)."""
    from fer_edge.release.scenes import make_scene
    from test_runtime import _detectable

    base, _ = make_scene(_detectable(scene_faces, 2), [0, 1], np.random.default_rng(3), side_range=(120, 160))
    path = tmp_path_factory.mktemp("clip") / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 20, (640, 480))
    for i in range(80):
        w.write(np.roll(base, 2 * i, axis=1))
    w.release()
    return path


def _wait_for_faces(srv, n=1, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, body = srv.get(srv.q("/api/faces"))
        data = json.loads(body)
        if status == 200 and len(data["faces"]) >= n:
            return data
        time.sleep(0.1)
    raise AssertionError(f"no {n} faces in /api/faces within {timeout} s: {data}")


def _sse(srv, path="/events", limit=10_000, timeout=60):
    """Read server-sent events until the stream ends: [(event name, data)]."""
    out, name, data = [], "message", []
    with urllib.request.urlopen(srv.base + srv.q(path), timeout=timeout) as r:
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line == "":
                if data:
                    out.append((name, json.loads("\n".join(data))))
                    if len(out) >= limit:
                        break
                name, data = "message", []
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
    return out


@pytest.mark.slow
def test_video_file_routes_events_and_end(env, clip, tmp_path):
    log = tmp_path / "faces.jsonl"
    srv = Server(["--source", str(clip), "--json-out", str(log)], env)
    try:
        status, page = srv.get("/")
        assert status == 200 and b"<title>fer-edge</title>" in page and b'"happy"' in page  # labels inlined
        assert b"http://" not in page.replace(b"http://www.w3.org", b"") and b"https://" not in page  # no CDN
        events = _sse(srv)
    finally:
        rc = srv.stop(ended=True)
    assert rc == 0, srv.stderr
    frames = [d for n, d in events if n == "message"]
    assert events[-1][0] == "end" and events[-1][1]["status"] == "ended"
    assert len(frames) >= 10 and [f["frame"] for f in frames] == sorted({f["frame"] for f in frames})
    assert set(frames[-1]) == {"frame", "timestamp_ms", "cut", "ended", "faces", "fps", "latency_ms"}  # camera's, plus two
    face = frames[-1]["faces"][0]
    assert set(face) == {"track_id", "box", "detection_score", "emotion", "emotion_score", "probabilities", "keypoints"}
    assert abs(sum(face["probabilities"].values()) - 1) < 0.02 and face["emotion"] == max(
        face["probabilities"], key=face["probabilities"].get)
    assert set(frames[-1]["latency_ms"]) == {"capture", "detect", "classify", "track", "total"}
    # an 80-frame clip at 20 frames/s plays in about 4 s, not as fast as the CPU goes
    assert (frames[-1]["timestamp_ms"] - frames[0]["timestamp_ms"]) / max(1, frames[-1]["frame"] - frames[0]["frame"]) > 40
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == 80 and sum(len(x["faces"]) == 2 for x in lines) >= 60, [len(x["faces"]) for x in lines]
    summary = json.loads(srv.stderr.split("summary: ")[1].splitlines()[0])
    assert summary["frames"] == 80 and summary["stopped_by"] == "end of stream"


def test_stream_api_token_and_client_limit(env):
    srv = Server(["--source", "picamera2", "--token", "s3cret", "--max-clients", "3"], env)
    try:
        assert srv.token == "s3cret"
        for path in ("/", "/stream.mjpg", "/events", "/api/faces", "/api/faces?token=wrong"):
            status, body = srv.get(path)
            assert status == 401, path
        assert srv.get("/api/faces", {"Authorization": "Bearer s3cret"})[0] == 200
        data = _wait_for_faces(srv, 2)
        assert {f["track_id"] for f in data["faces"]} == {0, 1} and data["status"] == "running"
        # MJPEG: two whole JPEG frames, each decodable, with the faces drawn on
        with urllib.request.urlopen(srv.base + srv.q("/stream.mjpg"), timeout=30) as r:
            assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            jpegs = []
            while len(jpegs) < 2:
                line = r.readline()
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
                    r.readline()
                    jpegs.append(r.read(n))
            img = cv2.imdecode(np.frombuffer(jpegs[1], np.uint8), cv2.IMREAD_COLOR)
            assert img.shape == (480, 640, 3)
            assert hashlib.sha1(jpegs[0]).digest() != hashlib.sha1(jpegs[1]).digest()  # the faces move
            # the limit counts open connections: this stream and two more fill it
            others = [urllib.request.urlopen(srv.base + srv.q("/events"), timeout=30) for _ in range(2)]
            for o in others:
                o.readline()
            assert srv.get(srv.q("/api/faces"))[0] == 503
            for o in others:
                o.close()
        deadline = time.time() + 10
        while srv.get(srv.q("/api/faces"))[0] != 200 and time.time() < deadline:
            time.sleep(0.1)
        assert srv.get(srv.q("/api/faces"))[0] == 200  # closed connections free their places
        assert srv.get(srv.q("/api/faces"), timeout=5)[0] == 200
        req = urllib.request.Request(srv.base + srv.q("/api/faces"), data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 405  # read-only
        assert srv.get(srv.q("/../../etc/passwd"))[0] == 404
    finally:
        assert srv.stop() == 0, srv.stderr
    assert "summary: " in srv.stderr and "Traceback" not in srv.stderr


def test_other_addresses_need_a_token(env):
    from fer_edge.web.server import resolve_token

    assert resolve_token("127.0.0.1", None) is None and resolve_token("::1", None) is None
    assert resolve_token("localhost", "t") == "t"
    generated = resolve_token("0.0.0.0", None)
    assert generated and len(generated) >= 20 and generated != resolve_token("0.0.0.0", None)
    srv = Server(["--source", "picamera2", "--host", "0.0.0.0", "--max-frames", "100000"], env)
    try:
        assert srv.token and len(srv.token) >= 20  # generated and printed in the URL
        assert srv.get("/api/faces")[0] == 401 and srv.get(srv.q("/api/faces"))[0] == 200
    finally:
        srv.stop()
    r = subprocess.run([*FER_EDGE, "serve", "--token", " "], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--token must not be empty" in r.stderr and "Traceback" not in r.stderr


def test_camera_lost_ends_events_with_an_error_and_status_3(env, tmp_path):
    log = tmp_path / "faces.jsonl"
    e = {**env, "FER_EDGE_STANDIN_FRAMES": "60", "FER_EDGE_STANDIN_FAIL": "error"}
    srv = Server(["--source", "picamera2", "--json-out", str(log)], e)
    try:
        events = _sse(srv)
    finally:
        rc = srv.stop(ended=True)
    assert events[-1][0] == "error" and events[-1][1]["status"] == "error"
    assert "camera lost" in events[-1][1]["message"] and "unplugged" in events[-1][1]["message"]
    assert rc == 3
    assert len(log.read_text().splitlines()) == 60  # every frame written before the camera died
    err = [x for x in srv.lines if x.startswith("error:")]
    assert len(err) == 1 and "Traceback" not in srv.stderr


def test_port_in_use_and_missing_source_are_one_line(env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([*FER_EDGE, "serve", "--source", "picamera2", "--port",
                            str(port)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*FER_EDGE, "serve", "--source", "/nonexistent.mp4"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "/nonexistent.mp4: no such file" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_many_and_slow_clients_do_not_slow_the_recognizer(env, clip):
    srv = Server(["--source", str(clip), "--loop", "--no-realtime", "--max-clients", "40"], env)
    try:
        _wait_for_faces(srv, 2)
        r = load_run(srv, seconds=8.0, streams=20, events=5, slow=5)
    finally:
        srv.stop()
    assert r["clients_alive"] == 25 and r["client_errors"] == 0 and r["bytes"] > 1_000_000
    # serving 25 clients costs the server under a quarter more CPU a frame, so one core held by the recognizer
    # keeps >= 80% of its frames (a free core keeps them all: benchmarks/web_load.py) ...
    assert r["cpu_ms_per_frame_clients"] <= 1.25 * r["cpu_ms_per_frame_alone"], r
    # ... and the recognizer never waits for a client (slow readers would hold it to a few frames a second)
    assert r["fps_clients"] >= 0.5 * r["fps_alone"], r
    assert max(r["rss_kb"]) - r["rss_kb"][0] < 20_000, r  # memory flat (< 20 MB over the window)


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_chromium() is None or shutil.which("chromedriver") is None,
                    reason="no Chromium + chromedriver (Debian: apt install chromium chromium-driver)")
def test_page_in_a_real_browser(env, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    srv = Server(["--source", "picamera2", "--token", "browser-test"], env)
    opts = webdriver.ChromeOptions()
    opts.binary_location = _chromium()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000", "--disable-dev-shm-usage"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        _wait_for_faces(srv, 2)
        driver.get(srv.url)
        frame_of = lambda: driver.execute_script("return document.getElementById('frame').textContent")  # noqa: E731
        deadline = time.time() + 60
        while time.time() < deadline and not frame_of().isdigit():
            time.sleep(0.2)
        first = int(frame_of())
        # the stream image updates: its pixels, drawn onto a canvas, differ a moment later
        snap = ("const i=document.getElementById('stream'); if(!i.naturalWidth) return null;"
                "const c=document.createElement('canvas'); c.width=i.naturalWidth; c.height=i.naturalHeight;"
                "const g=c.getContext('2d'); g.drawImage(i,0,0); return c.toDataURL('image/png');")
        deadline = time.time() + 30
        while time.time() < deadline and driver.execute_script(snap) is None:
            time.sleep(0.2)
        a = driver.execute_script(snap)
        time.sleep(1.5)
        b = driver.execute_script(snap)
        assert a is not None and b is not None and a != b
        assert int(frame_of()) > first  # events arrive
        # the bars show the emotions /api/faces reports, face by face
        deadline, matches = time.time() + 30, 0
        while time.time() < deadline and matches < 3:  # three times, on different frames, with two faces
            shown = driver.execute_script(
                "return [...document.querySelectorAll('.face')].map(f => [f.dataset.track, f.dataset.emotion])")
            api = json.loads(srv.get(srv.q("/api/faces"))[1])
            if len(shown) == 2 and sorted(shown) == sorted([str(f["track_id"]), f["emotion"]] for f in api["faces"]):
                matches += 1
            time.sleep(0.3)
        assert matches == 3, (shown, api["faces"])
        widths = driver.execute_script(
            "return [...document.querySelectorAll('.face')[0].querySelectorAll('.fill')].map(e => e.style.width)")
        assert len(widths) == 7 and abs(sum(float(w.rstrip('%')) for w in widths) - 100) < 2
        driver.save_screenshot(str(tmp_path / "serve.png"))
        if os.environ.get("FER_EDGE_SCREENSHOT"):
            shutil.copy(tmp_path / "serve.png", os.environ["FER_EDGE_SCREENSHOT"])
        assert (tmp_path / "serve.png").stat().st_size > 10_000
    finally:
        driver.quit()
        srv.stop()
