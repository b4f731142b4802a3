"""Identity benchmark: does a track stay one person? Writes benchmarks/results/continuity.{json,md}.

    python benchmarks/continuity.py [--data ../shared/datasets/fer2013] [--sets "1 face,4 faces"] [--out DIR]

On the moving-face clip sets of the video benchmark (VIDEO mode with its defaults against IMAGE mode,
one thread): identity switches and transfers per 1,000 frames, kept faces, and the frame's cost in
whole-frame detects. On edited clips (fer_edge.release.clips.make_shot_clip: hard cuts, a cut to the
same face, a face swapped within a shot, a pan, a fade; 8 seeds each): transfers per 1,000 frames and
the frames flagged as cuts.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("FER2013_ROOT", str(ROOT.parent / "shared/datasets/fer2013")))
    ap.add_argument("--sets", default="1 face,4 faces", help="moving-clip sets to run (comma-separated)")
    ap.add_argument("--shot-seeds", type=int, default=8)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results"))
    a = ap.parse_args(argv)

    import cv2

    from fer_edge.release.video_benchmark import UnitClock, identity_errors, kept, run_clip
    from fer_edge.sysinfo import machine
    from fer_edge.release.clips import CLIP_SETS, SHOT_KINDS, iter_clips, make_shot_clip

    files = sorted(Path(a.data, "test").glob("*/*.jpg"))
    rng = np.random.default_rng(0)
    bank = np.stack([cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE) for i in rng.choice(len(files), 300, replace=False)])
    bank = bank[[f.std() > 20 for f in bank]]
    res = {"machine": machine(), "sets": [], "shots": []}
    for name in [s.strip() for s in a.sets.split(",") if s.strip()]:
        spec = CLIP_SETS[name]
        clock, t = UnitClock(), dict(frames=0, seconds=0.0, kept=0, image=0, switches=0, transfers=0)
        t0 = time.perf_counter()
        for k, clip in enumerate(iter_clips(bank, spec["n_faces"], spec["clips"], 90, 0)):
            ref = run_clip("image", clip)
            run = run_clip("video", clip, unit=clock)
            err = identity_errors(run["ids"])
            t["frames"] += run["frames"]
            t["seconds"] += run["seconds"]
            both, found = kept(ref, run)
            t["kept"] += both
            t["image"] += found
            t["switches"] += err["switches"]
            t["transfers"] += err["transfers"]
            if (k + 1) % max(1, spec["clips"] // 4) == 0:
                print(f"{name}: clip {k + 1}/{spec['clips']} ({time.perf_counter() - t0:.0f} s)", flush=True)
        per_k = 1000.0 / t["frames"]
        res["sets"].append({"clip_set": name, "clips": spec["clips"], "frames": t["frames"],
                            "switches_per_1000_frames": round(t["switches"] * per_k, 2),
                            "transfers_per_1000_frames": round(t["transfers"] * per_k, 2),
                            "kept_vs_image": round(t["kept"] / max(1, t["image"]), 4),
                            "whole_frame_invokes_per_frame": round(1000.0 * t["seconds"] / t["frames"] / clock.ms, 2)})
        print(res["sets"][-1], flush=True)
    for kind in SHOT_KINDS:
        frames = transfers = cut_frames = wrong_cuts = 0
        for seed in range(a.shot_seeds):
            clip = make_shot_clip(bank, kind, np.random.default_rng(100 + seed))
            run = run_clip("video", clip)
            transfers += identity_errors(run["ids"])["transfers"]
            frames += run["frames"]
            edit = kind in ("cut", "cut-same-face")
            cut_frames += sum(run["cuts"])
            wrong_cuts += sum(c and not (edit and i == len(clip.frames) // 2) for i, c in enumerate(run["cuts"]))
            # a track that lives on across a hard cut is an identity error even with the same person after it
            if edit:
                half = len(clip.frames) // 2
                before = {tid for f in run["ids"][:half] for tid in f.values()}
                transfers += len(before & {tid for f in run["ids"][half:] for tid in f.values()})
        res["shots"].append({"kind": kind, "clips": a.shot_seeds, "frames": frames,
                             "transfers_per_1000_frames": round(1000.0 * transfers / frames, 2),
                             "cuts_flagged": cut_frames, "cuts_flagged_wrongly": wrong_cuts})
        print(res["shots"][-1], flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "continuity.json").write_text(json.dumps(res, indent=1) + "\n")
    lines = [f"Machine: {res['machine']}", "", "| clip set | identity switches / 1,000 frames | transfers / 1,000 frames "
             "| kept vs image | whole-frame detects per frame |", "|---|---|---|---|---|"]
    lines += [f"| {s['clip_set']} | {s['switches_per_1000_frames']} | {s['transfers_per_1000_frames']} | "
              f"{100 * s['kept_vs_image']:.2f}% | {s['whole_frame_invokes_per_frame']} |" for s in res["sets"]]
    lines += ["", "| edited clip | transfers / 1,000 frames | frames flagged as cuts | flagged wrongly |", "|---|---|---|---|"]
    lines += [f"| {s['kind']} | {s['transfers_per_1000_frames']} | {s['cuts_flagged']} | {s['cuts_flagged_wrongly']} |"
              for s in res["shots"]]
    (out / "continuity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return res


if __name__ == "__main__":
    main()
