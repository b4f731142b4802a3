"""MQTT against a real Mosquitto broker: topics and payloads, Home Assistant discovery, a broker restart that
loses nothing, bad credentials, and a fleet of cameras seen by `fer-edge monitor`."""
from __future__ import annotations

import json
import signal
import subprocess
import threading
import time

import cv2
import numpy as np
import pytest

paho = pytest.importorskip("paho.mqtt.client", reason="the mqtt extra (paho-mqtt) is not installed")

from brokers import Broker  # noqa: E402
from conftest import ROOT  # noqa: E402

from fer_edge.mqtt import MqttOptions, MqttPublisher, discovery_messages, parse_mqtt_url  # noqa: E402
from fer_edge.mqtt.discovery import REQUIRED  # noqa: E402
from fer_edge.recognizer import FaceResult, FrameResult  # noqa: E402
from fer_edge.summary import summarize  # noqa: E402
from command import FER_EDGE  # noqa: E402  (the installed command)

LABELS = ["angry", "happy", "neutral"]


class Listener:
    """A subscriber that keeps every message: (topic, payload, retain)."""

    def __init__(self, url, topic="#", client_id=None, persistent=False):
        b = parse_mqtt_url(url)
        self.messages, self.lock = [], threading.Lock()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id or "", clean_session=not persistent)
        if b.username:
            self.c.username_pw_set(b.username, b.password)
        self.c.on_message = self._on
        self.subscribed = threading.Event()
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.c.on_subscribe = lambda *a: self.subscribed.set()
        self.c.reconnect_delay_set(1, 2)
        self.c.connect(b.host, b.port)
        self.c.loop_start()
        assert self.subscribed.wait(5)

    def _on(self, c, u, m):
        with self.lock:
            self.messages.append((m.topic, m.payload, m.retain))

    def of(self, suffix):
        with self.lock:
            return [(t, p, r) for t, p, r in self.messages if t.endswith(suffix)]

    def bodies(self, suffix):
        return [json.loads(p) for _, p, _ in self.of(suffix)]

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def face(track_id, emotion):
    return FaceResult((10, 10, 50, 50), 0.9, emotion, 0.7, {lab: (0.7 if lab == emotion else 0.15) for lab in LABELS},
                      (), track_id)


def frames(n=30, step_ms=40.0):
    """Person 0 happy then neutral, leaving at frame 20; person 1 from frame 10 on, angry."""
    out = []
    for i in range(n):
        faces = ([face(0, "happy" if i < 12 else "neutral")] if i < 20 else []) + ([face(1, "angry")] if i >= 10 else [])
        out.append(FrameResult(i, i * step_ms, faces, ended=(0,) if i == 20 else ()))
    return out


