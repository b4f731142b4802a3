"""The video pipeline measured, not divided: frames/s, detector cost, recall and phantom faces on moving clips.

For each clip set (:data:`fer_edge.training.clips.CLIP_SETS`) and each way of running
the recognizer, on one thread and in the same run:

- ``image``: IMAGE mode, the full detector on every frame (the reference for recall);
- ``video-before``: VIDEO mode as it was before region tracking (full detector every
  frame, no confirmation, raw boxes);
- ``video``: VIDEO mode with today's defaults (region tracking, confirmation, One Euro boxes);
- ``video-unverified``: the same without the full-range model's check of new faces.

Reported per row: ms and frames/s per frame; detector views per frame; the frame's cost
in *whole-frame invokes* (ms per frame / ms of one short-range BlazeFace detect on the
whole frame, timed between the frames of every row all through the run, median: one
measurement at the start moved the ratio by 30% from run to run); recall against the clips' truth; the share of
the faces that ``image`` finds in a frame that the row also reports there ("kept");
false faces per frame (reported boxes whose centre lies on no face on screen, covered ones
included: phantoms, and boxes left behind by a face that went).
"""
from __future__ import annotations

import time

import numpy as np

#: The rows, as RecognizerOptions overrides (running mode aside).
MODES = {
    "image": {},
    "video-before": dict(region_tracking=False, detect_every=1, confirm_frames=1, box_filter=None, verify_faces=False),
    "video": {},
    # the price of verification: more faces kept, and the short-range model's phantoms reported
    "video-unverified": dict(verify_faces=False),
}


def _match(reported, truth):
    """``{truth face id: reported index}``: a report finds a face when its centre lies in the face's box and its
    size is within 0.5-2x (the detector frames faces its own way; IoU would measure that, not finding)."""
    cand = []
    for fid, (x, y, w, h) in truth:
        for ri, (rx, ry, rw, rh) in enumerate(reported):
            cx, cy = rx + rw / 2, ry + rh / 2
            if x <= cx <= x + w and y <= cy <= y + h and 0.5 <= max(rw, rh) / max(w, h) <= 2.0:
                cand.append((np.hypot(cx - x - w / 2, cy - y - h / 2), fid, ri))
    got, used = {}, set()
    for _, fid, ri in sorted(cand):
        if fid not in got and ri not in used:
            got[fid] = ri
            used.add(ri)
    return got


