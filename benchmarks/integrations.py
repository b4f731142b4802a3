"""What the integrations cost: the DeepStack-compatible face API under 1 and 8 clients, and `camera` with MQTT.

1. `fer-edge serve --no-camera` in its own process; clients (aiohttp, in this process) post the
   640x480 example JPEG as DeepStack clients do, 1 then 8 at a time: images/s, p50/p95 latency, and the
   server's memory (RSS) sampled through the run.
2. `fer-edge camera` on a 640x480 three-face clip as fast as the CPU goes, MQTT off and on (a real
   Mosquitto on a free loopback port), interleaved so both see the same machine: frames/s and the ratio.

    python benchmarks/integrations.py [--requests 120] [--rounds 3] [--out benchmarks/results/integrations]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GROUP = ROOT / "examples" / "images" / "group.jpg"
sys.path.insert(0, str(ROOT / "tests"))  # the tests' Mosquitto runner, serve driver and command: one way each
from command import FER_EDGE  # noqa: E402


def api_run(base: str, jpeg: bytes, clients: int, requests: int) -> dict:
    import aiohttp

    lat, codes = [], []

    async def worker(session, n):
        for _ in range(n):
            form = aiohttp.FormData()
            form.add_field("image", jpeg, filename="frame.jpg", content_type="image/jpeg")
            t0 = time.perf_counter()
            async with session.post(base + "/v1/vision/face", data=form) as r:
                await r.read()
                codes.append(r.status)
            lat.append((time.perf_counter() - t0) * 1000.0)

    async def main():
        async with aiohttp.ClientSession() as s:
            await worker(s, 3)  # warm: the worker's recognizer is made on first use
            lat.clear(), codes.clear()
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(s, requests // clients) for _ in range(clients)))
            return time.perf_counter() - t0

    seconds = asyncio.run(main())
    q = np.percentile(lat, [50, 95])
    return {"clients": clients, "requests": len(lat), "ok": codes.count(200), "images_per_s": round(len(lat) / seconds, 1),
            "p50_ms": round(float(q[0]), 1), "p95_ms": round(float(q[1]), 1)}


def measure_api(requests: int, workers: int) -> dict:
    from loadtest import ServerProcess, _rss_kb

    srv = ServerProcess(["--no-camera", "--api-workers", str(workers)], None)
    rss, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            rss.append(_rss_kb(srv.proc.pid) / 1024)
            stop.wait(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        runs = [api_run(srv.base, GROUP.read_bytes(), c, requests) for c in (1, 8)]
    finally:
        stop.set()
        t.join()
        srv.stop()
    return {"workers": workers, "runs": runs, "rss_mb_first_last_max": [round(rss[0], 1), round(rss[-1], 1),
                                                                        round(max(rss), 1)]}


def write_clip(path: Path, frames: int = 300) -> None:
    img = cv2.imread(str(GROUP))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 30, (img.shape[1], img.shape[0]))
    for i in range(frames):
        w.write(np.roll(img, int(6 * np.sin(i / 10)), axis=1))
    w.release()


def camera_fps(clip: Path, extra: list[str]) -> float:
    r = subprocess.run([*FER_EDGE, "camera", "--source", str(clip), "--no-display",
                        *extra], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit(f"camera failed: {r.stderr[-500:]}")
    return json.loads(re.search(r"summary: (\{.*\})", r.stderr).group(1))["fps"]


def measure_mqtt(rounds: int, tmp: Path) -> dict:
    from brokers import MOSQUITTO, Broker

    if MOSQUITTO is None:
        sys.exit("integrations: the mosquitto broker is not installed (apt-get install mosquitto)")
    clip = tmp / "clip.avi"
    write_clip(clip)
    broker = Broker(tmp / "broker").start()
    modes = {"off": [], "on": ["--mqtt", broker.url, "--mqtt-spool", str(tmp / "spool.sqlite")],
             "on, every frame": ["--mqtt", broker.url, "--mqtt-frames", "--mqtt-spool", str(tmp / "spool.sqlite")]}
    fps = {m: [] for m in modes}
    try:
        for k in range(rounds):
            for m, extra in modes.items():
                fps[m].append(camera_fps(clip, extra))
                print(f"  round {k + 1}/{rounds} MQTT {m}: {fps[m][-1]:.1f} frames/s", flush=True)
    finally:
        broker.stop()
    med = {m: statistics.median(v) for m, v in fps.items()}
    return {"frames": 300, "rounds": rounds, "fps": fps, "median": med,
            "ratio_on": round(med["on"] / med["off"], 3), "ratio_frames": round(med["on, every frame"] / med["off"], 3)}


MODE_NAMES = {"off": "off", "on": "on (state each second, tracks, events)",
              "on, every frame": "on, plus every frame (`--mqtt-frames`)"}


def main(argv=None) -> None:
    from fer_edge.sysinfo import machine

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=120, help="images posted per client count")
    ap.add_argument("--rounds", type=int, default=3, help="camera runs per MQTT mode")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "integrations")
    a = ap.parse_args(argv)
    print("face API: 1 worker", flush=True)
    api = [measure_api(a.requests, 1)]
    print("face API: 2 workers", flush=True)
    api.append(measure_api(a.requests, 2))
    print("camera with MQTT off / on", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        mqtt = measure_mqtt(a.rounds, Path(tmp))
    res = {"machine": machine(), "api": api, "mqtt": mqtt}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    rows = "".join(f"| {s['workers']} | {r['clients']} | {r['images_per_s']} | {r['p50_ms']} | {r['p95_ms']} | "
                   f"{r['ok']}/{r['requests']} | {s['rss_mb_first_last_max'][0]} / {s['rss_mb_first_last_max'][2]} |\n"
                   for s in api for r in s["runs"])
    med = mqtt["median"]
    md = (f"# Integrations: the face API and MQTT\n\n`python benchmarks/integrations.py --requests {a.requests} "
          f"--rounds {a.rounds}` on {res['machine']}.\n\n"
          "## POST /v1/vision/face (`serve --no-camera`)\n\nThe 640x480 example JPEG (3 faces), posted as "
          "multipart `image` over loopback; one LiteRT thread per worker.\n\n"
          "| API workers | clients at once | images/s | p50 ms | p95 ms | answered 200 | server RSS MB (first / max) |\n"
          "|---|---|---|---|---|---|---|\n" + rows +
          f"\n## `fer-edge camera` with MQTT\n\n{mqtt['frames']} frames of the 640x480 three-face clip, as fast as "
          f"the CPU goes; median of {a.rounds} runs each, interleaved; a Mosquitto broker on loopback.\n\n"
          "| MQTT | frames/s (median) | runs | vs off |\n|---|---|---|---|\n"
          + "".join(f"| {what} | {med[m]:.1f} | {', '.join(f'{v:.1f}' for v in mqtt['fps'][m])} | "
                    f"{med[m] / med['off']:.2f} |\n" for m, what in MODE_NAMES.items()))
    a.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
