"""``fer-edge predict`` (images, folders, videos) and ``fer-edge models``."""
from __future__ import annotations

import json
import os
import sys

import click

from .cli_common import (EXIT_INPUT_ERROR, _recognizer_from, answer_options, device_option, fail, main,
                         max_frames_option, model_option, threads_option)
from .results import shown


def _detector_choice(detector: str, yunet_model) -> tuple[str, str | None]:
    """``(name, model file)`` for ``--detector``, refused in one line where it cannot work here."""
    import cv2

    if detector == "haar" and not hasattr(cv2, "CascadeClassifier"):
        fail(f"--detector haar: OpenCV {cv2.__version__} has no CascadeClassifier (removed in OpenCV 5); "
             "use blazeface (the default)")
    if detector == "yunet" and not yunet_model:
        fail("--detector yunet needs --yunet-model PATH to your face_detection_yunet_*.onnx file")
    if yunet_model and detector != "yunet":
        fail("--yunet-model goes with --detector yunet")
    return detector, yunet_model


def _recognizer(model, detector, tiling, threads, device, min_score, video: bool, flip_tta: bool = False,
                verify: bool = True, balanced: bool = False, min_emotion_score: float = 0.0):
    from .options import DetectorOptions, RecognizerOptions, RunningMode

    name, detector_model = detector if isinstance(detector, tuple) else (detector, None)
    if model and str(model).endswith(".keras"):
        fail(f"{model}: a Keras model; the runtime takes TFLite. Convert it first: fer-edge convert {model} --int8")
    return _recognizer_from(RecognizerOptions(
        model=model, detector=DetectorOptions(name, detector_model, tiling, min_score, verify=verify),
        num_threads=threads, device=device, flip_tta=flip_tta, balanced=balanced, min_emotion_score=min_emotion_score,
        running_mode=RunningMode.VIDEO if video else RunningMode.IMAGE))


def _top3(probabilities: dict) -> str:
    """The three largest, leaving out those that print as 0.00 (a person shown happy only is ``happy=1.00``)."""
    return " ".join(f"{k}={v:.2f}" for k, v in sorted(probabilities.items(), key=lambda kv: -kv[1])[:3]
                    if v >= 0.005)


def _table_rows(path: str, faces, frame=None) -> list[str]:
    where = path if frame is None else f"{path}#{frame}"
    if not faces:
        return [f"{where}\t-\tno face found"]
    return [f"{where}\t{list(f.box)}\t{shown(f.emotion)} {f.emotion_score:.2f}\t{_top3(f.probabilities)}"
            for f in faces]


def _people_rows(path: str, people) -> list[str]:
    """``predict --summary``'s table: one person a line."""
    if not people:
        return [f"{path}\t-\tno face found"]
    return [f"{path}\t{p.track_id}\t{p.first_ms / 1000:.2f}-{p.last_ms / 1000:.2f} s\t{shown(p.emotion)}\t"
            f"{_top3(p.shares)}\t{p.changes}" for p in people]


def _record(path: str, faces, result=None) -> dict:
    """An image's JSON line, or a video frame's (the per-frame JSON of ``FrameResult.to_dict``, with its path)."""
    if result is not None:
        return {"path": path, **result.to_dict()}
    return {"path": path, "faces": [f.to_dict() for f in faces]}


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@model_option
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one object per image (per frame for videos).")
@click.option("--annotate", type=click.Path(file_okay=False), default=None,
              help="Write annotated copies here, mirroring the inputs' paths (videos as MP4); never overwrites.")
@click.option("--detector", default="blazeface", show_default=True,
              help="blazeface (bundled), blazeface-full (bundled, far faces), yunet (needs --yunet-model), or haar "
                   "(only where OpenCV has CascadeClassifier: not OpenCV 5).")
@click.option("--yunet-model", type=click.Path(dir_okay=False), default=None,
              help="With --detector yunet: your face_detection_yunet_*.onnx file (nothing is downloaded).")
@click.option("--tiling", default="frame+grid", show_default=True, help="Detector views: frame, pair, frame+pair, quad, frame+quad, grid, frame+grid.")
@click.option("--min-score", default=0.55, show_default=True, type=click.FloatRange(0, 1), help="Face detection threshold.")
@threads_option
@device_option
@max_frames_option
@click.option("--flip-tta", is_flag=True,
              help="Average each face with its mirror image (2x classifier cost; the default model does it inside).")
