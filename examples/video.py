"""Video demo: a file or camera index in; annotated video, an emotion timeline per face (CSV + JSON) and a
PNG picture of it out (drawn with OpenCV: this runs on the device install).

    python examples/video.py clip.mp4 --out out/         # out/clip_annotated.mp4, clip_timeline.csv/.json/.png
    python examples/video.py 0 --max-frames 300 --out out/
"""
import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import cv2

from fer_edge import EmotionRecognizer, RecognizerOptions, RunningMode
from fer_edge.drawing import draw_faces, draw_timeline


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="emotion timeline of a video")
    p.add_argument("source", help="video file or camera index")
    p.add_argument("--out", default="out", help="output folder")
    p.add_argument("--model", default=None)
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--no-plot", action="store_true")
    a = p.parse_args(argv)
    cap = cv2.VideoCapture(int(a.source) if a.source.isdigit() else a.source)
    if not cap.isOpened():
        print(f"error: cannot open {a.source}", file=sys.stderr)
        return 2
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(a.source).stem if not a.source.isdigit() else f"camera{a.source}"
    writer, timeline = None, defaultdict(list)
    try:
        from tqdm import tqdm
        bar = tqdm(total=min(total, a.max_frames) if total and a.max_frames else (a.max_frames or total), unit="frame")
    except ImportError:
        bar = None
    with EmotionRecognizer(RecognizerOptions(model=a.model, running_mode=RunningMode.VIDEO)) as rec:
        i = 0
        while a.max_frames is None or i < a.max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            res = rec.recognize_for_video(frame, i * 1000.0 / fps)
            if writer is None:
                writer = cv2.VideoWriter(str(out / f"{stem}_annotated.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                         (frame.shape[1], frame.shape[0]))
            writer.write(draw_faces(frame, res.faces))
            for f in res.faces:
                timeline[f.track_id].append({"frame": i, "t_s": round(i / fps, 3), "box": list(f.box),
                                             "emotion": f.emotion, "probabilities": f.probabilities})
            i += 1
            if bar:
                bar.update(1)
        labels = rec.labels
    cap.release()
    if bar:
        bar.close()
    if writer:
        writer.release()
    with open(out / f"{stem}_timeline.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["face", "frame", "t_s", "x", "y", "w", "h", "emotion", *labels])
        for tid, rows in sorted(timeline.items()):
            for r in rows:
                w.writerow([tid, r["frame"], r["t_s"], *r["box"], r["emotion"],
                            *(f"{r['probabilities'][k]:.4f}" for k in labels)])
    (out / f"{stem}_timeline.json").write_text(json.dumps({str(k): v for k, v in timeline.items()}))
    if timeline and not a.no_plot:
        cv2.imwrite(str(out / f"{stem}_timeline.png"), draw_timeline(timeline, labels))
    print(f"{i} frames, {len(timeline)} tracked faces -> {out}/", file=sys.stderr)
    return 0 if i else 2


if __name__ == "__main__":
    sys.exit(main())
