"""`fer-edge serve` under load: does the recognizer keep its frame rate with many and slow clients?

Serves a looping moving-face clip as fast as the CPU goes (one LiteRT thread), measures the frames
it processes in a window with no client, then in a window with 20 MJPEG clients (5 of them reading
slowly) and 5 event-stream clients, then with no client again (the quiet rate is the mean of the two),
and samples the server's memory (RSS) through the loaded window. The clients run at the lowest CPU
priority, as if they sat on other machines.

    python benchmarks/web_load.py [--seconds 60] [--out benchmarks/results/web_load]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the load driver the serve tests use: one way to make and measure the load


def write_clip(path: Path, fer: Path) -> None:
    """80 frames of two FER2013 test faces drifting over a scene (the test suite's kind of clip)."""
    from fer_edge.release.scenes import make_scene

    faces = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in sorted((fer / "test" / "happy").glob("*.jpg"))[:2]]
    base, _ = make_scene(faces, [0, 1], np.random.default_rng(3), side_range=(120, 160))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 20, (640, 480))
    for i in range(80):
        w.write(np.roll(base, 2 * i, axis=1))
    w.release()


def main(argv=None) -> None:
    from loadtest import ServerProcess, load_run
    from fer_edge.sysinfo import machine

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--streams", type=int, default=20)
    ap.add_argument("--slow", type=int, default=5, help="of the streams, how many read one chunk per 0.5 s")
    ap.add_argument("--events", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "web_load")
    a = ap.parse_args(argv)
    fer = Path(os.environ.get("FER2013_ROOT", ROOT.parent / "shared" / "datasets" / "fer2013"))
    if not (fer / "test").is_dir():
        sys.exit(f"web_load: no FER2013 test/ at {fer} (set FER2013_ROOT)")
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.avi"
        write_clip(clip, fer)
        srv = ServerProcess(["--source", str(clip), "--loop", "--no-realtime", "--max-clients", "64"], dict(os.environ))
        try:
            print(f"server up: {srv.url}; {a.seconds:.0f} s alone, then {a.seconds:.0f} s with "
                  f"{a.streams} streams ({a.slow} slow) + {a.events} event clients", flush=True)
            r = load_run(srv, a.seconds, a.streams, a.events, a.slow, progress=True)
        finally:
            srv.stop()
    rss = np.array(r["rss_kb"]) / 1024
    r.update({"seconds": a.seconds, "streams": a.streams, "slow": a.slow, "events": a.events,
              "ratio": round(r["fps_clients"] / r["fps_alone"], 3),
              "rss_mb_first_last_max": [round(rss[0], 1), round(rss[-1], 1), round(rss.max(), 1)]})
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(r, indent=1) + "\n")
    md = (f"# fer-edge serve under load\n\n`python benchmarks/web_load.py --seconds {a.seconds:.0f}` (one LiteRT thread, "
          "a looping 640x480 two-face clip processed as fast as the CPU goes; clients are threads of another process "
          f"on loopback, at the lowest CPU priority), on {machine()}\n\n| window | recognizer frames/s | clients | data to clients |\n|---|---|---|---|\n"
          f"| 2 x {a.seconds:.0f} s, no client (before, after) | {r['fps_alone']:.1f} "
          f"({r['fps_alone_before_after'][0]:.1f}, {r['fps_alone_before_after'][1]:.1f}) | 0 | - |\n"
          f"| {a.seconds:.0f} s, loaded | {r['fps_clients']:.1f} ({r['ratio']:.0%} of alone) | "
          f"{a.streams} MJPEG ({a.slow} slow) + {a.events} SSE, {r['clients_alive']} still connected, "
          f"{r['client_errors']} errors | {r['bytes'] / 1e6:.0f} MB |\n\n"
          f"Server CPU per processed frame (all its threads: decoding, recognizer, JPEG encoder, event loop): "
          f"{r['cpu_ms_per_frame_alone']:.1f} ms alone, {r['cpu_ms_per_frame_clients']:.1f} ms loaded.\n\n"
          f"Server memory (RSS) through the loaded window, sampled {len(rss)} times: first {rss[0]:.1f} MB, "
          f"last {rss[-1]:.1f} MB, max {rss.max():.1f} MB.\n")
    a.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
