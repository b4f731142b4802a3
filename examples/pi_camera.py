"""Raspberry Pi camera demo: live facial emotions with picamera2 and fer-edge.

    python examples/pi_camera.py                     # window if a display exists, else JSON lines
    python examples/pi_camera.py --json-out faces.jsonl --snapshot-dir snaps --snapshot-every 10
    python examples/pi_camera.py --edgetpu --model model_edgetpu_edgetpu.tflite   # Coral: README "Coral Edge TPU"
    python examples/pi_camera.py --serve --host 0.0.0.0   # a web page for a phone or laptop (pip install ".[web]")
    python examples/pi_camera.py --source 0 --max-frames 100   # off a Pi: a USB webcam (OpenCV index) or a video file

Stops cleanly on Ctrl-C or SIGTERM with a summary (frames, faces, emotions).
If the camera fails or stalls, it stops with one error line and exit status 3,
keeping everything written so far. The same loop is `fer-edge camera`.
"""
import argparse
import sys

from fer_edge.cli import camera_command


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default="picamera2",
                   help="picamera2 (the Pi's camera), an OpenCV camera index (a USB webcam: 0) or a video file")
    p.add_argument("--size", default="640x480", help="capture size, WIDTHxHEIGHT")
    p.add_argument("--model", default=None, help="TFLite model (default: the bundled INT8 model); with --edgetpu "
                                                 "the compiled *_edgetpu_edgetpu.tflite (README: Coral Edge TPU)")
    p.add_argument("--edgetpu", action="store_true", help="run the model on a Coral USB Edge TPU")
    p.add_argument("--json-out", default=None, help="JSON lines per frame to this file; '-' for stdout")
    p.add_argument("--snapshot-dir", default=None, help="save an annotated frame here every --snapshot-every s")
    p.add_argument("--snapshot-every", type=float, default=5.0)
    p.add_argument("--display", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--detect-every", type=int, default=None,
                   help="legacy: full detector every N frames instead of region tracking (the default)")
    p.add_argument("--serve", action="store_true", help="serve a live web page instead (like `fer-edge serve`)")
    p.add_argument("--host", default="127.0.0.1", help="with --serve: address; non-loopback needs a token")
    p.add_argument("--port", type=int, default=8080, help="with --serve: TCP port")
    p.add_argument("--token", default=None, help="with --serve: the secret (generated when the host is not loopback)")
    a = p.parse_args(argv)
    if a.serve:
        return _serve(a)
    json_out = a.json_out if a.json_out or a.display or a.snapshot_dir else "-"
    return camera_command(source=a.source, size=a.size, model=a.model, device="usb" if a.edgetpu else None,
                          json_out=json_out,
                          snapshot_dir=a.snapshot_dir, snapshot_every=a.snapshot_every, display=a.display,
                          max_frames=a.max_frames, threads=a.threads, detect_every=a.detect_every)


def _serve(a) -> int:
    from fer_edge.cli_common import fail, require_extra

    require_extra("aiohttp", "web", "--serve")
    from fer_edge.web.server import WebServer, resolve_token

    try:
        web = WebServer(a.host, a.port, resolve_token(a.host, a.token))
    except ValueError as e:
        fail(str(e))
    return camera_command(source=a.source, size=a.size, model=a.model, device="usb" if a.edgetpu else None,
                          json_out=a.json_out, display=False, max_frames=a.max_frames, threads=a.threads, detect_every=a.detect_every,
                          web=web)


if __name__ == "__main__":
    sys.exit(main())
