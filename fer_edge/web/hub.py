"""The latest processed frame, handed from the recognizer thread to any number of asyncio clients.

Only the newest frame is kept: a client that was busy gets the newest one next and skips what it
missed, so memory does not grow with slow clients and the recognizer never waits for them. The
annotated JPEG is encoded in one encoder thread, at most ``stream_fps`` times a second whatever the number
of clients (they share it), so the stream's cost does not grow with the recognizer's frame rate.
"""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..drawing import draw_faces
from ..rate import RateMeter


def frame_event(result, fps: float, capture_ms: float) -> dict:
    """The JSON object of one processed frame (`/events`, `/api/faces`): the per-frame JSON of ``--json`` and
    ``camera --json-out`` (:meth:`~fer_edge.recognizer.FrameResult.to_dict`) with the frame rate and where the
    frame's milliseconds went."""
    stages = {"capture": round(capture_ms, 2), **{k: round(v, 2) for k, v in result.timings_ms.items()}}
    stages["total"] = round(sum(stages.values()) - stages["capture"], 2)
    return {**result.to_dict(), "fps": round(fps, 1), "latency_ms": stages}


@dataclass
class Frame:
    seq: int
    image: np.ndarray
    faces: list
    event: dict
    _sse: bytes | None = field(default=None, repr=False)

    @property
    def sse(self) -> bytes:
        """The server-sent event of this frame, serialised once for every client."""
        if self._sse is None:
            self._sse = f"id: {self.seq}\ndata: {json.dumps(self.event)}\n\n".encode()
        return self._sse


class Hub:
    """Publish from any thread; await from the server's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, jpeg_quality: int = 80):
        self.loop = loop
        self.latest: Frame | None = None
        self.ended: dict | None = None  # {"status": ..., "message": ...} once the source is over
        self.jpeg_quality = jpeg_quality
        self._seq = 0
        self._rate = RateMeter(2.0)
        self._wakeup = loop.create_future()
        self._shared: tuple[int, float, asyncio.Future] | None = None  # (seq, encoded at, jpeg)
        self._encoder = ThreadPoolExecutor(1, thread_name_prefix="fer-edge-jpeg")

    # -- the recognizer's side (any thread) --
    def publish(self, image: np.ndarray, result, capture_ms: float) -> None:
        self._rate.tick()
        self._seq += 1
        frame = Frame(self._seq, image, result.faces, frame_event(result, self._rate.rate, capture_ms))
        self.loop.call_soon_threadsafe(self._set_latest, frame)

    def end(self, status: str, message: str) -> None:
        self.loop.call_soon_threadsafe(self._set_ended, {"status": status, "message": message})

    # -- the event loop's side --
    def _set_latest(self, frame: Frame) -> None:
        self.latest = frame
        self._wake()

    def _set_ended(self, info: dict) -> None:
        self.ended = info
        self._wake()

    def _wake(self) -> None:
        if not self._wakeup.done():
            self._wakeup.set_result(None)
        self._wakeup = self.loop.create_future()

    async def next_after(self, seq: int, timeout: float | None = None) -> Frame | None:
        """The latest frame if newer than ``seq``, else wait for one; None once the source has ended."""
        while self.ended is None and (self.latest is None or self.latest.seq <= seq):
            try:
                await asyncio.wait_for(asyncio.shield(self._wakeup), timeout)
            except asyncio.TimeoutError:
                return self.latest if self.latest is not None and self.latest.seq > seq else None
        if self.latest is not None and self.latest.seq > seq:
            return self.latest
        return None

    async def stream_jpeg(self, period: float) -> tuple[int, bytes]:
        """The newest frame's annotated JPEG, encoded again only when the shared one is ``period`` s old."""
        now = self.loop.time()
        if self._shared is None or (now - self._shared[1] >= period and self.latest.seq > self._shared[0]):
            frame = self.latest
            self._shared = (frame.seq, now, self.loop.run_in_executor(self._encoder, self._encode, frame))
        seq, _, jpeg = self._shared
        return seq, await jpeg

    def _encode(self, frame: Frame) -> bytes:
        ok, buf = cv2.imencode(".jpg", draw_faces(frame.image, frame.faces),
                               [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return buf.tobytes()

    def close(self) -> None:
        self._encoder.shutdown(wait=False, cancel_futures=True)