def wait_for(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def publisher(broker, tmp_path, **kw):
    opts = MqttOptions(broker.url, device_id=kw.pop("device_id", "cam1"), spool_path=tmp_path / "spool.sqlite", **kw)
    return MqttPublisher(opts, LABELS, log=lambda m: None)


def test_topics_and_payloads(broker, tmp_path):
    sub = Listener(broker.url)
    pub = publisher(broker, tmp_path, interval_s=0.1, frames=True)
    pub.start()
    results = frames()
    for r in results:
        pub.on_frame(None, r)
        time.sleep(0.01)
    done = pub.close()
    assert done["left"] == 0 and done["dropped"] == 0
    assert wait_for(lambda: sub.of("availability")[-1:] and sub.of("availability")[-1][1] == b"offline")
    assert [p for _, p, _ in sub.of("cam1/availability")] == [b"online", b"offline"]
    states = sub.bodies("cam1/state")
    assert len(states) >= 2
    for s in states:
        assert set(s) == {"device_id", "time", "face_count", "emotion", "shares", "fps", "frames", "dropped", "spooled"}
        assert s["device_id"] == "cam1" and set(s["shares"]) == set(LABELS) and s["fps"] > 0
        if s["emotion"] is not None:
            assert abs(sum(s["shares"].values()) - 1) < 1e-3 and s["shares"][s["emotion"]] == max(s["shares"].values())
    assert sum(s["frames"] for s in states) == len(results)
    assert states[-1]["face_count"] == 1
    # one message per person, identical to the summary of the same results
    people = {p["track_id"]: p for p in sub.bodies("cam1/track")}
    expected = {p.track_id: p.to_dict() for p in summarize(results, LABELS)}
    assert people == expected and people[0]["emotion"] == "happy" and people[0]["changes"] == 1
    # the opt-in frame topic carries the per-frame JSON of --json
    assert sub.bodies("cam1/frame") == [r.to_dict() for r in results]
    events = sub.bodies("cam1/event")
    assert events and events[0]["previous"] is None and all(e["event_type"] in LABELS for e in events)
    assert all(a["event_type"] != b["event_type"] for a, b in zip(events, events[1:]))
    sub.close()
    late = Listener(broker.url, "fer-edge/#")  # what a dashboard that starts later sees: the retained ones
    assert wait_for(lambda: len(late.messages) >= 2)
    assert {t.rsplit("/", 1)[1] for t, _, r in late.messages if r} == {"availability", "state"}
    late.close()


def test_discovery_payloads_carry_what_home_assistant_requires_and_come_again_at_its_birth(broker, tmp_path):
    configs = discovery_messages("cam.1", "fer-edge/cam.1", LABELS)
    assert {t.split("/")[1] for t, _ in configs} == {"sensor", "event"}
    for topic, c in configs:
        platform = topic.split("/")[1]
        assert topic.startswith("homeassistant/") and topic.endswith("/config") and "/cam_1/" in topic
        for key in ("unique_id", "name", "availability", "device", *REQUIRED[platform]):
            assert c.get(key), (topic, key)
        assert c["device"]["identifiers"] == ["fer-edge_cam_1"] and c["availability"][0]["topic"].endswith(
            "/availability")
    assert len({c["unique_id"] for _, c in configs}) == len(configs)
    event = next(c for t, c in configs if "/event/" in t)
    assert event["event_types"] == LABELS and event["state_topic"] == "fer-edge/cam.1/event"

    sub = Listener(broker.url, "homeassistant/#")
    pub = publisher(broker, tmp_path, ha_discovery=True)
    pub.start()
    assert wait_for(lambda: len(sub.messages) >= len(configs))
    first = len(sub.of("/config"))
    assert first == len(configs) and {t for t, _, _ in sub.of("/config")} == {t for t, _ in discovery_messages(
        "cam1", "fer-edge/cam1", LABELS)}
    sub.c.publish("homeassistant/status", "online", qos=1)  # Home Assistant restarted
    assert wait_for(lambda: len(sub.of("/config")) == 2 * first)
    pub.close()
    sub.close()


def test_a_broker_restart_loses_nothing_and_keeps_the_order(broker, tmp_path):
    """Broker killed mid-stream and restarted: every state and track message made meanwhile arrives, in order."""
    sub = Listener(broker.url, "fer-edge/cam1/#", client_id="dashboard", persistent=True)
    pub = publisher(broker, tmp_path, interval_s=0.05)
    pub.start()
    assert wait_for(lambda: pub._connected.is_set())
    made = {"state": 0, "track": 0}
    orig = pub._queue

    def counting(topic, body, retain=False):
        made[topic] = made.get(topic, 0) + 1
        orig(topic, body, retain)

    pub._queue = counting
    tid = 0
    for i in range(150):
        if i == 40:
            broker.stop()  # SIGTERM: the broker goes away, the camera does not notice
        if i == 100:
            broker.start()
        faces = [face(tid, "happy")] if i % 10 else []
        ended = (tid - 1,) if i % 10 == 0 and tid else ()
        if i % 10 == 0:
            tid += 1
        pub.on_frame(None, FrameResult(i, i * 20.0, faces, ended=ended))
        time.sleep(0.02)
    assert pub.spool.dropped == 0
    done = pub.close(timeout_s=20)
    assert done["left"] == 0, done
    assert wait_for(lambda: len({p for _, p, _ in sub.of("/state")}) >= made["state"], 20)
    states = list(dict.fromkeys(p for _, p, _ in sub.of("/state")))  # QoS 1 may repeat one: first arrivals count
    times = [json.loads(p)["time"] for p in states]
    assert len(states) == made["state"] and times == sorted(times)
    assert wait_for(lambda: len({p for _, p, _ in sub.of("/track")}) >= made["track"], 10)
    tracks = [json.loads(p)["track_id"] for p in dict.fromkeys(p for _, p, _ in sub.of("/track"))]
    assert tracks == sorted(tracks) and len(tracks) == made["track"] >= 14
    sub.close()


def _clip(path, n=30, fps=10):
    img = cv2.imread(str(ROOT / "examples" / "images" / "group.jpg"))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (img.shape[1], img.shape[0]))
    for i in range(n):
        w.write(np.roll(img, i % 3, axis=1))
    w.release()
    return path


