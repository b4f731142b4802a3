"""Stand-in for the picamera2 package: a fake Pi camera that shows FER2013 faces in synthetic scenes.

Configured through environment variables, since the demo runs in a subprocess:
FER_EDGE_STANDIN_FACES (a .npz with ``faces`` uint8 (N,48,48)), FER_EDGE_STANDIN_FRAMES
(frames before the stream ends with a timeout; default endless), FER_EDGE_STANDIN_FAIL
("timeout" or "error": how the camera dies after FER_EDGE_STANDIN_FRAMES frames).
The faces drift 2 px a frame, as a person would.
"""
import os

import numpy as np

__all__ = ["Picamera2"]


class Picamera2:
    def __init__(self):
        from fer_edge.release.scenes import make_scene

        faces = np.load(os.environ["FER_EDGE_STANDIN_FACES"])["faces"]
        self._base, self.placed = make_scene(list(faces), list(range(len(faces))), np.random.default_rng(0),
                                             side_range=(120, 170))
        self._n = 0
        self._limit = int(os.environ.get("FER_EDGE_STANDIN_FRAMES", "0")) or None
        self._fail = os.environ.get("FER_EDGE_STANDIN_FAIL", "timeout")
        self.started = False

    def create_video_configuration(self, main=None, **kw):
        self.size = tuple(main["size"])
        return {"main": main}

    def configure(self, cfg):
        assert cfg["main"]["format"] == "RGB888"

    def start(self):
        self.started = True

    def capture_array(self, name="main", wait=None):
        if not self.started:
            raise RuntimeError("camera not started")
        if self._limit is not None and self._n >= self._limit:
            if self._fail == "error":
                raise RuntimeError("Device or resource busy: camera unplugged")
            raise TimeoutError("no frame")
        frame = np.roll(self._base, 2 * self._n, axis=1)
        self._n += 1
        import cv2

        if frame.shape[1::-1] != self.size:
            frame = cv2.resize(frame, self.size)
        return frame

    def stop(self):
        self.started = False

    def close(self):
        pass
