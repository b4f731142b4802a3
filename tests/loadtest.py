"""Drive a `fer-edge serve` process from outside: start it on a free port, load it with clients, measure.

Used by tests/test_serve.py, benchmarks/web_load.py and benchmarks/integrations.py (one place for how the load is made and measured).
Clients run as threads of this process, so they never share the server's interpreter lock, and at the
lowest CPU priority: in use they sit on other machines, and on a small test machine their own reading
must not be counted as the server slowing down.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from command import FER_EDGE


class ServerProcess:
    """`fer-edge serve` in a subprocess on a free port; the URL is read from its 'serving on' line."""

    def __init__(self, args, env, timeout=120):
        self.proc = subprocess.Popen([*FER_EDGE, "serve", "--port", "0", *args],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.time() + timeout
        while time.time() < deadline and not any(x.startswith("serving on ") for x in self.lines):
            if self.proc.poll() is not None:
                self._reader.join(5)
                raise AssertionError("serve exited early:\n" + "\n".join(self.lines))
            time.sleep(0.05)
        line = next(x for x in self.lines if x.startswith("serving on "))
        self.url = line.split("serving on ", 1)[1].strip()
        m = re.match(r"http://([^/]+)/(\?token=(.+))?$", self.url)
        self.base, self.token = f"http://{m.group(1)}", m.group(3)

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def get(self, path, headers=None, timeout=10):
        req = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def q(self, path):
        return path + (("&" if "?" in path else "?") + f"token={self.token}" if self.token else "")

    def stop(self, sig=signal.SIGTERM, timeout=60, ended=False) -> int:
        """SIGTERM, or (``ended``: the source is over) wait for the server to exit by itself."""
        if ended:
            return self.proc.wait(timeout)
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        return rc

    @property
    def stderr(self):
        return "\n".join(self.lines)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def load_run(srv, seconds: float, streams: int, events: int, slow: int = 0, progress: bool = False) -> dict:
    """Frames the recognizer processed in ``seconds`` with no client, then in ``seconds`` with ``streams``
    MJPEG clients (``slow`` of them reading one chunk per 0.5 s) and ``events`` SSE clients, then alone
    again; the server's RSS sampled through the loaded window. ``fps_alone`` is the mean of the two quiet
    windows, so a load elsewhere on the machine that rises or falls during the run cancels out. The server's
    CPU seconds per processed frame in each window (``cpu_ms_per_frame_*``) say what the clients cost it
    whatever else the machine runs: a busy machine lowers every window's frame rate, not the CPU a frame takes."""
    def frame_now():
        return json.loads(srv.get(srv.q("/api/faces"))[1])["frame"]

    def say(msg):
        if progress:
            print(msg, file=sys.stderr, flush=True)

    stop = threading.Event()
    got = {"bytes": 0, "errors": 0}
    lock = threading.Lock()

    def client(path, delay):
        _lowest_priority()
        try:
            with urllib.request.urlopen(srv.base + srv.q(path), timeout=30) as r:
                while not stop.is_set():
                    n = len(r.read1(65536))
                    with lock:
                        got["bytes"] += n
                    if delay:
                        time.sleep(delay)
        except Exception:  # noqa: BLE001  (counted: no client should be dropped)
            with lock:
                got["errors"] += 1

    deadline = time.monotonic() + 120
    while frame_now() is None and time.monotonic() < deadline:  # the recognizer's first frame
        time.sleep(0.1)
    pid = srv.proc.pid

    def quiet(what):
        f0, t0, c0 = frame_now(), time.monotonic(), _cpu_s(pid)
        time.sleep(seconds)
        frames, cpu = frame_now() - f0, _cpu_s(pid) - c0
        fps = frames / (time.monotonic() - t0)
        say(f"{what}: {fps:.1f} frames/s")
        return fps, 1000.0 * cpu / max(frames, 1)

    before, cpu_before = quiet("alone")
    threads = [threading.Thread(target=client, args=("/stream.mjpg", 0.5 if i < slow else 0), daemon=True)
               for i in range(streams)]
    threads += [threading.Thread(target=client, args=("/events", 0), daemon=True) for _ in range(events)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # everyone connected
    f2, t2, c2, rss = frame_now(), time.monotonic(), _cpu_s(pid), [_rss_kb(pid)]
    while time.monotonic() - t2 < seconds:
        time.sleep(min(1.0, seconds / 8))
        rss.append(_rss_kb(pid))
    f3, t3, c3 = frame_now(), time.monotonic(), _cpu_s(pid)
    alive = sum(t.is_alive() for t in threads)
    stop.set()
    say(f"with clients: {(f3 - f2) / (t3 - t2):.1f} frames/s")
    for t in threads:
        t.join(35)
    after, cpu_after = quiet("alone again")
    return {"fps_alone": (before + after) / 2, "fps_alone_before_after": [before, after],
            "fps_clients": (f3 - f2) / (t3 - t2), "rss_kb": rss,
            "cpu_ms_per_frame_alone": (cpu_before + cpu_after) / 2,
            "cpu_ms_per_frame_clients": 1000.0 * (c3 - c2) / max(f3 - f2, 1),
            "bytes": got["bytes"], "client_errors": got["errors"], "clients_alive": alive}


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _lowest_priority() -> None:
    """Nice the calling thread to 19 (Linux sets priority per thread id); elsewhere leave it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass
