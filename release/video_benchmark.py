"""The video pipeline measured, not divided: frames/s, detector cost, recall and phantom faces on moving clips.

For each clip set (:data:`fer_edge.release.clips.CLIP_SETS`) and each way of running
the recognizer, on one thread and in the same run:

- ``image``: IMAGE mode without its check of unsure faces, the full detector on every frame (the reference for
  recall);
- ``image-checked``: IMAGE mode with its defaults (unsure faces looked at again in closer views);
- ``video-before``: VIDEO mode as it was before region tracking (full detector every
  frame, no confirmation, raw boxes);
- ``video``: VIDEO mode with today's defaults (region tracking, confirmation, One Euro boxes);
- ``video-unverified``: the same without the face mesh model's check of new faces.

Reported per row: ms and frames/s per frame; detector views per frame; the frame's cost
in *whole-frame invokes* (ms per frame / ms of one short-range BlazeFace detect on the
whole frame, timed between the frames of every row all through the run, median: one
measurement at the start moved the ratio by 30% from run to run); recall against the clips' truth; the share of
the faces that ``image`` finds in a frame that the row also reports there ("kept");
false faces per frame (reported boxes whose centre lies on no face on screen, covered ones
included: phantoms, and boxes left behind by a face that went). Apart from the clips, the VIDEO rows'
faces per frame on face-free textured backgrounds panning 2 px a frame (every face there is a phantom).
"""
from __future__ import annotations

import time

import numpy as np

from fer_edge.options import DetectorOptions, TrackingOptions

