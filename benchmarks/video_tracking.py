"""Video pipeline benchmark on moving-face clips: writes benchmarks/results/video.{json,md}.

    python benchmarks/video_tracking.py [--data ../shared/datasets/fer2013] [--frames 90] [--out DIR]

The same numbers come with `fer-edge benchmark` (its video section).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("FER2013_ROOT", str(ROOT.parent / "shared/datasets/fer2013")))
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results"))
    a = ap.parse_args(argv)

    import cv2

    from fer_edge.release.video_benchmark import markdown, measure_video
    from fer_edge.sysinfo import machine

    files = sorted(Path(a.data, "test").glob("*/*.jpg"))
    rng = np.random.default_rng(a.seed)
    bank = np.stack([cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE) for i in rng.choice(len(files), 300, replace=False)])
    bank = bank[[f.std() > 20 for f in bank]]  # no near-blank faces
    res = measure_video(bank, n_frames=a.frames, seed=a.seed)
    res["machine"] = machine()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "video.json").write_text(json.dumps(res, indent=1) + "\n")
    md = f"Video pipeline on moving-face clips ({res['machine']}, one thread, {a.frames} frames per clip).\n\n" + \
        markdown(res) + "\n"
    (out / "video.md").write_text(md)
    print(md)
    return res


if __name__ == "__main__":
    main()
