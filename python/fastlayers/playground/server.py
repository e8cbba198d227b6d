"""The playground's HTTP server: the static page, a small JSON API and a Server-Sent Events stream.

  GET  /                         the page (static/index.html); /static/<file> its script and style
  POST /api/session              body: parameters -> {"id", "params"}; 400 {"error", "field"} if bad
  GET  /api/session/<id>         {"playing", "epoch", "closed", "params"}; 404 once ended
  POST /api/session/<id>/params  body: parameters -> rebuilt (play state kept); 400 if bad
  POST /api/session/<id>/control body: {"action": "play" | "pause" | "step" | "reset"}
  GET  /api/session/<id>/stream  text/event-stream: `data` (the points, once per build) and
                                 `frame` events; the session ends when this stream closes

The stream sends the newest frame whenever one is newer than the last sent (frames in between
are dropped) and a comment line every HEARTBEAT seconds, so a closed tab is noticed (the write
fails) while paused too. A session whose stream never connects ends after ATTACH_TIMEOUT.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

from .params import ParamError, validate
from .session import Session

HEARTBEAT = 0.5
ATTACH_TIMEOUT = 30.0
MAX_SESSIONS = 16
MAX_BODY = 64 * 1024
_STATIC = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}


class PlaygroundServer(ThreadingHTTPServer):
    """ThreadingHTTPServer holding the sessions (id -> Session)."""

    daemon_threads = True

    def __init__(self, address, handler=None):
        self.sessions: dict[str, Session] = {}  # set first: a failed bind calls server_close
        self.lock = threading.Lock()
        self._created: dict[str, float] = {}
        super().__init__(address, handler or Handler)

    def new_session(self, params: dict) -> str:
        self._reap()
        with self.lock:
            if len(self.sessions) >= MAX_SESSIONS:
                raise OverflowError(f"too many open sessions ({MAX_SESSIONS}); close a tab and retry")
            sid = secrets.token_hex(8)
            self.sessions[sid] = Session(params)
            self._created[sid] = time.monotonic()
        return sid

    def attached(self, sid: str) -> None:
        with self.lock:
            self._created.pop(sid, None)

    def end_session(self, sid: str) -> None:
        with self.lock:
            s = self.sessions.pop(sid, None)
            self._created.pop(sid, None)
        if s is not None:
            s.close()

    def _reap(self) -> None:
        """Ends sessions whose stream did not connect within ATTACH_TIMEOUT."""
        now = time.monotonic()
        for sid in [k for k, t in list(self._created.items()) if now - t > ATTACH_TIMEOUT]:
            self.end_session(sid)

    def server_close(self) -> None:
        for sid in list(self.sessions):
            self.end_session(sid)
        super().server_close()


class Handler(BaseHTTPRequestHandler):
    server: PlaygroundServer
    server_version = "fastlayers-playground"

    def log_message(self, format, *args) -> None:  # quiet: the terminal shows only the URL
        pass

    # -- replies -----------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj, status: int = 200) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _error(self, status: int, message: str, field: str | None = None) -> None:
        self._json({"error": message, "field": field}, status)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ParamError("body", f"expected at most {MAX_BODY} bytes, got {n}")
        try:
            return json.loads(self.rfile.read(n) or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ParamError("body", f"expected JSON ({exc})") from None

    def _session(self, sid: str):
        s = self.server.sessions.get(sid)
        if s is None:
            self._error(HTTPStatus.NOT_FOUND, f"session {sid!r}: no such session (it ended; reload the page)")
        return s

    # -- routes ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        parts = [p for p in path.split("/") if p]
        if path == "/":
            return self._static("index.html")
        if len(parts) == 2 and parts[0] == "static":
            return self._static(parts[1])
        if len(parts) == 3 and parts[:2] == ["api", "session"]:
            s = self._session(parts[2])
            return s and self._json(s.state())
        if len(parts) == 4 and parts[:2] == ["api", "session"] and parts[3] == "stream":
            return self._stream(parts[2])
        self._error(HTTPStatus.NOT_FOUND, f"no such page: {path}")

    def do_POST(self) -> None:
        parts = [p for p in self.path.split("?", 1)[0].split("/") if p]
        try:
            body = self._body()
            if parts == ["api", "session"]:
                params = validate(body)
                return self._json({"id": self.server.new_session(params), "params": params})
            if len(parts) == 4 and parts[:2] == ["api", "session"] and parts[3] in ("params", "control"):
                s = self._session(parts[2])
                if s is None:
                    return None
                if parts[3] == "params":
                    s.set_params(validate(body))
                else:
                    action = body.get("action") if isinstance(body, dict) else None
                    if action not in ("play", "pause", "step", "reset"):
                        raise ParamError("action", f"expected one of play, pause, step, reset, got {action!r}")
                    s.control(action)
                return self._json(s.state())
            self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: {self.path}")
        except ParamError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc), exc.field)
        except OverflowError as exc:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
        except Exception as exc:  # a bug, reported to the page; the server carries on
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {type(exc).__name__}: {exc}")

    def _static(self, name: str) -> None:
        if name not in _STATIC:
            return self._error(HTTPStatus.NOT_FOUND, f"no such file: {name}")
        body = resources.files(__package__).joinpath("static", name).read_bytes()
        self._send(200, body, _STATIC[name] + "; charset=utf-8")

    # -- the event stream --------------------------------------------------------------------
    def _event(self, kind: str, obj) -> None:
        self.wfile.write(f"event: {kind}\ndata: {json.dumps(obj, separators=(',', ':'))}\n\n".encode())
        self.wfile.flush()

    def _stream(self, sid: str) -> None:
        s = self._session(sid)
        if s is None:
            return
        self.server.attached(sid)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        sent, data_sent = 0, None
        try:
            while not s.closed:
                with s.cond:
                    if s.version == sent:
                        s.cond.wait(HEARTBEAT)
                    frame, version, info = s.latest, s.version, s.dataset_info
                if info is not data_sent:
                    self._event("data", info)
                    data_sent = info
                if version != sent:
                    self._event("frame", frame)
                    sent = version
                else:
                    self.wfile.write(b": ping\n\n")
                    self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError, OSError):
            pass
        finally:
            self.server.end_session(sid)
            self.close_connection = True


def make_server(host: str = "127.0.0.1", port: int = 0) -> PlaygroundServer:
    """A PlaygroundServer bound to (host, port); port 0 picks a free one (server.server_port)."""
    return PlaygroundServer((host, port))
