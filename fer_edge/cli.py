"""The ``fer-edge`` command: one verb per job.

Runtime verbs (``predict``, ``models``, ``camera``) need only numpy, OpenCV and
LiteRT; the workstation verbs (``train``, ``evaluate``, ``convert``, ``parity``,
``benchmark``, ``data``) import TensorFlow/Keras lazily and say which extra to
install when it is missing. Every error is one line on stderr and a non-zero exit.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from . import __version__

EXIT_INPUT_ERROR = 1  # some inputs could not be read (the good ones were still reported)
EXIT_USAGE = 2        # bad options, missing model, missing data: nothing was done


def fail(message: str, code: int = EXIT_USAGE):
    """Print one line and exit: no traceback for errors a user can fix."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _needs_training_extra(e: ImportError):
    fail(f"this command needs the training extra ({e.name or e}); install it with: pip install 'fer-edge[train]'")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fer-edge")
def main():
    """Facial emotion recognition on edge devices."""


# ---------------------------------------------------------------- predict
def _recognizer(model, detector, tiling, threads, device, min_score, video: bool):
    from .interpreter import ModelError, RuntimeMissingError
    from .metadata import MetadataError
    from .recognizer import EmotionRecognizer, RecognizerOptions, RunningMode

    try:
        return EmotionRecognizer(RecognizerOptions(
            model=model, detector=detector, tiling=tiling, num_threads=threads, device=device,
            min_detection_score=min_score, running_mode=RunningMode.VIDEO if video else RunningMode.IMAGE))
    except (ModelError, MetadataError, RuntimeMissingError, RuntimeError, ValueError) as e:
        fail(str(e))


def _table_rows(path: str, faces, frame=None) -> list[str]:
    where = path if frame is None else f"{path}#{frame}"
    if not faces:
        return [f"{where}\t-\tno face found"]
    rows = []
    for f in faces:
        top3 = sorted(f.probabilities.items(), key=lambda kv: -kv[1])[:3]
        rows.append(f"{where}\t{list(f.box)}\t{f.emotion} {f.score:.2f}\t"
                    + " ".join(f"{k}={v:.2f}" for k, v in top3))
    return rows


def _record(path: str, faces, frame=None) -> dict:
    rec = {"path": path}
    if frame is not None:
        rec["frame"] = frame
    rec["faces"] = [f.to_dict() for f in faces]
    return rec


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--model", "-m", default=None, help="TFLite model path or bundled name (default: the bundled default model).")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one object per image (per frame for videos).")
@click.option("--annotate", type=click.Path(file_okay=False), default=None, help="Write annotated images to this folder.")
@click.option("--detector", default="blazeface", show_default=True, help="blazeface, blazeface-full, haar or yunet.")
@click.option("--tiling", default="frame+quad", show_default=True, help="Detector views: frame, pair, frame+pair, quad, frame+quad, grid, frame+grid.")
@click.option("--min-score", default=0.5, show_default=True, type=float, help="Face detection threshold.")
@click.option("--threads", default=1, show_default=True, type=int, help="CPU threads for LiteRT.")
@click.option("--device", default=None, help="Edge TPU device: usb, usb:N, pci, pci:N (default: CPU).")
@click.option("--max-frames", default=None, type=int, help="Videos: stop after this many frames.")
def predict(inputs, model, as_json, annotate, detector, tiling, min_score, threads, device, max_frames):
    """Faces and emotions in images, folders of images and video files.

    Exit status: 0 when every input was read, 1 when any input failed (each
    failure is one line on stderr; every good input is still reported), 2 when
    nothing could run (bad model, bad option).
    """
    from .images import ImageError, expand_inputs, is_video, read_image, to_bgr, video_frames

    rec = _recognizer(model, detector, tiling, threads, device, min_score, video=False)
    vid_rec = None
    if annotate:
        os.makedirs(annotate, exist_ok=True)
    failed = 0
    paths = expand_inputs(inputs)
    if not paths:
        fail("no images or videos found in the given inputs")
    if not as_json:
        click.echo("path\tbox [x, y, w, h]\temotion\ttop-3 probabilities")
    for path in paths:
        name = os.fsdecode(path)
        try:
            if is_video(path):
                if vid_rec is None:
                    vid_rec = _recognizer(model, detector, tiling, threads, device, min_score, video=True)
                vid_rec.reset()
                for i, ts, frame in video_frames(path, max_frames):
                    res = vid_rec.recognize_for_video(frame, ts)
                    _emit(name, res.faces, as_json, i)
                continue
            img = read_image(path)
            faces = rec.recognize(img)
            _emit(name, faces, as_json)
            if annotate:
                from .drawing import draw_faces
                out = Path(annotate) / (Path(name).stem + ".jpg")
                import cv2
                cv2.imwrite(str(out), draw_faces(to_bgr(img), faces))
        except ImageError as e:
            failed += 1
            click.echo(f"error: {e}", err=True)
        except (ValueError, RuntimeError) as e:
            failed += 1
            click.echo(f"error: {name}: {e}", err=True)
    rec.close()
    if failed:
        click.echo(f"{failed} of {len(paths)} inputs failed", err=True)
        sys.exit(EXIT_INPUT_ERROR)


def _emit(name, faces, as_json, frame=None):
    if as_json:
        click.echo(json.dumps(_record(name, faces, frame)))
    else:
        for row in _table_rows(name, faces, frame):
            click.echo(row)


# ---------------------------------------------------------------- models
@main.command()
@click.option("--json", "as_json", is_flag=True)
def models(as_json):
    """The models bundled in this install, with their metadata."""
    from .classifier import DEFAULT_MODEL, bundled_models
    from .metadata import MetadataError, read_tflite_metadata

    rows = []
    for name, path in sorted(bundled_models().items()):
        try:
            meta = read_tflite_metadata(path.read_bytes(), name)
        except MetadataError as e:
            fail(str(e))
        rows.append({"name": name, "default": name == DEFAULT_MODEL, "size_kb": round(path.stat().st_size / 1024, 1),
                     **{k: v for k, v in meta.to_dict().items() if k in ("labels", "format", "recipe", "metrics",
                                                                          "preprocessing", "version")}})
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        acc = r["metrics"].get("test_accuracy")
        click.echo(f"{r['name']}{' (default)' if r['default'] else ''}: {r['format']}, {r['size_kb']} KB, "
                   f"recipe {r['recipe']}, test accuracy {acc if acc is not None else 'n/a'}, "
                   f"labels {', '.join(r['labels'])}")
