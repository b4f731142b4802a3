"""The camera loop shared by ``fer-edge camera`` and ``examples/pi_camera.py``.

Frames come from a :class:`FrameSource` (picamera2, an OpenCV camera or a
video file); each goes through an :class:`EmotionRecognizer` in VIDEO mode;
results go out as JSON lines, optional annotated snapshots and an optional
window. Ctrl-C and SIGTERM end the loop cleanly with a summary; a camera that
fails or stalls mid-stream ends it with one error line and exit status 3,
after everything captured so far has been written.
"""
from __future__ import annotations

import abc
import json
import signal
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from .rate import RateMeter
from .results import shown
from .stream_summary import StreamSummary  # noqa: F401  (the run's result: part of this module's API)

EXIT_CAMERA_LOST = 3


class CameraError(RuntimeError):
    """The camera could not be opened, or stopped delivering frames."""


class FrameSource(abc.ABC):
    """A source of BGR frames; :meth:`read` returns None when a finite stream ends."""

    #: how many times the source started over (a looping file): each restart is a cut, a new scene
    restarts: int = 0

    @abc.abstractmethod
    def read(self) -> np.ndarray | None:
        """The next frame, None at the end of a file, :class:`CameraError` when the camera fails."""

    def close(self) -> None:  # noqa: B027  (optional: sources without resources need no close)
        """Release the camera or file; the default has nothing to release."""


class Picamera2Source(FrameSource):
    """Raspberry Pi camera through picamera2 (its ``RGB888`` format is BGR in memory, as OpenCV wants)."""

    def __init__(self, size=(640, 480), timeout_s: float = 2.0):
        try:
            from picamera2 import Picamera2
        except ImportError as e:
            raise CameraError(f"picamera2 is not installed ({e}); on Raspberry Pi OS: "
                              "sudo apt install python3-picamera2 (in a venv made with --system-site-packages)") from None
        try:
            self.cam = Picamera2()
            cfg = self.cam.create_video_configuration(main={"size": tuple(size), "format": "RGB888"})
            self.cam.configure(cfg)
            self.cam.start()
        except Exception as e:  # libcamera raises RuntimeError, IndexError (no camera) and more
            raise CameraError(f"cannot start the Pi camera: {e}") from None
        self.timeout_s = timeout_s

    def read(self):
        try:
            frame = self.cam.capture_array("main", wait=self.timeout_s)
        except TimeoutError:
            raise CameraError(f"camera delivered no frame within {self.timeout_s:.1f} s") from None
        except Exception as e:
            raise CameraError(f"camera capture failed: {e}") from None
        if frame is None or getattr(frame, "size", 0) == 0:
            raise CameraError("camera returned an empty frame")
        return np.ascontiguousarray(frame[:, :, :3])

    def close(self):
        try:
            self.cam.stop()
            self.cam.close()
        except Exception:
            pass


class OpenCVSource(FrameSource):
    """A camera index (``0``) or a video file through OpenCV.

    For a file, ``realtime`` paces frames at the file's own rate (as a camera would deliver them; a server
    shows a clip at its speed, not as fast as the CPU goes) and ``loop`` starts over at its end.
    """

    def __init__(self, source, size=None, *, loop: bool = False, realtime: bool = False):
        from .quiet import native_stderr_silenced, quiet_opencv

        quiet_opencv()
        self.is_file = not str(source).isdigit()
        if self.is_file and "://" not in str(source) and not Path(source).exists():  # URLs (rtsp://...) pass
            raise CameraError(f"{source}: no such file")
        what = str(source) if self.is_file else f"camera {source}"
        unreadable = (f"{what}: no frame could be read (empty, damaged or not a video or image)" if self.is_file
                      else f"cannot open {what} (is it connected, and free?)")
        with native_stderr_silenced():  # FFmpeg's and V4L's own lines; fer-edge says it in one
            self.cap = cv2.VideoCapture(str(source) if self.is_file else int(source))
            if not self.cap.isOpened():
                raise CameraError(unreadable)
            if size and not self.is_file:
                self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
                self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
            ok, first = self.cap.read()  # a source that opens but yields nothing is an error, not 0 frames
        if not ok or first is None:
            self.cap.release()
            raise CameraError(unreadable)
        self._first = first
        self.loop = loop and self.is_file
        #: the frame rate a file declares (0: a camera, or a file that declares none)
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0) if self.is_file else 0.0
        self.period = 1.0 / self.fps if realtime and 0 < self.fps < 1000 else 0.0
        self._next = None

    def read(self):
        if self._first is not None:
            frame, self._first = self._first, None
            ok = True
        else:
            ok, frame = self.cap.read()
        if (not ok or frame is None) and self.loop:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.cap.read()
            self.restarts += ok and frame is not None
        if not ok or frame is None:
            if self.is_file:
                return None
            raise CameraError("camera stopped delivering frames")
        if self.period:
            now = time.monotonic()
            self._next = now if self._next is None else self._next + self.period
            if self._next > now:
                time.sleep(self._next - now)
            else:
                self._next = now  # behind (a slow frame): do not try to catch up with a burst
        return frame

    def close(self):
        self.cap.release()