#: The rows, as RecognizerOptions overrides (running mode aside).
MODES = {
    "image": dict(detector=DetectorOptions(verify=False)),
    "image-checked": {},
    "video-before": dict(tracking=TrackingOptions(region_tracking=False, detect_every=1, confirm_frames=1, box_filter=None),
                         detector=DetectorOptions(verify=False)),
    "video": {},
    # the price of verification: more faces kept, and the short-range model's phantoms reported
    "video-unverified": dict(detector=DetectorOptions(verify=False)),
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


def run_clip(mode: str, clip, model=None, unit: UnitClock | None = None, unit_every: int = 5) -> dict:
    """One mode on one clip: counts to add up over a set; with ``unit``, a whole-frame detect is timed (apart
    from the row's own time) every ``unit_every`` frames."""
    from fer_edge.recognizer import EmotionRecognizer, RecognizerOptions, RunningMode

    running = RunningMode.IMAGE if mode.startswith("image") else RunningMode.VIDEO
    rec = EmotionRecognizer(RecognizerOptions(model=model, running_mode=running, num_threads=1, **MODES[mode]))
    if running is RunningMode.IMAGE:  # warm the interpreters (first invokes allocate)
        rec.recognize(clip.frames[0])
    else:
        rec.recognize_for_video(clip.frames[0], 0)
        rec.reset()
    rec.detector.invokes = 0
    verifier = rec.video.verifier if rec.video is not None else None
    if verifier is not None:
        verifier.invokes = 0
    seconds, hits, truths, false, found, ids, cuts = 0.0, 0, 0, 0, [], [], []
    stages: dict[str, float] = {}
    for i, frame in enumerate(clip.frames):
        t = time.perf_counter()
        res = rec.recognize(frame) if running is RunningMode.IMAGE else rec.recognize_for_video(frame, i * 1000.0 / 30)
        faces = res if running is RunningMode.IMAGE else res.faces
        seconds += time.perf_counter() - t
        for k, v in getattr(res, "stages_ms", {}).items():
            stages[k] = stages.get(k, 0.0) + v
        cuts.append(bool(getattr(res, "cut", False)))
        if unit is not None and i % unit_every == 0:
            unit.time(frame)
        got = _match([f.box for f in faces], clip.truth[i])
        hits += len(got)
        truths += len(clip.truth[i])
        false += sum(not _on_a_face(f.box, clip.present[i]) for f in faces)
        found.append(set(got))
        ids.append({fid: faces[ri].track_id for fid, ri in got.items()})
    out = {"ids": ids, "cuts": cuts, "seconds": seconds, "views": rec.detector.invokes,
           "checks": verifier.invokes if verifier is not None else 0, "frames": len(clip.frames),
           "hits": hits, "truths": truths, "false": false, "found": found, "stages": stages}
    rec.close()
    return out


def kept(reference: dict, run: dict) -> tuple[int, int]:
    """``(faces both found, faces the reference found)`` over a clip: two :func:`run_clip` results."""
    return (sum(len(a & b) for a, b in zip(reference["found"], run["found"])),
            sum(len(a) for a in reference["found"]))


def identity_errors(ids) -> dict:
    """Identity errors of one clip from its frames' ``{true face: track id}``: ``switches``, a face's track id
    changing from one frame it is reported in to the next; ``transfers``, a track id reported on more than one
    true face (one person's track passing to another: what a per-person summary cannot survive)."""
    last, faces_of, switches = {}, {}, 0
    for frame in ids:
        for fid, tid in frame.items():
            if tid is None:
                continue
            switches += fid in last and last[fid] != tid
            last[fid] = tid
            faces_of.setdefault(tid, set()).add(fid)
    return {"switches": switches, "transfers": sum(len(f) - 1 for f in faces_of.values())}


def _row(mode: str, t: dict) -> dict:
    ms = 1000.0 * t["seconds"] / t["frames"]
    return {"mode": mode, "frames": t["frames"], "ms_per_frame": round(ms, 3), "fps_1t": round(1000.0 / ms, 1),
            "detector_views_per_frame": round(t["views"] / t["frames"], 3),
            "verifier_views_per_frame": round(t["checks"] / t["frames"], 3),
            "recall": round(t["hits"] / max(t["truths"], 1), 4),
            "false_faces_per_frame": round(t["false"] / t["frames"], 4),
            "kept_vs_image": round(t["kept"] / max(1, t["image_found"]), 4)}


#: face-free backgrounds: frames each pans for (2 px a frame)
FACE_FREE_FRAMES = 30


def face_free(mode: str, model=None, scenes: int = 100, frames: int = FACE_FREE_FRAMES) -> float:
    """Faces per frame one VIDEO ``mode`` reports on ``scenes`` seeded face-free backgrounds panning 2 px a frame:
    phantoms only (textures and edges the short-range model takes for faces)."""
    from fer_edge.recognizer import EmotionRecognizer, RecognizerOptions, RunningMode
    from fer_edge.release.scenes import background

    faces = 0
    with EmotionRecognizer(RecognizerOptions(model=model, running_mode=RunningMode.VIDEO, num_threads=1,
                                             **MODES[mode])) as rec:
        for k in range(scenes):
            wide = background(480, 640 + 2 * frames, np.random.default_rng(1000 + k))
            rec.reset()
            for i in range(frames):
                faces += len(rec.recognize_for_video(np.ascontiguousarray(wide[:, 2 * i:2 * i + 640]), i * 33.3).faces)
    return round(faces / (scenes * frames), 4)


def measure_video(bank, model=None, *, n_frames: int = 90, seed: int = 0, sets=None, log=print,
                  face_free_scenes: int = 100) -> dict:
    """Every mode on every clip set, clip by clip (one clip in memory at a time: about 80 MB), with a progress
    line every tenth of a set; the cost unit measured on the same frames in the same run."""
    from fer_edge.release.clips import CLIP_SETS, iter_clips

    out = {"clip_frames": n_frames, "seed": seed, "sets": []}
    keys = ("seconds", "views", "checks", "frames", "hits", "truths", "false", "kept", "image_found")
    for name, spec in (sets or CLIP_SETS).items():
        clock, events = UnitClock(), []
        tally = {m: dict.fromkeys(keys, 0) for m in MODES}
        stage_ms = {m: {} for m in MODES}
        n = spec["clips"]
        t0 = time.perf_counter()
        for k, clip in enumerate(iter_clips(bank, spec["n_faces"], n, n_frames, seed)):
            if k == 0:
                clock.time(clip.frames[0])  # the first invoke allocates
                clock.times.clear()
            events += clip.events
            runs = {m: run_clip(m, clip, model, clock) for m in MODES}
            for m, r in runs.items():
                t = tally[m]
                for key in keys[:7]:
                    t[key] += r[key]
                for k_, v in r["stages"].items():
                    stage_ms[m][k_] = stage_ms[m].get(k_, 0.0) + v
                both, found = kept(runs["image"], r)
                t["kept"] += both
                t["image_found"] += found
            if (k + 1) % max(1, n // 10) == 0 or k + 1 == n:
                log(f"video {name}: clip {k + 1}/{n} ({time.perf_counter() - t0:.0f} s)")
        unit = clock.ms
        rows = [_row(m, t) for m, t in tally.items()]
        for r in rows:
            r["whole_frame_invokes_per_frame"] = round(r["ms_per_frame"] / unit, 2)
            if stage_ms[r["mode"]]:  # VIDEO modes: where a frame's time went (pipeline stages; frames decoded)
                r["stages_ms_per_frame"] = {k: round(v / r["frames"], 4) for k, v in stage_ms[r["mode"]].items()}
        out["sets"].append({"clip_set": name, "clips": n, "whole_frame_invoke_ms": round(unit, 3),
                            "unit_samples": len(clock.times), "events": events[:6], "rows": rows})
        log(f"video {name}: " + "; ".join(f"{r['mode']} {r['fps_1t']} fps, recall {r['recall']:.3f}, "
                                          f"false/frame {r['false_faces_per_frame']:.3f}" for r in rows))
    if face_free_scenes:
        out["face_free"] = {"scenes": face_free_scenes, "frames": FACE_FREE_FRAMES,
                            "faces_per_frame": {m: face_free(m, model, face_free_scenes)
                                                for m in MODES if m.startswith("video")}}
        log(f"video face-free backgrounds: {out['face_free']['faces_per_frame']}")
    return out


def markdown(res: dict) -> str:
    lines = ["| clip set | mode | frames/s (1 thread) | ms/frame | ms/frame in whole-frame detects | short-range "
             "views per frame | new-face checks per frame | recall vs truth | kept vs image | false faces per frame |",
             "|---" * 10 + "|"]
    for s in res["sets"]:
        for r in s["rows"]:
            lines.append(f"| {s['clip_set']} | {r['mode']} | {r['fps_1t']} | {r['ms_per_frame']:.2f} | "
                         f"{r['whole_frame_invokes_per_frame']} | {r['detector_views_per_frame']} | "
                         f"{r['verifier_views_per_frame']} | "
                         f"{100 * r['recall']:.1f}% | {100 * r['kept_vs_image']:.1f}% | {r['false_faces_per_frame']} |")
    units = ", ".join(f"{s['clip_set']}: {s['whole_frame_invoke_ms']} ms" for s in res["sets"])
    staged = [(s, r) for s in res["sets"] for r in s["rows"] if r.get("stages_ms_per_frame") and r["mode"] == "video"]
    if staged:
        from fer_edge.video_pipeline import STAGES

        lines += ["", "Where a VIDEO frame's time goes (defaults), per frame: ms, and in units of one whole-frame "
                  "detect (frames already decoded; the camera adds its capture):", "",
                  "| clip set | " + " | ".join(STAGES) + " | total |", "|---" * (len(STAGES) + 2) + "|"]
        for s, r in staged:
            st, u = r["stages_ms_per_frame"], s["whole_frame_invoke_ms"]
            lines.append(f"| {s['clip_set']} | " + " | ".join(f"{st.get(k, 0):.3f} ({st.get(k, 0) / u:.2f})"
                                                            for k in STAGES)
                         + f" | {sum(st.values()):.3f} ({sum(st.values()) / u:.2f}) |")
    if res.get("face_free"):
        ff = res["face_free"]
        lines += ["", f"Phantoms: faces per frame reported on {ff['scenes']} face-free textured backgrounds panning "
                  f"2 px a frame for {ff['frames']} frames: " + ", ".join(f"{m} {v}" for m, v in
                                                                         ff["faces_per_frame"].items()) + "."]
    return "\n".join(lines) + ("\n\nOne whole-frame short-range detect (the cost unit), median of those timed "
                               f"between the frames of every row of the set: {units}.")
