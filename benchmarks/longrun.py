"""Long run: N frames through the video pipeline; prints RSS growth and the number of live tracks.

    python benchmarks/longrun.py --frames 10000 [--json benchmarks/results/longrun.json]

Faces come and go (a new scene every 50 frames), so a leak in tracking,
interpreter resizing or buffers shows up as RSS growth or a growing track list.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        import os

        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run(frames: int, faces, size=(320, 240), seed=0) -> dict:
    from fer_edge import EmotionRecognizer, RecognizerOptions, RunningMode
    from fer_edge.options import DetectorOptions, TrackingOptions
    from fer_edge.release.scenes import make_scene

    rng = np.random.default_rng(seed)
    scenes = [make_scene([faces[i] for i in rng.choice(len(faces), int(rng.integers(0, 4)), replace=False)],
                         [0] * 4, rng, size=size, side_range=(60, 110))[0] for _ in range(20)]
    rec = EmotionRecognizer(RecognizerOptions(running_mode=RunningMode.VIDEO, detector=DetectorOptions(tiling="frame+quad"),
                                             tracking=TrackingOptions(detect_every=2)))
    samples, max_tracks, t0 = [], 0, time.time()
    for i in range(frames):
        rec.recognize_for_video(np.roll(scenes[(i // 50) % len(scenes)], i % 50, axis=1), i * 33.3)
        max_tracks = max(max_tracks, len(rec.tracker.tracks))
        if i % max(1, frames // 20) == 0:
            samples.append((i, rss_mb()))
    samples.append((frames, rss_mb()))
    warm = samples[1][1] if len(samples) > 2 else samples[0][1]
    return {"frames": frames, "seconds": round(time.time() - t0, 1), "rss_mb_after_warmup": round(warm, 1),
            "rss_mb_end": round(samples[-1][1], 1), "rss_growth_mb": round(samples[-1][1] - warm, 2),
            "max_live_tracks": max_tracks, "last_track_id": rec.tracker._next_id - 1,
            "samples": [(i, round(m, 1)) for i, m in samples]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=10000)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared/datasets/fer2013"))
    p.add_argument("--json", default=None)
    a = p.parse_args()
    from fer_edge.training.data import load, stratified_indices

    d = load(a.data, "test")
    faces = list(d.x[stratified_indices(d.y, 100, seed=2)])
    res = run(a.frames, faces)
    print(json.dumps({k: v for k, v in res.items() if k != "samples"}))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
