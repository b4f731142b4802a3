"""`fer-edge serve`: the camera with faces and emotions in a browser, for a Pi without a screen.

The recognizer runs in the main thread (signals, `--json-out`, exit status as `fer-edge camera`);
an aiohttp server runs in a second thread and only ever reads the latest frame (`hub.Hub`), so slow
or many clients cannot slow the recognizer or queue frames. Needs the `web` extra (aiohttp).
"""
