"""``POST /v1/vision/face``: the DeepStack / CodeProject.AI face route, answered with emotions.

Home Assistant integrations, Node-RED nodes and Double Take post an image (multipart field ``image``,
the key as the ``api_key`` field) and read ``predictions`` with ``x_min``/``y_min``/``x_max``/``y_max``
and ``confidence``; fer-edge adds ``emotion``, ``emotion_score`` and ``emotions`` to each. Recognition
runs in worker threads (each with its own IMAGE-mode recognizer, made on first use) behind a bounded
queue: a request that finds it full is answered 503 at once, so a burst never piles up memory.
"""
from __future__ import annotations

import asyncio
import queue
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np


class ApiError(Exception):
    """An answer other than success: the HTTP status and DeepStack's ``error`` text."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def error_body(status: int, message: str) -> dict:
    return {"success": False, "error": message, "code": status}


def prediction(face) -> dict:
    """One face as DeepStack writes it, with the emotion fields of ``--json`` (same names)."""
    x, y, w, h = face.box
    return {"confidence": round(face.detection_score, 4), "x_min": x, "y_min": y, "x_max": x + w, "y_max": y + h,
            "emotion": face.emotion, "emotion_score": round(face.emotion_score, 4),
            "emotions": {k: round(v, 4) for k, v in face.probabilities.items()}}


class FaceApi:
    """Recognises uploaded images off the event loop.

    Args:
        options: the IMAGE-mode :class:`~fer_edge.recognizer.RecognizerOptions` each worker's recognizer uses.
        workers: recognizers working at once.
        queue_size: requests that may wait for a worker; one more is refused with 503.
        max_upload_mb: the largest accepted upload (413 above).
    """

    def __init__(self, options, workers: int = 1, queue_size: int = 8, max_upload_mb: float = 10.0):
        if workers < 1 or queue_size < 0 or max_upload_mb <= 0:
            raise ValueError("workers >= 1, queue_size >= 0 and max_upload_mb > 0 are needed")
        self.options, self.workers, self.queue_size = options, workers, queue_size
        self.max_upload_mb = max_upload_mb  # as given, for messages: 0.05, never 0.0499992
        self.max_upload = int(max_upload_mb * 1024 * 1024)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="fer-edge-api")
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = 0  # only the server's event loop counts it: no lock
        self.served = 0

    def _recognizer(self):
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            from ..recognizer import EmotionRecognizer

            return EmotionRecognizer(self.options)

    def _recognize(self, data: bytes):
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ApiError(400, "the image field is not an image OpenCV can read (JPEG, PNG, BMP, WebP...)")
        rec = self._recognizer()
        try:
            t0 = time.perf_counter()
            faces = rec.recognize(image)
            return faces, (time.perf_counter() - t0) * 1000.0
        finally:
            self._idle.put(rec)

    async def recognize(self, data: bytes):
        """``(faces, inference_ms)``; ApiError 400 (not an image) or 503 (the queue is full)."""
        if not data:
            raise ApiError(400, "the image field is empty")
        if self._pending >= self.workers + self.queue_size:
            raise ApiError(503, f"busy: {self._pending} images in progress or waiting; try again")
        self._pending += 1
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._pool, self._recognize, data)
            self.served += 1
            return result
        finally:
            self._pending -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                break