@click.option("--check/--no-check", "verify", default=True, show_default=True,
              help="Report a face the detector is unsure of only once confirmed (images: found again in closer views or confirmed by the face mesh model; "
                   "videos: by the face mesh model). --no-check: every detection, phantoms included.")
@click.option("--summary", is_flag=True,
              help="Videos: one line per person (track) instead of per frame: first/last seen, dominant emotion, "
                   "shares, changes; with --annotate, a timeline PNG per video too.")
@answer_options
@click.option("--quiet", "-q", is_flag=True,
              help="No progress line on stderr (it is shown only on a terminal, for work longer than half a second).")
def predict(inputs, model, as_json, annotate, detector, yunet_model, tiling, min_score, threads, device, max_frames,
            flip_tta, verify, summary, quiet, balanced, min_emotion_score):
    """Faces and emotions in images, folders of images and video files.

    Exit status: 0 when every input was read, 1 when any input failed (each
    failure is one line on stderr; every good input is still reported), 2 when
    nothing could run (bad model, bad option).
    """
    from .images import ImageError, expand_inputs, is_video, read_image, to_bgr

    paths = expand_inputs(inputs)
    if not paths:
        fail("no images or videos found in the given inputs")
    detector = _detector_choice(detector, yunet_model)
    answers = {"balanced": balanced, "min_emotion_score": min_emotion_score}
    rec = _recognizer(model, detector, tiling, threads, device, min_score, video=False, flip_tta=flip_tta,
                      verify=verify, **answers)
    vid_rec = None
    ann = None
    if annotate:
        from .annotate import Annotator
        try:
            os.makedirs(annotate, exist_ok=True)
        except OSError as e:
            fail(f"--annotate {annotate}: cannot create the folder ({e.strerror or e})")
        ann = Annotator(annotate, paths)
    from .progress import Progress

    failed = 0
    images = Progress("images", sum(not is_video(p) for p in paths), "images", quiet=quiet)
    for path in paths:
        name = os.fsdecode(path)
        try:
            if is_video(path):
                if vid_rec is None:
                    vid_rec = _recognizer(model, detector, tiling, threads, device, min_score, video=True,
                                          flip_tta=flip_tta, verify=verify, **answers)
                vid_rec.reset()
                images.close()
                _predict_video(vid_rec, path, name, as_json, ann, max_frames, summary, quiet)
                continue
            images.update()
            img = read_image(path)
            faces = rec.recognize(img)
            _emit(name, faces, as_json)
            if ann is not None:
                from .drawing import draw_faces
                out = ann.write_image(path, draw_faces(to_bgr(img), faces))
                click.echo(f"annotated: {name} -> {out}", err=True)
        except BrokenPipeError:
            raise  # the reader of stdout went away: the run ends quietly (fer_edge.launch), nothing failed
        except (ValueError, RuntimeError, OSError) as e:
            failed += 1
            message = str(e) if isinstance(e, ImageError) else f"{name}: {e}"
            click.echo(f"error: {message}", err=True)
            if as_json:  # a JSON-lines consumer sees every input, the failed ones too
                click.echo(json.dumps({"path": name, "error": message}))
    images.close()
    rec.close()
    if vid_rec is not None:
        vid_rec.close()
    if failed:
        click.echo(f"{failed} of {len(paths)} inputs failed", err=True)
        sys.exit(EXIT_INPUT_ERROR)


def _predict_video(rec, path, name, as_json, ann, max_frames, summary=False, quiet=False) -> None:
    """Every frame through VIDEO mode; with ``ann``, an annotated MP4 written as the frames go; with ``summary``,
    one record per person at the end instead of one per frame."""
    from .drawing import draw_faces
    from .images import video_fps, video_frame_count, video_frames
    from .progress import Progress
    from .summary import TrackLog

    writer = out = None
    log = TrackLog(rec.labels, timeline=ann is not None) if summary else None
    people = []
    total = video_frame_count(path)
    progress = Progress(name, min(total, max_frames) if total and max_frames else total or max_frames, quiet=quiet)
    try:
        for i, ts, frame in video_frames(path, max_frames):
            progress.update()
            res = rec.recognize_for_video(frame, ts)
            if log is None:
                _emit(name, res.faces, as_json, res)
            else:
                people += log.add(res)
            if ann is not None:
                if writer is None:
                    out, writer = ann.video_writer(path, video_fps(path), (frame.shape[1], frame.shape[0]))
                writer.write(draw_faces(frame, res.faces))
    finally:
        progress.close()
        if writer is not None:
            writer.release()
            click.echo(f"annotated: {name} -> {out}", err=True)
    if log is not None:
        _emit_people(name, path, sorted(people + log.finish(), key=lambda p: p.track_id), log.labels, as_json, ann)


