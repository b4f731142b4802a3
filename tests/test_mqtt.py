"""MQTT against a real Mosquitto broker: topics and payloads, Home Assistant discovery, a broker restart that
loses nothing, bad credentials, and a fleet of cameras seen by `fer-edge monitor`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

paho = pytest.importorskip("paho.mqtt.client", reason="the mqtt extra (paho-mqtt) is not installed")

from brokers import Broker  # noqa: E402
from clips import group_clip  # noqa: E402

from fer_edge.mqtt import MqttOptions, MqttPublisher, discovery_messages, parse_mqtt_url  # noqa: E402
from fer_edge.mqtt.discovery import REQUIRED  # noqa: E402
from fer_edge.recognizer import FaceResult, FrameResult  # noqa: E402
from fer_edge.summary import summarize  # noqa: E402
from command import FER_EDGE  # noqa: E402  (the installed command)

LABELS = ["angry", "happy", "neutral"]


class Listener:
    """A subscriber that keeps every message: (topic, payload, retain); ``qos`` keeps each one's QoS as delivered
    (the lower of the publisher's and this subscription's 1)."""

    def __init__(self, url, topic="#", client_id=None, persistent=False):
        b = parse_mqtt_url(url)
        self.messages, self.qos, self.lock = [], {}, threading.Lock()
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
            self.qos.setdefault(m.topic.rsplit("/", 1)[-1] if "/config" not in m.topic else "config", set()).add(m.qos)

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
        assert set(s) == {"device_id", "time", "face_count", "emotion", "shares", "counts", "unsure", "fps", "frames",
                          "dropped", "spooled"}
        assert all(isinstance(n, int) for n in s["counts"].values()) and sum(s["counts"].values()) >= s["face_count"]
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
    assert late.of("availability") == [("fer-edge/cam1/availability", b"offline", True)]  # a clean stop says so
    late.close()
    # every topic is sent at QoS 1: a QoS 0 publish would arrive here at 0
    assert sub.qos == {k: {1} for k in ("availability", "state", "track", "event", "frame")}, sub.qos


def test_a_subscriber_that_starts_while_the_camera_runs_reads_retained_online(broker, tmp_path):
    """A Home Assistant or monitor restarted mid-stream must see the camera available at once: "online" is
    retained (the clean stop's retained "offline" would hide a non-retained "online" in a test that ends first)."""
    pub = publisher(broker, tmp_path, interval_s=0.1, ha_discovery=True)
    pub.start()
    assert wait_for(lambda: pub._connected.is_set())
    for r in frames(5):
        pub.on_frame(None, r)
    time.sleep(0.5)
    late = Listener(broker.url, "#")
    assert wait_for(lambda: late.of("cam1/availability") and len(late.of("/config")) == 4)
    assert late.of("cam1/availability") == [("fer-edge/cam1/availability", b"online", True)]
    assert all(r for _, _, r in late.of("/config")) and late.qos["config"] == {1}  # configs retained, QoS 1
    late.close()
    pub.close()


_KILLABLE = """
import sys, time
from fer_edge.mqtt import MqttOptions, MqttPublisher
p = MqttPublisher(MqttOptions(sys.argv[1], device_id="cam1", spool_path=sys.argv[2], required=True), ["happy"],
                  log=lambda m: None)
p.start()
print("up", flush=True)
time.sleep(120)
"""


def test_after_a_power_cut_a_late_subscriber_reads_offline(broker, tmp_path):
    """SIGKILL: no clean stop, so only the last will says "offline"; it must be retained (over the retained
    "online"), or a dashboard that connects later believes a dead camera is alive."""
    import sys

    cam = subprocess.Popen([sys.executable, "-c", _KILLABLE, broker.url, str(tmp_path / "spool.sqlite")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert cam.stdout.readline().strip() == "up", cam.stderr.read()
        watch = Listener(broker.url, "fer-edge/cam1/availability")
        assert wait_for(lambda: watch.of("availability"))
        assert watch.of("availability")[-1][1] == b"online"
        cam.kill()
        cam.wait(timeout=10)
        assert wait_for(lambda: watch.of("availability")[-1][1] == b"offline")  # the broker sent the will
        watch.close()
        late = Listener(broker.url, "fer-edge/cam1/availability")
        assert wait_for(lambda: late.of("availability"))
        assert late.of("availability") == [("fer-edge/cam1/availability", b"offline", True)]
        assert late.qos["availability"] == {1}
        late.close()
    finally:
        cam.kill()


def test_a_restarted_monitor_counts_no_retained_state_again(broker, tmp_path):
    """The per-minute history counts each state once: a monitor restarted against the same broker and database
    receives the camera's retained state again and must not add it."""
    import sqlite3

    from fer_edge.mqtt.monitor import run_monitor

    db = tmp_path / "fleet.sqlite"
    first = threading.Thread(target=run_monitor, args=(broker.url,),
                             kwargs=dict(db=db, duration_s=4, refresh_s=0.5, as_json=True, out=open(os.devnull, "w"),
                                         log=lambda m: None))
    first.start()
    time.sleep(1.0)
    pub = publisher(broker, tmp_path, interval_s=0.1)
    pub.start()
    assert wait_for(lambda: pub._connected.is_set())
    for r in frames():
        pub.on_frame(None, r)
        time.sleep(0.01)
    pub.close()
    first.join()

    def counted():
        return sqlite3.connect(db).execute("SELECT SUM(states), SUM(frames) FROM minutes").fetchone()

    before = counted()
    assert before[0] >= 2 and before[1] == 30, before  # the first monitor saw every state
    per_label = {}  # faces per label, one per face per frame: whole numbers (frames(): 12 happy, 8 neutral, 20 angry)
    for (emo,) in sqlite3.connect(db).execute("SELECT emotion_frames FROM minutes"):
        for k, n in json.loads(emo).items():
            per_label[k] = per_label.get(k, 0) + n
    assert per_label == {"happy": 12, "neutral": 8, "angry": 20}, per_label
    late = Listener(broker.url, "fer-edge/cam1/state")
    assert wait_for(lambda: late.of("state")) and late.of("state")[0][2]  # there is a retained state to repeat
    late.close()
    fleet = run_monitor(broker.url, db=db, duration_s=1.5, refresh_s=0.5, as_json=True, out=open(os.devnull, "w"),
                        log=lambda m: None)
    assert fleet.devices["cam1"].face_count is not None  # the table shows the retained state...
    assert counted() == before  # ...and the history does not count it again


def test_home_assistant_discovering_the_camera_gets_its_first_emotion_event(broker, tmp_path):
    """Home Assistant subscribes to an entity's topics about 1 s after reading its config, and ignores retained
    events: the first "emotion changed" event must come after that, not be lost."""
    seen, lock = [], threading.Lock()
    b = parse_mqtt_url(broker.url)
    ha = paho.Client(paho.CallbackAPIVersion.VERSION2)

    def on_message(c, u, m):
        with lock:
            seen.append((m.topic, m.payload))
        if m.topic.endswith("/event/cam1/emotion_changed/config"):
            topic = json.loads(m.payload)["state_topic"]
            threading.Timer(1.0, lambda: c.subscribe(topic, qos=1)).start()  # as Home Assistant does

    ha.on_message = on_message
    ha.on_connect = lambda c, u, f, rc, p: c.subscribe("homeassistant/#", qos=1)
    ha.connect(b.host, b.port)
    ha.loop_start()
    time.sleep(0.5)
    pub = publisher(broker, tmp_path, interval_s=0.1, ha_discovery=True)
    pub.start()
    for r in frames(10):  # person 0 happy: the first state's dominant emotion is an event at once
        pub.on_frame(None, r)
        time.sleep(0.02)
    assert wait_for(lambda: any(t.endswith("/event") for t, _ in seen), 10), seen
    first = next(json.loads(p) for t, p in seen if t.endswith("/event"))
    assert first["event_type"] == "happy" and first["previous"] is None
    pub.close()
    ha.disconnect()
    ha.loop_stop()


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
    for topic, c in configs:  # what today's Home Assistant accepts without a warning, and older ones still read
        platform = topic.split("/")[1]
        assert "object_id" not in c and "payload_available" not in c and "payload_not_available" not in c
        assert c["qos"] == 1
        assert c["availability"] == [{"topic": "fer-edge/cam.1/availability", "payload_available": "online",
                                      "payload_not_available": "offline"}]
        # the id older releases make from the names (they drop default_entity_id) is the one asked for
        made = "_".join(f"{c['device']['name']} {c['name']}".lower().replace("-", " ").replace(".", " ").split())
        assert c["default_entity_id"] == f"{platform}.{made}"
    assert {c["default_entity_id"] for _, c in configs} == {
        "sensor.fer_edge_cam_1_faces", "sensor.fer_edge_cam_1_emotion", "sensor.fer_edge_cam_1_frames_per_second",
        "event.fer_edge_cam_1_emotion_changed"}
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


def _camera(*args, **kw):
    return subprocess.Popen([*FER_EDGE, "camera", "--no-display", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_bad_credentials_are_one_line_and_the_camera_keeps_running(tmp_path):
    from brokers import MOSQUITTO, MOSQUITTO_PASSWD

    if MOSQUITTO is None or MOSQUITTO_PASSWD is None:
        pytest.skip("mosquitto (with mosquitto_passwd) is not installed; .ci/run installs it")
    b = Broker(tmp_path / "auth", users={"cam": "right"}).start()
    try:
        clip = group_clip(tmp_path / "clip.avi", n=10)
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
    clip = group_clip(tmp_path / "clip.avi")
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


def test_faces_reported_not_sure_are_counted_apart_in_the_state(broker, tmp_path):
    """--min-emotion-score: a face without an emotion counts in `unsure`, never as a label nor as the dominant one."""
    sub = Listener(broker.url, "fer-edge/cam1/state")
    pub = publisher(broker, tmp_path, interval_s=3600)
    pub.start()
    assert wait_for(lambda: pub._connected.is_set())
    unsure = FaceResult((10, 10, 50, 50), 0.9, None, 0.3, {lab: 1 / 3 for lab in LABELS}, (), 0)
    for i in range(6):
        pub.on_frame(None, FrameResult(i, i * 40.0, [unsure] + ([face(1, "angry")] if i < 2 else [])))
    pub.close()
    assert wait_for(lambda: sub.bodies("state"))
    (state,) = sub.bodies("state")
    assert state["unsure"] == 6 and state["counts"] == {"angry": 2, "happy": 0, "neutral": 0}
    assert state["emotion"] == "angry" and state["shares"]["angry"] == 0.25
    sub.close()
