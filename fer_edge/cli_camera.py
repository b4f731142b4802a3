"""``fer-edge camera``, ``serve`` and ``monitor``: the live verbs, and where their results go (JSON lines,
MQTT, per-person summaries, the web page and the face API)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from .cli_common import (_recognizer_from, answer_options, device_option, fail, main, max_frames_option,
                         model_option, require_extra, source_options, threads_option)


def camera_command(*, source="picamera2", size="640x480", model=None, edgetpu_model=None, device=None, json_out=None,
                   snapshot_dir=None, snapshot_every=5.0, display=None, max_frames=None, threads=1, detect_every=None,
                   web=None, loop=False, realtime=False, mqtt=None, summary_out=None, append=False, balanced=False,
                   min_emotion_score=0.0):
    """The camera loop behind ``fer-edge camera``, ``fer-edge serve`` and ``examples/pi_camera.py``; returns
    the exit status.

    Every output is opened before the camera, and the camera is closed on every path out. ``web`` (a
    :class:`fer_edge.web.server.WebServer`, not started) serves each frame; it is told how the stream ended
    before the command returns. ``loop``/``realtime`` apply to video files (see ``OpenCVSource``). ``mqtt``
    (:class:`fer_edge.mqtt.MqttOptions`) publishes the results; ``summary_out`` (a JSON path that must not
    exist) gets each person's summary and a timeline PNG beside it when the stream ends. ``json_out`` must not
    exist either, unless ``append``: then the run's lines follow the earlier ones (its frames count from 0).
    """
    import signal

    from .options import RecognizerOptions, RunningMode, TrackingOptions
    from .stream import (EXIT_CAMERA_LOST, CameraError, OpenCVSource, Picamera2Source, has_display, parse_size,
                         run_stream, stop_on_signals)

    stop = {"why": None}  # Ctrl-C while the model loads or the camera opens: the stream ends before its first frame
    handlers = stop_on_signals(stop)

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
            out = open(json_out, "a" if append else "x", encoding="utf-8")
        except FileExistsError:
            fail(f"--json-out {json_out}: already exists (never overwritten; --append adds to it)")
        except OSError as e:
            fail(f"--json-out {json_out}: cannot write ({e.strerror or e})")
    elif append:
        fail("--append goes with --json-out FILE")
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
                                                 running_mode=RunningMode.VIDEO, tracking=tracking, balanced=balanced,
                                                 min_emotion_score=min_emotion_score))
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
                             on_frame=(lambda *a: [f(*a) for f in listeners]) if listeners else None, stop=stop,
                             stages=bool(os.environ.get("FER_EDGE_VERBOSE")))
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
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
    click.echo(summary.line(), err=True)
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
    require_extra("paho.mqtt.client", "mqtt", "--mqtt")
    from .mqtt.publisher import MqttOptions, default_device_id

    try:
        return MqttOptions(mqtt_url, device_id=device_id or default_device_id(), prefix=mqtt_prefix,
                           interval_s=mqtt_interval, frames=mqtt_frames, ha_discovery=ha_discovery,
                           spool_path=mqtt_spool, required=mqtt_required)
    except ValueError as e:
        fail(f"--mqtt: {e}")


@main.command()
@source_options(realtime=False)
@model_option
@click.option("--edgetpu", "device", flag_value="usb", default=None,
              help="Run the classifier on a Coral USB Edge TPU (same as --device usb).")
@device_option
@click.option("--edgetpu-model", default=None, help="Deprecated: use --model.")
@click.option("--snapshot-dir", default=None, type=click.Path(file_okay=False), help="Save annotated frames here.")
@click.option("--snapshot-every", default=5.0, show_default=True, help="Seconds between snapshots.")
@click.option("--display/--no-display", default=None, help="Show a window (default: when a display exists).")
@max_frames_option
@threads_option
@click.option("--detect-every", type=click.IntRange(min=1), default=None,
              help="Legacy: with region tracking off, run the full detector every N frames (default: region tracking).")
@answer_options
@publishing_options
def camera(source, size, model, device, edgetpu_model, json_out, append, snapshot_dir, snapshot_every, display,
           max_frames, threads, detect_every, loop, realtime, summary_out, balanced, min_emotion_score, **mqtt):
    """Live emotions from a camera, smoothed per face; Ctrl-C or SIGTERM stops with a summary.

    With --mqtt, results go to an MQTT broker (docs/integrations.md). Exit status 3 when the camera fails
    mid-stream (what was captured is kept).
    """
    sys.exit(camera_command(source=source, size=size, model=model, edgetpu_model=edgetpu_model, device=device,
                            json_out=json_out, snapshot_dir=snapshot_dir, snapshot_every=snapshot_every,
                            display=display, max_frames=max_frames, threads=threads, detect_every=detect_every,
                            loop=loop, realtime=realtime, mqtt=_mqtt_options(**mqtt), summary_out=summary_out,
                            append=append, balanced=balanced, min_emotion_score=min_emotion_score))


@main.command()
@source_options(realtime=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="TCP port (0: any free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback requires a token (one is generated when not given).")
@click.option("--token", default=None, help="Secret every request must carry (?token=... or Authorization: Bearer).")
@click.option("--max-clients", type=click.IntRange(min=1), default=32, show_default=True,
              help="Connections served at once; more get 503.")
@click.option("--stream-fps", type=click.FloatRange(min=0.5, max=60), default=15.0, show_default=True,
              help="Most frames per second sent to each /stream.mjpg client.")
@model_option
@device_option
@max_frames_option
@threads_option
@click.option("--no-camera", is_flag=True,
              help="No camera: only the DeepStack-compatible POST /v1/vision/face, an inference server for other "
                   "cameras.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
              help="Largest image POST /v1/vision/face accepts (413 above).")
@click.option("--api-workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Images POST /v1/vision/face recognises at once.")
@click.option("--api-queue", type=click.IntRange(min=0), default=8, show_default=True,
              help="Images that may wait for a worker; more get 503.")
@answer_options
@publishing_options
def serve(source, port, host, token, max_clients, stream_fps, size, model, device, json_out, append, max_frames,
          threads, loop, realtime, no_camera, max_upload_mb, api_workers, api_queue, summary_out, balanced,
          min_emotion_score, **mqtt):
    """A live web page of the camera with faces and emotions, for a Pi without a screen, and a
    DeepStack-compatible face API.

    Serves / (the page), /stream.mjpg, /events (server-sent events, one JSON object per frame),
    /api/faces and POST /v1/vision/face (multipart field image; docs/integrations.md). Ctrl-C or SIGTERM
    stops it with a summary; exit status 3 when the camera fails mid-stream (the page shows "camera lost";
    the --json-out log keeps every frame).
    """
    require_extra("aiohttp", "web", "fer-edge serve")
    from .web.face_api import FaceApi
    from .web.server import WebServer, resolve_token
    from .options import RecognizerOptions

    try:
        token = resolve_token(host, token)
    except ValueError as e:
        fail(str(e))
    mqtt = _mqtt_options(**mqtt)
    api_options = RecognizerOptions(model=model, device=device, num_threads=threads, balanced=balanced,
                                    min_emotion_score=min_emotion_score)
    web = WebServer(host, port, token, max_clients=max_clients, stream_fps=stream_fps,
                    face_api=FaceApi(api_options, api_workers, api_queue, max_upload_mb), camera=not no_camera)
    if no_camera:
        if mqtt is not None or summary_out or json_out or append:
            fail("--no-camera serves the face API only: --mqtt, --summary-out and --json-out need a camera")
        probe = _recognizer_from(api_options)  # a bad model is one line now, not a 500 at the first request
        labels = probe.labels
        probe.close()
        sys.exit(_serve_api_only(web, labels))
    sys.exit(camera_command(source=source, size=size, model=model, device=device, json_out=json_out, display=False,
                            max_frames=max_frames, threads=threads, web=web, loop=loop, realtime=realtime, mqtt=mqtt,
                            summary_out=summary_out, append=append, balanced=balanced,
                            min_emotion_score=min_emotion_score))


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
@click.option("--mqtt-required", "required", is_flag=True,
              help="Exit 2 at once when the broker does not accept the connection within 5 s (default: retry until "
                   "--duration ends, then exit 2 if it never did).")
def monitor(broker, prefix, db, duration, refresh, as_json, required):
    """Every fer-edge camera on one MQTT broker: online/offline, frames/s, faces, emotion (docs/fleet.md).

    BROKER is mqtt[s]://[user:pass@]host[:port]. Ctrl-C stops it. Exit status 2 when the broker refused or never
    answered (no table, no JSON): a script tells "no broker" from "no cameras" (exit 0, JSON []).
    """
    require_extra("paho.mqtt.client", "mqtt", "fer-edge monitor")
    from .mqtt.monitor import BrokerUnreachable, MinuteStore, run_monitor
    from .mqtt.url import parse_mqtt_url

    try:
        parse_mqtt_url(broker)
        if db:
            MinuteStore(db).close()  # a file that is not ours: one line now, before anything runs
    except ValueError as e:
        fail(str(e))
    try:
        run_monitor(broker, prefix=prefix, db=db, duration_s=duration, refresh_s=refresh, as_json=as_json,
                    log=lambda m: click.echo(m, err=True), required=required)
    except BrokerUnreachable as e:
        fail(str(e))