def _emit_people(name, path, people, labels, as_json, ann) -> None:
    """``predict --summary``'s output for one video (and its timeline PNG when annotating)."""
    import cv2

    from .drawing import draw_timeline

    if as_json:
        click.echo(json.dumps({"path": name, "people": [p.to_dict() for p in people]}))
    else:
        _header_once("path\ttrack\tseen\temotion\tshares (top 3)\tchanges")
        for row in _people_rows(name, people):
            click.echo(row)
    if ann is not None and people:
        png = ann.path_for(path, ending=".timeline.png")
        if not cv2.imwrite(str(png), draw_timeline({p.track_id: p.timeline for p in people}, labels, max_tracks=12)):
            raise OSError(f"{png}: the timeline PNG could not be written")
        click.echo(f"timeline: {name} -> {png}", err=True)


_TABLE_HEADER = "path\tbox [x, y, w, h]\temotion\ttop-3 probabilities"


def _header_once(header: str) -> None:
    """A table's header, printed above its first row and never alone."""
    seen = click.get_current_context().meta.setdefault("fer_edge.headers", set())
    if header not in seen:
        seen.add(header)
        click.echo(header)


def _emit(name, faces, as_json, result=None):
    """One image's faces, or one video frame's (``result``), as JSON or table rows."""
    if as_json:
        click.echo(json.dumps(_record(name, faces, result)))
    else:
        _header_once(_TABLE_HEADER)
        for row in _table_rows(name, faces, None if result is None else result.frame_index):
            click.echo(row)


# ---------------------------------------------------------------- models
@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def models(as_json):
    """The models bundled in this install, with their metadata."""
    from .classifier import DEFAULT_MODEL, TIERS, bundled_models
    from .metadata import MetadataError, read_tflite_metadata
    from .sysinfo import describe_latency, latency_by_cpu

    rows, tier_of = [], {f: t for t, f in TIERS.items()}
    for name, path in sorted(bundled_models().items()):
        try:
            meta = read_tflite_metadata(path.read_bytes(), name)
        except MetadataError as e:
            fail(str(e))
        rows.append({"name": name, "default": name == DEFAULT_MODEL, "tier": tier_of.get(name),
                     "size_kb": round(path.stat().st_size / 1024, 1),
                     **{k: v for k, v in meta.to_dict().items()
                        if k in ("labels", "format", "recipe", "metrics", "preprocessing", "version",
                                 "score_calibration")}})
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        m = r["metrics"]
        tier = f" (tier {r['tier']})" if r["tier"] else ""
        facts = [r["format"], f"{r['size_kb']} KB", f"recipe {r['recipe']}",
                 f"test accuracy {m['test_accuracy'] if 'test_accuracy' in m else 'n/a'}"]
        if "leak_free_test_accuracy" in m:
            facts.append(f"leak-free test {m['leak_free_test_accuracy']}")
        if m.get("macs"):
            facts.append(f"{m['macs'] / 1e6:.1f} M MACs")
        if per_cpu := latency_by_cpu(m):  # a ratio per CPU: INT8 speed differs several times between CPUs
            facts.append(f"latency vs the fer model {describe_latency(per_cpu)}")
        if "stable_shift_1px" in m:
            facts.append(f"same answer {100 * m['stable_shift_1px']:.1f}% when the face moves 1 px, "
                         f"{100 * m['stable_mirror']:.1f}% mirrored")
        cal = r["score_calibration"]
        if cal.get("temperature"):
            facts.append(f"calibrated (T {cal['temperature']:g}" + (f", test ECE {m['test_ece']}" if "test_ece" in m
                                                                   else "") + ")")
        else:
            facts.append("probabilities not calibrated")
        if "balanced_test_accuracy" in m:
            facts.append(f"--balanced: test accuracy {m['balanced_test_accuracy']}, fear recall "
                         f"{m['balanced_fear_recall']} (default {m.get('fear_recall', 'n/a')})")
        click.echo(f"{r['name']}{tier}: {', '.join(facts)}, labels {', '.join(r['labels'])}")