def _camera(*args, **kw):
    return subprocess.Popen([*FER_EDGE, "camera", "--no-display", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_bad_credentials_are_one_line_and_the_camera_keeps_running(tmp_path):
    from brokers import MOSQUITTO, MOSQUITTO_PASSWD

    if MOSQUITTO is None or MOSQUITTO_PASSWD is None:
        pytest.skip("mosquitto (with mosquitto_passwd) is not installed; .ci/run installs it")
    b = Broker(tmp_path / "auth", users={"cam": "right"}).start()
    try:
        clip = _clip(tmp_path / "clip.avi", n=10)
        host = f"127.0.0.1:{b.port}"
        wrong = _camera("--source", clip, "--realtime", "--mqtt", f"mqtt://cam:wrong@{host}",
                        "--mqtt-spool", tmp_path / "s1")  # 1 s: the broker answers meanwhile, even on a busy machine
        out, err = wrong.communicate(timeout=120)
        assert wrong.returncode == 0, err
        refused = [x for x in err.splitlines() if x.startswith("mqtt:") and "refused" in x]
        assert len(refused) == 1 and "wrong" not in refused[0], err  # one line, and never the password
        assert '"frames": 10' in err and "messages left" in err
        required = _camera("--source", clip, "--mqtt", f"mqtt://cam:wrong@{host}", "--mqtt-required",
                           "--mqtt-spool", tmp_path / "s2")
        out, err = required.communicate(timeout=120)
        assert required.returncode == 2 and err.strip().splitlines()[-1].startswith("error: MQTT broker"), err
        assert "Traceback" not in err
        sub = Listener(f"mqtt://cam:right@{host}", "fer-edge/#")
        right = _camera("--source", clip, "--mqtt", f"mqtt://cam:right@{host}", "--device-id", "door",
                        "--mqtt-spool", tmp_path / "s1")  # the first run's spool: its messages go out now
        out, err = right.communicate(timeout=120)
        assert right.returncode == 0 and "connected to" in err and "messages waiting" in err, err
        assert wait_for(lambda: len(sub.bodies("door/track")) >= 3 and sub.of("door/availability"))
        sub.close()
    finally:
        b.stop()


def test_three_cameras_on_one_broker_seen_by_monitor(broker, tmp_path):
    clip = _clip(tmp_path / "clip.avi")
    db = tmp_path / "fleet.sqlite"
    mon = subprocess.Popen([*FER_EDGE, "monitor", broker.url, "--duration", "25",
                            "--refresh", "0.5", "--json", "--db", str(db)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    cams = [_camera("--source", clip, "--realtime", "--mqtt", broker.url, "--device-id", f"cam{i}",
                    "--mqtt-interval", "0.5", "--mqtt-spool", tmp_path / f"spool{i}", *(["--loop"] if i == 2 else []))
            for i in range(3)]
    watch = Listener(broker.url, "fer-edge/cam2/state")
    assert wait_for(lambda: watch.of("state"), 60)
    cams[2].send_signal(signal.SIGKILL)  # gone without a word: the broker publishes its last will
    for c in cams[:2]:
        assert c.wait(timeout=120) == 0
    cams[2].wait(timeout=10)
    watch.close()
    out, err = mon.communicate(timeout=60)
    assert mon.returncode == 0, err
    devices = {d["device_id"]: d for d in json.loads(out.strip().splitlines()[-1])}
    assert set(devices) == {"cam0", "cam1", "cam2"}
    assert all(d["status"] == "offline" for d in devices.values()), devices  # two stopped cleanly, one by its will
    assert devices["cam0"]["tracks"] >= 1 and devices["cam0"]["fps"] > 0
    import sqlite3

    rows = sqlite3.connect(db).execute("SELECT device_id, SUM(frames), SUM(tracks) FROM minute_summary "
                                       "GROUP BY device_id").fetchall()
    by = {d: (f, t) for d, f, t in rows}
    assert by["cam0"][0] == 30 and by["cam1"][0] == 30 and by["cam0"][1] >= 1, rows