def run_stream(source: FrameSource, recognizer, *, json_out=None, snapshot_dir=None, snapshot_every: float = 0.0,
               display: bool = False, max_frames: int | None = None, report_every: float = 5.0,
               log=lambda msg: print(msg, file=sys.stderr, flush=True), on_frame=None,
               stop: dict | None = None, stages: bool = False) -> StreamSummary:
    """Run frames through ``recognizer`` until the source ends, ``max_frames``, a signal, a camera error or a
    ``json_out`` whose reader went away.

    ``on_frame(frame, result, capture_ms)`` is called after each frame (``fer-edge serve`` publishes there).
    ``stop`` (``{"why": None}``, see :func:`stop_on_signals`) carries a signal caught before the stream began:
    the stream then ends before its first frame, with the same summary. With ``stages``, each progress line
    (every ``report_every`` seconds) also says where a frame's milliseconds went, capture and stage by stage.
    """
    from .drawing import draw_faces

    summary = StreamSummary()
    stop = {"why": None} if stop is None else stop
    old = stop_on_signals(stop)
    if snapshot_dir:
        Path(snapshot_dir).mkdir(parents=True, exist_ok=True)
    t0 = last_report = last_snap = time.monotonic()
    restarts = 0
    rate = RateMeter(report_every)
    spent, counted = {}, 0  # stage -> ms since the last report, and the frames they cover
    try:
        while stop["why"] is None and (max_frames is None or summary.frames < max_frames):
            t_read = time.perf_counter()
            try:
                frame = source.read()
            except CameraError as e:
                summary.error, summary.stopped_by = str(e), "camera error"
                break
            if frame is None:
                break
            capture_ms = (time.perf_counter() - t_read) * 1000.0
            if source.restarts != restarts:  # a looping file started over: a cut
                restarts = source.restarts
                recognizer.mark_cut()
            now = time.monotonic()
            result = recognizer.recognize_for_video(frame, (now - t0) * 1000.0)
            if on_frame is not None:
                on_frame(frame, result, capture_ms)
            summary.frames += 1
            rate.tick(now)
            summary.faces += len(result.faces)
            summary.emotions.update(shown(f.emotion) for f in result.faces)
            if json_out is not None:
                try:
                    json_out.write(json.dumps(result.to_dict()) + "\n")
                    json_out.flush()
                except BrokenPipeError:  # `camera --json-out - | head`: the reader had enough
                    stop["why"] = "output closed"
            if snapshot_dir and snapshot_every > 0 and now - last_snap >= snapshot_every:
                cv2.imwrite(str(Path(snapshot_dir) / f"frame_{result.frame_index:06d}.jpg"), draw_faces(frame, result.faces))
                last_snap = now
            if display:
                cv2.imshow("fer-edge", draw_faces(frame, result.faces))
                if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                    stop["why"] = "key"
            if stages:
                counted += 1
                for k, v in (("capture", capture_ms), *result.stages_ms.items()):
                    spent[k] = spent.get(k, 0.0) + v
            if now - last_report >= report_every:
                log(f"{rate.rate:.1f} frames/s, {len(result.faces)} faces" + (
                    "; ms per frame: " + ", ".join(f"{k} {v / counted:.2f}" for k, v in spent.items() if v > 0)
                    if stages and counted else ""))
                last_report, spent, counted = now, {}, 0
        if stop["why"]:
            summary.stopped_by = stop["why"]
        elif max_frames is not None and summary.frames >= max_frames:
            summary.stopped_by = "max frames"
    finally:
        summary.seconds = time.monotonic() - t0
        for s, h in old.items():
            signal.signal(s, h)
        source.close()
        if display:
            cv2.destroyAllWindows()
    return summary


def stop_on_signals(stop: dict) -> dict:
    """SIGINT and SIGTERM set ``stop["why"]`` (the first one's name) instead of raising; returns the handlers
    they replace, to put back. Off the main thread, where Python delivers no signal, nothing is changed."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def on_signal(signum, _frame):
        stop["why"] = stop["why"] or signal.Signals(signum).name

    return {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w < 16 or h < 16:
            raise ValueError
        return w, h
    except ValueError:
        raise ValueError(f"bad frame size {text!r}; use WIDTHxHEIGHT, e.g. 640x480") from None


def has_display() -> bool:
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
