"""A camera's results as MQTT messages, published off the frame loop through a bounded on-disk spool.

Topics, under ``<prefix>/<device_id>/`` (``fer-edge/<host name>/`` by default), QoS 1:

- ``availability``: ``online`` / ``offline``, retained; ``offline`` is also the last will;
- ``state`` (retained), every ``interval_s``: ``face_count`` now, the interval's dominant ``emotion``, each
  emotion's ``shares`` of the faces seen in it and their ``counts`` (a face counts once per frame), the faces
  reported not sure (``unsure``), ``fps``, ``frames``, ``dropped`` and ``spooled`` messages;
- ``track``: a person's summary when their track ends (:class:`~fer_edge.summary.PersonSummary`);
- ``event``: ``{"event_type": <emotion>, "previous": ...}`` when the dominant emotion changes; not retained
  (Home Assistant ignores retained events), so with discovery on, events (and what follows them) wait
  :data:`DISCOVERY_SETTLE_S` after the configs, until Home Assistant has subscribed to the event topic;
- ``frame`` (opt-in): the per-frame JSON of ``--json``.

The camera thread only counts and appends to a queue in memory; a sender thread moves messages into the
:class:`~fer_edge.spool.Spool`, hands at most :data:`WINDOW` at a time to paho, and removes each once the
broker acknowledged it. A broker that is down therefore costs the camera nothing, and what was published
meanwhile is sent in order after reconnecting (paho backs off exponentially, 1 s to 60 s).
"""
from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from ..rate import RateMeter
from ..results import UNSURE, shown
from ..spool import Spool
from ..summary import TrackLog, interval_shares
from .discovery import discovery_messages
from .url import parse_mqtt_url

