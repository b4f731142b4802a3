"""The DeepStack-compatible POST /v1/vision/face, posted to by a real HTTP client (aiohttp), as DeepStack /
CodeProject.AI clients post: multipart field `image`, the key in the `api_key` field."""
from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import threading

import cv2
import numpy as np
import pytest

aiohttp = pytest.importorskip("aiohttp", reason="the web extra (aiohttp) is not installed")

from conftest import ROOT  # noqa: E402

from fer_edge import EmotionRecognizer, RecognizerOptions  # noqa: E402
from fer_edge.web.face_api import FaceApi  # noqa: E402
from fer_edge.web.server import WebServer  # noqa: E402
from command import FER_EDGE  # noqa: E402  (the installed command)

GROUP = ROOT / "examples" / "images" / "group.jpg"


class GatedApi(FaceApi):
    """Recognition waits for the test's word, so "the queue is full" is a state the test sets, not a race."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.gate, self.entered = threading.Event(), threading.Semaphore(0)

    def _recognize(self, data):
        self.entered.release()
        self.gate.wait(30)
        return super()._recognize(data)


@pytest.fixture
def server():
    servers = []

    def start(api=None, token="secret"):
        web = WebServer("127.0.0.1", 0, token, face_api=api or FaceApi(RecognizerOptions()))
        web.start()
        servers.append(web)
        return web

    yield start
    for web in servers:
        web.finish("ended", "test over", grace_s=0)


def post(url, image: bytes | None, *, api_key=None, headers=None, field="image", times=1):
    async def one(session):
        form = aiohttp.FormData()
        if api_key is not None:
            form.add_field("api_key", api_key)
        if image is not None:
            form.add_field(field, image, filename="frame.jpg", content_type="image/jpeg")
        async with session.post(url, data=form, headers=headers or {}) as r:
            return r.status, await r.json()

    async def main():
        async with aiohttp.ClientSession() as s:
            return await asyncio.gather(*(one(s) for _ in range(times)))

    out = asyncio.run(main())
    return out if times > 1 else out[0]


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix, iy = max(0, min(ax + aw, bx + bw) - max(ax, bx)), max(0, min(ay + ah, by + bh) - max(ay, by))
    return ix * iy / (aw * ah + bw * bh - ix * iy)


def test_faces_come_back_as_deepstack_predictions_with_emotions(server):
    web = server()
    url = f"http://127.0.0.1:{web.port}/v1/vision/face"
    jpg = GROUP.read_bytes()
    status, body = post(url, jpg, api_key="secret")
    assert status == 200 and body["success"] is True, body
    assert body["inferenceMs"] > 0 and body["processMs"] >= body["inferenceMs"]
    with EmotionRecognizer(RecognizerOptions()) as rec:
        direct = rec.recognize(cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR))
    preds = body["predictions"]
    assert len(preds) == len(direct) == 3
    for p, f in zip(preds, direct):
        assert set(p) == {"confidence", "x_min", "y_min", "x_max", "y_max", "emotion", "emotion_score", "emotions"}
        box = (p["x_min"], p["y_min"], p["x_max"] - p["x_min"], p["y_max"] - p["y_min"])
        assert iou(box, f.box) >= 0.9 and p["emotion"] == f.emotion
        assert abs(p["confidence"] - f.detection_score) < 1e-3 and p["emotions"][p["emotion"]] == p["emotion_score"]
    assert {p["emotion"] for p in preds} == {"happy", "surprise", "neutral"}
    # the key three ways: the form field (DeepStack clients), ?token=, Bearer
    assert post(url + "?token=secret", jpg)[0] == 200
    assert post(url, jpg, headers={"Authorization": "Bearer secret"})[0] == 200


def test_errors_are_answered_as_deepstack_answers_them(server):
    web = server(FaceApi(RecognizerOptions(), max_upload_mb=0.05))
    url = f"http://127.0.0.1:{web.port}/v1/vision/face"
    jpg = cv2.imencode(".jpg", cv2.resize(cv2.imread(str(GROUP)), (160, 120)))[1].tobytes()
    cases = {
        "no key": (post(url, jpg), 401),
        "wrong key": (post(url, jpg, api_key="nope"), 401),
        "not an image": (post(url, b"%PDF-1.4 not a picture", api_key="secret"), 400),
        "empty": (post(url, b"", api_key="secret"), 400),
        "no image field": (post(url, jpg, api_key="secret", field="file"), 400),
        "too large": (post(url, np.random.default_rng(0).bytes(80_000), api_key="secret"), 413),
    }
    for name, ((status, body), want) in cases.items():
        assert status == want and body["success"] is False and body["code"] == want, (name, status, body)
        assert body["error"] and "Traceback" not in body["error"], name
    assert "larger than 0.05 MB" in cases["too large"][0][1]["error"]  # the limit as given, not 0.0499992
    assert post(url, jpg, api_key="secret")[0] == 200  # and the server still answers


def test_a_full_queue_is_answered_503_at_once(server):
    api = GatedApi(RecognizerOptions(), workers=1, queue_size=1)
    web = server(api, token=None)
    url = f"http://127.0.0.1:{web.port}/v1/vision/face"
    jpg = GROUP.read_bytes()
    results = {}

    def burst():
        results["all"] = post(url, jpg, times=4)

    t = threading.Thread(target=burst)
    t.start()
    assert api.entered.acquire(timeout=30)  # one in the worker, one waiting: the other two find it full
    threading.Timer(1.0, api.gate.set).start()
    t.join(60)
    codes = sorted(s for s, _ in results["all"])
    assert codes == [200, 200, 503, 503], results
    busy = [b for s, b in results["all"] if s == 503]
    assert all(b["success"] is False and "busy" in b["error"] for b in busy)


async def _get(port, *paths):
    async with aiohttp.ClientSession() as s:
        out = []
        for path in paths:
            async with s.get(f"http://127.0.0.1:{port}{path}") as r:
                out.append((r.status, await r.text()))
        return out


def test_serve_no_camera_is_an_inference_server(tmp_path):
    p = subprocess.Popen([*FER_EDGE, "serve", "--no-camera", "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stderr.readline()
        port = int(re.search(r":(\d+)/", line).group(1))
        status, body = post(f"http://127.0.0.1:{port}/v1/vision/face", GROUP.read_bytes())
        assert status == 200 and len(body["predictions"]) == 3
        # without a camera, / tells how to call the API and /api/faces says there is no camera
        page, faces, stream = asyncio.run(_get(port, "/", "/api/faces", "/events"))
        assert page[0] == 200 and "/v1/vision/face" in page[1] and "curl -F image=@" in page[1]
        assert "stream.mjpg" not in page[1] and "not needed here" in page[1]
        assert faces[0] == 200 and '"status": "no camera"' in faces[1]
        assert stream[0] == 404 and "no camera" in stream[1]
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    assert p.returncode == 0 and '"images": 1' in err, err
    r = subprocess.run([*FER_EDGE, "serve", "--no-camera", "--mqtt", "mqtt://x"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().startswith("error: --no-camera"), r.stderr
