"""The HTTP side of `fer-edge serve`: read-only routes over the latest frame, token and client limit.

Routes: ``/`` the page, ``/stream.mjpg`` annotated MJPEG, ``/events`` server-sent events (one JSON
object per processed frame; ``event: end`` or ``event: error`` when the source is over),
``/api/faces`` the latest frame's JSON, and ``POST /v1/vision/face``, the DeepStack-compatible route
(:mod:`~fer_edge.web.face_api`). Every route needs the token when one is set (``?token=`` or
``Authorization: Bearer``; the DeepStack route also takes the ``api_key`` form field). Nothing from a
request ever names a file.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import secrets
import signal
import threading
import time
from importlib import resources

from aiohttp import web

from .face_api import ApiError, error_body, prediction
from .hub import Hub

PAGE = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
API_PAGE = resources.files(__package__).joinpath("api.html").read_text(encoding="utf-8")  # serve --no-camera's /
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
CSP = ("default-src 'none'; img-src 'self'; connect-src 'self'; script-src 'unsafe-inline'; "
       "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token: str | None) -> str | None:
    """Loopback needs no token (one may still be given); any other address gets one, generated when not given."""
    if token is not None and not token.strip():
        raise ValueError("--token must not be empty")
    if token is None and not is_loopback(host):
        return secrets.token_urlsafe(18)
    return token


class WebServer:
    """aiohttp in its own thread and event loop; the recognizer (main thread) calls publish() and finish()."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, token: str | None = None,
                 max_clients: int = 32, stream_fps: float = 15.0, labels=(), title: str = "fer-edge", face_api=None,
                 camera: bool = True):
        self.host, self.port, self.token = host, port, token
        self.camera = camera  # False: the face API only; / describes it and /api/faces says "no camera"
        self.face_api = face_api  # a FaceApi answers POST /v1/vision/face (None: the route is absent)
        self.max_clients, self.stream_fps = max_clients, stream_fps
        self.labels, self.title = list(labels), title
        self.active = 0  # requests in flight (the long-lived ones are the streams)
        self.hub: Hub | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="fer-edge-web", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner: web.AppRunner | None = None

    # -- lifecycle (main thread) --
    def start(self) -> None:
        """Bind and serve; raises OSError (e.g. the port is taken) in the caller's thread."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def publish(self, image, result, capture_ms: float) -> None:
        self.hub.publish(image, result, capture_ms)

    def finish(self, status: str, message: str, grace_s: float = 1.0) -> None:
        """Tell every client the source is over (end or error event), give them ``grace_s``, stop."""
        if self.hub is not None:
            self.hub.end(status, message)
        if not self._thread.is_alive():
            return
        hurry = threading.Event()  # Ctrl-C or SIGTERM during the grace: stop at once, still cleanly
        main = threading.current_thread() is threading.main_thread()
        old = {s: signal.signal(s, lambda *_: hurry.set()) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
        try:
            asyncio.run_coroutine_threadsafe(self._stop(grace_s, hurry), self._loop).result(timeout=grace_s + 10)
            self._thread.join(timeout=5)
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    # -- the server thread --
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as e:  # noqa: BLE001  (handed to start() in the main thread)
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        rest = asyncio.all_tasks(self._loop)  # connections aiohttp left (a client that went on sending): end them
        for task in rest:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        self._loop.close()

    async def _start(self) -> None:
        self.hub = Hub(self._loop)
        app = web.Application(middlewares=[self._guard])  # uploads are bounded as they are read (_read_upload)
        if self.face_api is not None:
            app.router.add_post("/v1/vision/face", self.vision_face)
        if self.camera:
            app.router.add_get("/", self.page)
            app.router.add_get("/stream.mjpg", self.stream)
            app.router.add_get("/events", self.events)
            app.router.add_get("/api/faces", self.faces)
        else:  # the face API only: / describes it, the camera's routes say there is none
            app.router.add_get("/", self.api_page)
            app.router.add_get("/api/faces", self.no_camera_faces)
            app.router.add_get("/stream.mjpg", self.no_camera)
            app.router.add_get("/events", self.no_camera)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:  # an ephemeral port (tests): report the one the system chose
            self.port = self._runner.addresses[0][1]

    async def _stop(self, grace_s: float, hurry: threading.Event) -> None:
        end = self._loop.time() + grace_s
        while self._loop.time() < end and not hurry.is_set():
            await asyncio.sleep(0.05)
        if self._runner is not None:
            await self._runner.cleanup()
        self.hub.close()
        if self.face_api is not None:
            await self._loop.run_in_executor(None, self.face_api.close)
        self._loop.call_soon(self._loop.stop)

    # -- routes --
    @web.middleware
    async def _guard(self, request: web.Request, handler):
        api = request.path.startswith("/v1/")  # DeepStack clients read JSON errors; its key may be in the form
        if self.token is not None and not api and not self._authorized(request):
            return web.Response(status=401, text="401: this fer-edge server needs its token (?token=...)\n",
                                headers={"WWW-Authenticate": 'Bearer realm="fer-edge"', **HEADERS})
        if self.active >= self.max_clients:
            if api:
                return _api_error(503, f"{self.max_clients} clients already connected")
            return web.Response(status=503, text=f"503: {self.max_clients} clients already connected\n",
                                headers={"Retry-After": "5", **HEADERS})
        self.active += 1
        try:
            return await handler(request)
        finally:
            self.active -= 1

    def _authorized(self, request: web.Request, form_key: str = "") -> bool:
        given = request.query.get("token", "") or form_key
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def vision_face(self, request: web.Request) -> web.Response:
        """DeepStack's face route: every face with its box, detection confidence and emotions."""
        t0 = time.perf_counter()
        try:
            image, api_key = await self._read_upload(request)
            if self.token is not None and not self._authorized(request, api_key):
                raise ApiError(401, "this fer-edge server needs its key (the api_key field, ?token= or Bearer)")
            faces, inference_ms = await self.face_api.recognize(image)
        except ApiError as e:
            return _api_error(e.status, str(e))
        return web.json_response({"success": True, "predictions": [prediction(f) for f in faces], "code": 200,
                                  "inferenceMs": round(inference_ms, 1),
                                  "processMs": round((time.perf_counter() - t0) * 1000.0, 1)}, headers=HEADERS)

    async def _read_upload(self, request: web.Request) -> tuple[bytes, str]:
        """The ``image`` part and the ``api_key`` field, never more than ``max_upload`` bytes read."""
        limit = self.face_api.max_upload
        if request.content_length is not None and request.content_length > limit + 64 * 1024:
            raise ApiError(413, f"the upload is larger than {self.face_api.max_upload_mb:g} MB (--max-upload-mb)")
        if not request.content_type.startswith("multipart/"):
            raise ApiError(400, "post the image as multipart/form-data in the field 'image'")
        image, api_key = None, ""
        try:
            reader = await request.multipart()
            async for part in reader:
                if part.name == "image":
                    buf = bytearray()
                    while chunk := await part.read_chunk(64 * 1024):
                        buf += chunk
                        if len(buf) > limit:
                            raise ApiError(413, f"the image is larger than {self.face_api.max_upload_mb:g} MB "
                                                "(--max-upload-mb)")
                    image = bytes(buf)
                elif part.name == "api_key":
                    api_key = (await part.read_chunk(1024)).decode("utf-8", "replace").strip()
        except (ValueError, AssertionError) as e:  # aiohttp's word for a malformed body
            raise ApiError(400, f"malformed multipart body ({e})") from None
        if image is None:
            raise ApiError(400, "no 'image' field in the form")
        return image, api_key

    @staticmethod
    def _html(text: str) -> web.Response:
        return web.Response(text=text, content_type="text/html",
                            headers={"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer", **HEADERS})

    async def page(self, request: web.Request) -> web.Response:
        return self._html(PAGE.replace("__LABELS__", json.dumps(self.labels)).replace("__TITLE__", self.title))

    async def api_page(self, request: web.Request) -> web.Response:
        """``serve --no-camera``'s ``/``: how to call the face API, with this server's host, limit and key."""
        from html import escape

        keyed = self.token is not None
        html = (API_PAGE.replace("__TITLE__", escape(self.title)).replace("__HOST__", escape(request.host))
                .replace("__MAX_MB__", f"{self.face_api.max_upload_mb:g}" if self.face_api else "-")
                .replace("__LABELS__", escape(", ".join(self.labels)))
                .replace("__KEY_FIELD__", "-F api_key=YOUR_TOKEN " if keyed else "")
                .replace("__KEY_TEXT__", "this server's token (or <code>?token=</code>, or "
                         "<code>Authorization: Bearer</code>)" if keyed else "not needed here (no --token)"))
        return self._html(html)

    async def no_camera_faces(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "no camera", "frame": None, "faces": [],
                                  "message": "fer-edge serve --no-camera: POST images to /v1/vision/face"},
                                 headers=HEADERS)

    async def no_camera(self, request: web.Request) -> web.Response:
        return web.Response(status=404, text="404: no camera here (serve --no-camera): POST images to "
                            "/v1/vision/face\n", headers=HEADERS)

    async def faces(self, request: web.Request) -> web.Response:
        latest = self.hub.latest
        body = dict(latest.event) if latest is not None else {"frame": None, "faces": []}
        body["status"] = self.hub.ended["status"] if self.hub.ended else "running"
        if self.hub.ended:
            body["message"] = self.hub.ended["message"]
        return web.json_response(body, headers=HEADERS)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame", **HEADERS})
        await resp.prepare(request)
        seq, period = 0, 1.0 / self.stream_fps
        try:
            while True:
                t0 = self._loop.time()
                frame = await self.hub.next_after(seq)
                if frame is None:
                    break
                shared, jpg = await self.hub.stream_jpeg(period)
                if shared > seq:
                    seq = shared
                    await resp.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                     + str(len(jpg)).encode() + b"\r\n\r\n" + jpg + b"\r\n")
                await asyncio.sleep(max(0.0, period - (self._loop.time() - t0)))
        except (ConnectionError, RuntimeError):  # the client went away (or the server is closing)
            pass
        return resp

    async def events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no", **HEADERS})
        await resp.prepare(request)
        seq = 0
        try:
            await resp.write(b"retry: 2000\n\n")
            while True:
                frame = await self.hub.next_after(seq, timeout=15.0)
                if frame is None:
                    if self.hub.ended is not None:
                        kind = "error" if self.hub.ended["status"] == "error" else "end"
                        await resp.write(f"event: {kind}\ndata: {json.dumps(self.hub.ended)}\n\n".encode())
                        break
                    await resp.write(b": keep-alive\n\n")  # no frame for 15 s: keep proxies from closing
                    continue
                seq = frame.seq
                await resp.write(frame.sse)
        except (ConnectionError, RuntimeError):
            pass
        return resp


def _api_error(status: int, message: str) -> web.Response:
    headers = {"Retry-After": "1", **HEADERS} if status == 503 else HEADERS
    return web.json_response(error_body(status, message), status=status, headers=headers)