WINDOW = 16            # messages handed to paho and not yet acknowledged
DISCOVERY_SETTLE_S = 3.0  # events wait this long after discovery configs: Home Assistant subscribes ~1 s after them
PENDING_MAX = 2000     # messages made by the camera and not yet in the spool (never reached unless the disk stalls)
DEVICE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def default_device_id() -> str:
    """The host name, made safe as one MQTT topic level."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:64] or "camera"


def default_spool(device_id: str) -> Path:
    return Path.home() / ".cache" / "fer-edge" / "mqtt" / f"{device_id}.sqlite"


@dataclass
class MqttOptions:
    """Where and what to publish.

    Attributes:
        url: the broker, ``mqtt[s]://[user:pass@]host[:port]``.
        device_id: this camera's topic level (default: the host name).
        prefix: the topics' root.
        interval_s: seconds between ``state`` messages.
        frames: also publish every frame's JSON on ``frame``.
        ha_discovery: publish Home Assistant discovery configs (and again at Home Assistant's birth message).
        discovery_prefix: Home Assistant's discovery prefix.
        spool_path: the spool file (default ``~/.cache/fer-edge/mqtt/<device_id>.sqlite``).
        spool_max_messages, spool_max_mb: the spool's bounds; past them the oldest messages are dropped.
        required: :meth:`MqttPublisher.start` raises when the broker does not accept the connection.
        connect_timeout_s: how long ``required`` waits for the broker.
    """

    url: str
    device_id: str = field(default_factory=default_device_id)
    prefix: str = "fer-edge"
    interval_s: float = 1.0
    frames: bool = False
    ha_discovery: bool = False
    discovery_prefix: str = "homeassistant"
    spool_path: str | Path | None = None
    spool_max_messages: int = 10_000
    spool_max_mb: float = 50.0
    required: bool = False
    connect_timeout_s: float = 5.0

    def __post_init__(self):
        parse_mqtt_url(self.url)  # ValueError in one line
        if not DEVICE_ID.match(self.device_id):
            raise ValueError(f"device id {self.device_id!r}: use 1-64 letters, digits, '.', '_' or '-'")
        for name in ("prefix", "discovery_prefix"):
            value = getattr(self, name)
            if not value or any(c in value for c in "+#") or value.startswith("/") or value.endswith("/"):
                raise ValueError(f"{name} {value!r}: a topic without '+', '#' or a leading/trailing '/'")
        if not 0.05 <= self.interval_s <= 3600:
            raise ValueError(f"interval_s must be within 0.05..3600 s, got {self.interval_s}")
        if self.spool_max_messages < 1 or self.spool_max_mb <= 0 or self.connect_timeout_s <= 0:
            raise ValueError("spool_max_messages, spool_max_mb and connect_timeout_s must be positive")


class MqttPublisher:
    """Plug :meth:`on_frame` into the camera loop (``run_stream(on_frame=...)``), or call it per
    :class:`~fer_edge.recognizer.FrameResult`; :meth:`close` flushes and says what was left.

    Raises:
        ValueError: bad options; RuntimeError: paho-mqtt is not installed (the ``[mqtt]`` extra);
        SpoolError: the spool file cannot be used.
    """

    def __init__(self, options: MqttOptions, labels, *, log=lambda m: print(m, file=sys.stderr, flush=True)):
        try:
            import paho.mqtt.client as paho
        except ImportError:
            raise RuntimeError("MQTT needs the mqtt extra: pip install 'fer-edge[mqtt]' (paho-mqtt 2)") from None
        self.options, self.labels, self._log = options, list(labels), log
        self._lines: deque = deque()  # what paho's thread has to say, said from the camera's thread
        self.url = parse_mqtt_url(options.url)
        self.base = f"{options.prefix}/{options.device_id}"
        self.spool = Spool(options.spool_path or default_spool(options.device_id), options.spool_max_messages,
                           int(options.spool_max_mb * 1024 * 1024))
        self._paho = paho
        self._client = None
        self._pending: deque = deque()
        self._lost = 0  # dropped before reaching the spool
        self._acked: deque = deque()  # mids acknowledged (paho's thread) for the sender to resolve
        self._inflight: dict[int, int] = {}  # paho mid -> spool id
        self._handed = 0
        self._events_from = 0.0  # time.monotonic() before which no event is handed to paho (discovery settling)
        self._wake = threading.Event()
        self._connected = threading.Event()
        self._answered = threading.Event()  # the first connection attempt succeeded, was refused or failed
        self._stopping = False
        self._closed = False
        self._abort = False  # close() gave up waiting: the sender leaves what is left in the spool
        self._ever_connected = False
        self._waiting = options.required  # start() is waiting for the broker: it says the outcome itself
        self._said: set[str] = set()
        self._last_error = None
        self._sender = threading.Thread(target=self._send_loop, name="fer-edge-mqtt", daemon=True)
        self.sent = 0
        self._tracks = TrackLog(self.labels)
        self._t0 = None
        self._frames = self._face_count = 0
        self._rate = RateMeter(options.interval_s)
        self._counts: Counter = Counter()
        self._dominant = None

    @property
    def dropped(self) -> int:
        return self.spool.dropped + self._lost

    # -- lifecycle --
    def start(self) -> None:
        """Connect in the background; with ``required``, wait for the broker and raise ConnectionError."""
        c = self._client = self._paho.Client(self._paho.CallbackAPIVersion.VERSION2,
                                             client_id=f"fer-edge-{self.options.device_id}")
        c.will_set(f"{self.base}/availability", "offline", qos=1, retain=True)
        if self.url.username:
            c.username_pw_set(self.url.username, self.url.password)
        if self.url.tls:
            c.tls_set()
        c.reconnect_delay_set(1, 60)
        c.max_inflight_messages_set(WINDOW)
        c.on_connect, c.on_disconnect, c.on_connect_fail = self._on_connect, self._on_disconnect, self._on_fail
        c.on_publish, c.on_message = self._on_publish, self._on_message
        c.connect_async(self.url.host, self.url.port, keepalive=30)
        c.loop_start()
        self._sender.start()
        if self.options.required and not self._connected.wait(self.options.connect_timeout_s):
            why = self._last_error or f"no answer within {self.options.connect_timeout_s:g} s"
            self.close(timeout_s=0, quiet=True)
            raise ConnectionError(f"MQTT broker {self.url}: {why}")
        self._waiting = False

    def close(self, timeout_s: float = 5.0, *, quiet: bool = False) -> dict:
        """End the open tracks, send the last state, wait up to ``timeout_s`` for the spool to empty,
        publish ``offline`` and disconnect. Returns ``{"sent", "left", "dropped"}``; safe to call twice."""
        if self._closed:
            return {"sent": self.sent, "left": len(self.spool), "dropped": self.dropped}
        self._closed = True
        self.say_pending()
        if self._t0 is not None:
            for p in self._tracks.finish():
                self._queue("track", p.to_dict())
            if self._frames:  # the frames since the last state (none: it said everything already)
                self._state(time.monotonic())
        self._stopping = True
        self._wake.set()
        end = time.monotonic() + timeout_s
        if not self._ever_connected:  # a short run: the broker's first answer may be near
            self._answered.wait(min(timeout_s, 3.0))
        while time.monotonic() < end and self._ever_connected and (self._pending or len(self.spool)):
            time.sleep(0.02)  # connected, or a broker that answered before and may be back in a moment
        self._abort = True
        self._wake.set()
        c = self._client
        if c is not None:
            if self._connected.is_set():
                c.publish(f"{self.base}/availability", "offline", qos=1, retain=True).wait_for_publish(1.0)
            c.disconnect()
            c.loop_stop()
        if self._sender.is_alive():
            self._sender.join(timeout=2.0)
        self._to_spool()
        left = len(self.spool)
        self.spool.close()
        if left and not quiet:
            self.log(f"mqtt: {left} messages left in {self.spool.path}; they are sent at the next start")
        self.say_pending()
        return {"sent": self.sent, "left": left, "dropped": self.dropped}

    # -- the camera's side --
    def on_frame(self, frame, result, capture_ms: float = 0.0) -> None:
        """Count one frame's result; due messages are queued, never sent from here."""
        self.say_pending()
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        self._frames += 1
        self._rate.tick(now)
        self._face_count = len(result.faces)
        self._counts.update(shown(f.emotion) for f in result.faces)
        for person in self._tracks.add(result):
            self._queue("track", person.to_dict())
        if self.options.frames:
            self._queue("frame", result.to_dict())
        if now - self._t0 >= self.options.interval_s:
            self._state(now)

    def on_result(self, result, frame=None, timestamp_ms=None) -> None:
        """``on_frame`` with LIVE_STREAM's ``result_callback(result, frame, timestamp_ms)`` signature."""
        self.on_frame(frame, result)

    def _state(self, now: float) -> None:
        labelled = {k: n for k, n in self._counts.items() if k != UNSURE}
        emotion = max(labelled, key=lambda k: labelled[k]) if labelled else None
        self._queue("state", {"device_id": self.options.device_id, "time": round(time.time(), 3),
                              "face_count": self._face_count, "emotion": emotion,
                              "shares": {k: round(v, 4) for k, v in interval_shares(self._counts, self.labels).items()},
                              "counts": {k: self._counts.get(k, 0) for k in self.labels},
                              UNSURE: self._counts.get(UNSURE, 0),
                              "fps": round(self._rate.rate, 2), "frames": self._frames,
                              "dropped": self.dropped, "spooled": len(self.spool) + len(self._pending)}, retain=True)
        if emotion is not None and emotion != self._dominant:
            self._queue("event", {"event_type": emotion, "previous": self._dominant, "time": round(time.time(), 3)})
            self._dominant = emotion
        self._t0, self._frames = now, 0
        self._counts = Counter()

    def _queue(self, topic: str, body: dict, retain: bool = False) -> None:
        self._pending.append((f"{self.base}/{topic}", json.dumps(body).encode(), retain))
        if len(self._pending) > PENDING_MAX:
            self._pending.popleft()
            self._lost += 1
        self._wake.set()

    # -- the sender thread --
    def _to_spool(self) -> None:
        while self._pending:
            self.spool.append(*self._pending.popleft())

    def _send_loop(self) -> None:
        while True:
            self._wake.wait(0.25)
            self._wake.clear()
            self._to_spool()
            while self._acked:
                sid = self._inflight.pop(self._acked.popleft(), None)
                if sid is not None:
                    self.spool.remove(sid)
                    self.sent += 1
            if self._connected.is_set() and len(self._inflight) < WINDOW:
                for sid, topic, payload, retain in self.spool.peek(self._handed, WINDOW - len(self._inflight)):
                    if topic.endswith("/event") and time.monotonic() < self._events_from:
                        break  # in order: what follows the event waits with it
                    info = self._client.publish(topic, payload, qos=1, retain=retain)
                    self._inflight[info.mid] = sid
                    self._handed = sid
                if self._acked:
                    self._wake.set()
            if self._abort or (self._stopping and not (self._pending or len(self.spool))):
                return

    def log(self, message: str) -> None:
        self.say_pending()
        self._log(message)

    def say_pending(self) -> None:
        """Say what paho's thread noted. It is said here, between frames, never from that thread: a native library
        that silences stderr for a moment while the camera works (an interpreter being made) would swallow it."""
        while self._lines:
            self._log(self._lines.popleft())

    # -- paho's thread --
    def _say_once(self, message: str) -> None:
        if message not in self._said and not self._waiting:
            self._said.add(message)
            self._lines.append(message)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._answered.set()
        if reason_code.is_failure:
            self._last_error = f"refused: {reason_code}"
            self._say_once(f"mqtt: {self.url} refused the connection ({reason_code}); the camera keeps running "
                           "and messages are spooled")
            return
        client.publish(f"{self.base}/availability", "online", qos=1, retain=True)
        if self.options.ha_discovery:
            client.subscribe(f"{self.options.discovery_prefix}/status", qos=1)
            self._publish_discovery(client)
        waiting = len(self.spool) + len(self._pending)
        self._lines.append(f"mqtt: connected to {self.url} as {self.base}" + (f" ({waiting} messages waiting)" if waiting else ""))
        self._said.clear()
        self._ever_connected = True
        self._connected.set()
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._stopping:
            self._lines.append(f"mqtt: lost {self.url} ({reason_code}); spooling and reconnecting")

    def _on_fail(self, client, userdata) -> None:
        self._answered.set()
        self._last_error = "cannot connect (wrong host or port, or the broker is down)"
        self._say_once(f"mqtt: cannot connect to {self.url}; the camera keeps running, messages are spooled "
                       "and sent when it answers")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._acked.append(mid)
        self._wake.set()

    def _on_message(self, client, userdata, message) -> None:
        if message.topic == f"{self.options.discovery_prefix}/status" and message.payload == b"online":
            self._publish_discovery(client)  # Home Assistant restarted: it forgot non-retained configs

    def _publish_discovery(self, client) -> None:
        self._events_from = time.monotonic() + DISCOVERY_SETTLE_S
        for topic, config in discovery_messages(self.options.device_id, self.base, self.labels,
                                                self.options.discovery_prefix):
            client.publish(topic, json.dumps(config), qos=1, retain=True)