def _on_a_face(box, present, grow: float = 0.25) -> bool:
    """Whether a reported box's centre lies on some face on screen (its box grown by ``grow`` each side)."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return any(x - grow * w <= cx <= x + w * (1 + grow) and y - grow * h <= cy <= y + h * (1 + grow)
               for _, (x, y, w, h) in present)


class UnitClock:
    """The cost unit: ms of one short-range BlazeFace detect over a whole frame (one view), timed on the
    frames it is handed all through a run, so a slow moment of the machine weighs on both sides."""

    def __init__(self):
        from fer_edge.detection.blazeface import BlazeFaceDetector

        self.det = BlazeFaceDetector("short", tiling="frame", num_threads=1)
        self.times: list[float] = []

    def time(self, frame) -> None:
        t = time.perf_counter()
        self.det.detect(frame)
        self.times.append(time.perf_counter() - t)

    @property
    def ms(self) -> float:
        return 1000.0 * float(np.median(self.times))


def run_mode(mode: str, clips, model=None, unit: UnitClock | None = None, unit_every: int = 5) -> dict:
    """One row; with ``unit``, a whole-frame detect is timed (apart from the row's own time) every
    ``unit_every`` frames."""
    from fer_edge.recognizer import EmotionRecognizer, RecognizerOptions, RunningMode

    running = RunningMode.IMAGE if mode == "image" else RunningMode.VIDEO
    seconds, views, checks, frames, hits, truths, false, found = 0.0, 0, 0, 0, 0, 0, 0, []
    for clip in clips:
        rec = EmotionRecognizer(RecognizerOptions(model=model, running_mode=running, num_threads=1, **MODES[mode]))
        if running is RunningMode.IMAGE:  # warm the interpreters (first invokes allocate)
            rec.recognize(clip.frames[0])
        else:
            rec.recognize_for_video(clip.frames[0], 0)
            rec.reset()
        rec.detector.invokes = 0
        if rec._verifier is not None:
            rec._verifier.invokes = 0
        per_frame = []
        for i, frame in enumerate(clip.frames):
            t = time.perf_counter()
            faces = rec.recognize(frame) if running is RunningMode.IMAGE else \
                rec.recognize_for_video(frame, i * 1000.0 / 30).faces
            seconds += time.perf_counter() - t
            if unit is not None and i % unit_every == 0:
                unit.time(frame)
            got = _match([f.box for f in faces], clip.truth[i])
            hits += len(got)
            truths += len(clip.truth[i])
            false += sum(not _on_a_face(f.box, clip.present[i]) for f in faces)
            per_frame.append(set(got))
        views += rec.detector.invokes
        checks += rec._verifier.invokes if rec._verifier is not None else 0
        frames += len(clip.frames)
        found.append(per_frame)
        rec.close()
    ms = 1000.0 * seconds / frames
    return {"mode": mode, "frames": frames, "ms_per_frame": round(ms, 3), "fps_1t": round(1000.0 / ms, 1),
            "detector_views_per_frame": round(views / frames, 3),
            "verifier_views_per_frame": round(checks / frames, 3), "recall": round(hits / max(truths, 1), 4),
            "false_faces_per_frame": round(false / frames, 4), "_found": found}


def measure_video(bank, model=None, *, n_frames: int = 90, seed: int = 0, sets=None, log=print) -> dict:
    """Every mode on every clip set; the cost unit measured on the same frames in the same run."""
    from fer_edge.training.clips import CLIP_SETS, clip_set

    out = {"clip_frames": n_frames, "seed": seed, "sets": []}
    for name, spec in (sets or CLIP_SETS).items():
        clips = clip_set(bank, spec["n_faces"], spec["clips"], n_frames, seed)
        clock = UnitClock()
        clock.time(clips[0].frames[0])  # the first invoke allocates
        clock.times.clear()
        rows = {m: run_mode(m, clips, model, clock) for m in MODES}
        unit = clock.ms
        ref = rows["image"]["_found"]
        for r in rows.values():
            r["whole_frame_invokes_per_frame"] = round(r["ms_per_frame"] / unit, 2)
            both = sum(len(a & b) for ca, cb in zip(ref, r["_found"]) for a, b in zip(ca, cb))
            r["kept_vs_image"] = round(both / max(1, sum(len(a) for c in ref for a in c)), 4)
            del r["_found"]
        out["sets"].append({"clip_set": name, "clips": spec["clips"], "whole_frame_invoke_ms": round(unit, 3),
                            "unit_samples": len(clock.times),
                            "events": [e for c in clips for e in c.events][:6], "rows": list(rows.values())})
        log(f"video {name}: " + "; ".join(f"{r['mode']} {r['fps_1t']} fps, recall {r['recall']:.3f}, "
                                          f"false/frame {r['false_faces_per_frame']:.3f}" for r in rows.values()))
    return out


def markdown(res: dict) -> str:
    lines = ["| clip set | mode | frames/s (1 thread) | ms/frame | ms/frame in whole-frame detects | short-range "
             "views per frame | full-range checks per frame | recall vs truth | kept vs image | false faces per frame |",
             "|---" * 10 + "|"]
    for s in res["sets"]:
        for r in s["rows"]:
            lines.append(f"| {s['clip_set']} | {r['mode']} | {r['fps_1t']} | {r['ms_per_frame']:.2f} | "
                         f"{r['whole_frame_invokes_per_frame']} | {r['detector_views_per_frame']} | "
                         f"{r['verifier_views_per_frame']} | "
                         f"{100 * r['recall']:.1f}% | {100 * r['kept_vs_image']:.1f}% | {r['false_faces_per_frame']} |")
    units = ", ".join(f"{s['clip_set']}: {s['whole_frame_invoke_ms']} ms" for s in res["sets"])
    return "\n".join(lines) + ("\n\nOne whole-frame short-range detect (the cost unit), median of those timed "
                               f"between the frames of every row of the set: {units}.")
