"""``fer-edge monitor``: every camera on one broker in a live table, and per-minute history in SQLite.

It subscribes to ``<prefix>/+/availability``, ``state`` and ``track``: online/offline comes from the
retained availability (the broker publishes a camera's last will when it vanishes), the rest from its
latest ``state``. With a database, each ``state`` is added to its device's minute (by the message's own
``time``, so messages a camera spooled while the broker was away land in the minute they describe).
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .url import parse_mqtt_url

MINUTES = """CREATE TABLE IF NOT EXISTS minutes (
    device_id TEXT NOT NULL, minute TEXT NOT NULL, states INTEGER NOT NULL, frames INTEGER NOT NULL,
    fps_sum REAL NOT NULL, face_count_sum REAL NOT NULL, emotion_frames TEXT NOT NULL, tracks INTEGER NOT NULL,
    PRIMARY KEY (device_id, minute))"""
VIEW = """CREATE VIEW IF NOT EXISTS minute_summary AS SELECT device_id, minute, frames,
    ROUND(fps_sum / MAX(states, 1), 2) AS fps, ROUND(face_count_sum / MAX(states, 1), 2) AS faces,
    emotion_frames, tracks FROM minutes"""


@dataclass
class Device:
    device_id: str
    status: str = "unknown"
    fps: float | None = None
    face_count: int | None = None
    emotion: str | None = None
    tracks: int = 0
    last_seen: float | None = None  # time.time() of its latest message
    dropped: int = 0

    def to_dict(self) -> dict:
        return {"device_id": self.device_id, "status": self.status, "fps": self.fps, "face_count": self.face_count,
                "emotion": self.emotion, "tracks": self.tracks, "dropped": self.dropped,
                "last_seen": None if self.last_seen is None else round(self.last_seen, 3)}


class MinuteStore:
    """Per-device, per-minute sums in SQLite (the ``minute_summary`` view gives means); ``emotion_frames`` holds,
    per label, the faces seen showing it (whole numbers; a face counts once per frame).

    Raises:
        ValueError: the file exists and is not a fer-edge monitor database (nothing is overwritten).
    """

    def __init__(self, path):
        self.path = str(path)
        try:
            self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self.db.execute(MINUTES)
            self.db.execute(VIEW)
            cols = [r[1] for r in self.db.execute("PRAGMA table_info(minutes)")]
        except sqlite3.DatabaseError as e:
            raise ValueError(f"{self.path}: not a fer-edge monitor database ({e})") from None
        if "emotion_frames" not in cols:
            raise ValueError(f"{self.path}: has a 'minutes' table that fer-edge did not make")
        self._lock = threading.Lock()

    def add_state(self, device_id: str, state: dict, received: float) -> None:
        t = state.get("time") if isinstance(state.get("time"), (int, float)) else received
        minute = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
        frames = int(state.get("frames") or 0)
        with self._lock:
            row = self.db.execute("SELECT states, frames, fps_sum, face_count_sum, emotion_frames, tracks FROM minutes "
                                  "WHERE device_id = ? AND minute = ?", (device_id, minute)).fetchone()
            states, total, fps_sum, faces_sum, emo, tracks = row or (0, 0, 0.0, 0.0, "{}", 0)
            emo = json.loads(emo)
            counts = state.get("counts")
            if not isinstance(counts, dict):  # a camera before 0.4.3 sent shares only: the nearest whole faces
                counts = {k: round(float(v) * frames) for k, v in (state.get("shares") or {}).items()}
            for label, n in counts.items():
                emo[label] = emo.get(label, 0) + int(n)
            self.db.execute("INSERT OR REPLACE INTO minutes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (device_id, minute, states + 1, total + frames, fps_sum + float(state.get("fps") or 0),
                             faces_sum + float(state.get("face_count") or 0), json.dumps(emo), tracks))

    def add_track(self, device_id: str, received: float) -> None:
        minute = datetime.fromtimestamp(received, timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
        with self._lock:
            self.db.execute("INSERT INTO minutes VALUES (?, ?, 0, 0, 0, 0, '{}', 1) ON CONFLICT(device_id, minute) "
                            "DO UPDATE SET tracks = tracks + 1", (device_id, minute))

    def close(self) -> None:
        with self._lock:
            self.db.close()


@dataclass
class Fleet:
    """The devices seen under ``prefix``, updated from MQTT messages (any thread)."""

    prefix: str = "fer-edge"
    store: MinuteStore | None = None
    devices: dict = field(default_factory=dict)

    def handle(self, topic: str, payload: bytes, received: float | None = None, retained: bool = False) -> None:
        """One message; a ``retained`` one (the broker's copy, delivered on subscribing) updates the table but
        is not counted again in the database."""
        received = time.time() if received is None else received
        parts = topic.split("/")
        root = self.prefix.split("/")
        if len(parts) != len(root) + 2 or parts[:len(root)] != root:
            return
        device_id, kind = parts[-2], parts[-1]
        d = self.devices.setdefault(device_id, Device(device_id))
        if kind == "availability":
            d.status = payload.decode("utf-8", "replace").strip() or "unknown"
            return
        try:
            body = json.loads(payload)
        except ValueError:
            return  # not ours to judge: a foreign publisher on our topics
        d.last_seen = received
        if kind == "state" and isinstance(body, dict):
            d.fps, d.face_count, d.emotion = body.get("fps"), body.get("face_count"), body.get("emotion")
            d.dropped = int(body.get("dropped") or 0)
            if isinstance(body.get("time"), (int, float)):
                d.last_seen = min(received, float(body["time"]))
            if self.store is not None and not retained:
                self.store.add_state(device_id, body, received)
        elif kind == "track":
            d.tracks += 1
            if self.store is not None:
                self.store.add_track(device_id, received)

    def table(self) -> str:
        rows = [("device", "status", "frames/s", "faces", "emotion", "people", "dropped", "last seen")]
        now = time.time()
        for d in sorted(self.devices.values(), key=lambda d: d.device_id):
            ago = "-" if d.last_seen is None else f"{now - d.last_seen:.0f} s ago"
            rows.append((d.device_id, d.status, "-" if d.fps is None else f"{d.fps:.1f}",
                         "-" if d.face_count is None else str(d.face_count), d.emotion or "-", str(d.tracks),
                         str(d.dropped), ago))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


class BrokerUnreachable(ConnectionError):
    """The broker never accepted the monitor: a script must tell this from a fleet with no camera."""


def run_monitor(url: str, *, prefix: str = "fer-edge", db=None, duration_s: float | None = None,
                refresh_s: float = 2.0, as_json: bool = False, out=None, log=None, required: bool = False,
                connect_timeout_s: float = 5.0) -> Fleet:
    """Watch the fleet until ``duration_s`` has passed (or Ctrl-C); prints the table every ``refresh_s``
    (redrawn in place on a terminal), or with ``as_json`` the devices as one JSON line at the end.

    Raises:
        BrokerUnreachable: the broker refused or never answered: within ``connect_timeout_s`` with
        ``required``, else by the end of ``duration_s`` (nothing is printed on ``out`` then).
    """
    import signal
    import sys

    import paho.mqtt.client as paho

    out = out or sys.stdout
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    broker = parse_mqtt_url(url)
    fleet = Fleet(prefix, MinuteStore(db) if db else None)
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set()
    connected, said = threading.Event(), []  # said: why the broker did not take us, latest last

    def note(why: str, line: str) -> None:
        if not said or said[-1] != why:
            log(line)
        said.append(why)

    def on_connect(c, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            note(f"refused ({reason_code})", f"monitor: {broker} refused the connection ({reason_code})")
            return
        c.subscribe([(f"{prefix}/+/{kind}", 1) for kind in ("availability", "state", "track")])
        connected.set()
        log(f"monitor: watching {prefix}/+ on {broker}")

    client.on_connect = on_connect
    client.on_message = lambda c, u, m: fleet.handle(m.topic, m.payload, retained=m.retain)
    client.on_connect_fail = lambda c, u: note("cannot connect (wrong host or port, or the broker is down)",
                                               f"monitor: cannot connect to {broker}; retrying")
    client.reconnect_delay_set(1, 30)
    client.connect_async(broker.host, broker.port, keepalive=30)
    stop = threading.Event()
    main = threading.current_thread() is threading.main_thread()  # signals can only be caught there
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
    client.loop_start()
    tty = hasattr(out, "isatty") and out.isatty() and not as_json
    end = None if duration_s is None else time.monotonic() + duration_s
    try:
        if required and not connected.wait(connect_timeout_s):
            why = said[-1] if said else f"no answer within {connect_timeout_s:g} s"
            raise BrokerUnreachable(f"MQTT broker {broker}: {why}")
        while not stop.is_set() and (end is None or time.monotonic() < end):
            stop.wait(refresh_s if end is None else max(0.0, min(refresh_s, end - time.monotonic())))
            if not as_json:
                out.write(("\x1b[H\x1b[2J" if tty else "") + fleet.table() + "\n" + ("" if tty else "\n"))
                out.flush()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        client.disconnect()
        client.loop_stop()
        if fleet.store is not None:
            fleet.store.close()
    if not connected.is_set():
        raise BrokerUnreachable(f"MQTT broker {broker}: {said[-1] if said else 'no answer'}; no camera could be seen")
    if as_json:
        out.write(json.dumps([d.to_dict() for d in sorted(fleet.devices.values(), key=lambda d: d.device_id)]) + "\n")
    return fleet
