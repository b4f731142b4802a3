"""LIVE_STREAM's worker: ``recognize_async`` returns at once, results reach ``result_callback`` on this thread."""
from __future__ import annotations

import threading

from .errors import InferenceError


class LiveWorker:
    """One background thread for LIVE_STREAM: at most one frame in flight, newer frames dropped meanwhile."""

    def __init__(self, process, callback):
        self.process, self.callback = process, callback
        self.cond = threading.Condition()
        self.pending = None
        self.busy = self.stopping = False
        self.error: BaseException | None = None
        self.dropped = 0
        self.thread = threading.Thread(target=self._loop, name="fer-edge-live", daemon=True)
        self.thread.start()

    def submit(self, img, ts) -> bool:
        with self.cond:
            if self.error is not None:
                err, self.error = self.error, None
                raise InferenceError(f"LIVE_STREAM worker failed on an earlier frame: {err}") from err
            if self.busy or self.pending is not None:
                self.dropped += 1
                return False
            self.pending = (img, ts)
            self.cond.notify()
            return True

    def _loop(self) -> None:
        while True:
            with self.cond:
                while self.pending is None and not self.stopping:
                    self.cond.wait()
                if self.pending is None:
                    return
                (img, ts), self.pending = self.pending, None
                self.busy = True
            try:
                self.callback(self.process(img, ts), img, ts)
            except BaseException as e:  # noqa: BLE001  (reported on the next submit)
                with self.cond:
                    self.error = e
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.thread.join()
