"""A tiny threaded HTTP server that plays a platform API in tests, and records every request.

Each platform's fake (tests/fakes/<platform>_server.py) adds routes that answer with that
platform's documented payloads. Routes match on method + a regex of the path; a route answers
from a queue of responses (the last one repeats), or from a handler function.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON; str/bytes as is
    headers: dict[str, str] = field(default_factory=dict)
    lines: Iterable[str] | None = None  # streamed, one per line (X stream, SSE)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain"
        if self.body is None:
            return b"", "application/json"
        return json.dumps(self.body).encode(), "application/json"


Handler = Callable[[Recorded, re.Match], Reply]


class FakeServer:
    """Start with `with FakeServer() as server:`; `server.url` is its base URL."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern, list[Reply] | Handler]] = []
        self.requests: list[Recorded] = []
        self._once: list[tuple[str, re.Pattern, Reply]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- routes -----------------------------------------------------------------------------
    def on(self, method: str, path: str, *replies: Reply | Handler) -> FakeServer:
        """Answer `method path` (a regex, anchored) with these replies in turn, or a handler.

        A later `on` for the same route takes precedence over earlier ones.
        """
        pattern = re.compile(f"^{path}$")
        target: Any = replies[0] if len(replies) == 1 and callable(replies[0]) else list(replies)
        self.routes.insert(0, (method.upper(), pattern, target))
        return self

    def once(self, method: str, path: str, reply: Reply) -> FakeServer:
        """Answer the next matching request with `reply`, then go back to the routes."""
        self._once.append((method.upper(), re.compile(f"^{path}$"), reply))
        return self

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        return [r for r in self.requests
                if (method is None or r.method == method.upper())
                and (path is None or re.fullmatch(path, r.path))]

    def _answer(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            for i, (method, pattern, reply) in enumerate(self._once):
                if method == recorded.method and pattern.match(recorded.path):
                    del self._once[i]
                    return reply
            for method, pattern, target in self.routes:
                match = pattern.match(recorded.path)
                if method != recorded.method or not match:
                    continue
                if callable(target):
                    return target(recorded, match)
                return target.pop(0) if len(target) > 1 else target[0]
        return Reply(404, {"error": f"fake: no route for {recorded.method} {recorded.path}"})

    # --- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> FakeServer:
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(
                    method=self.command, path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()}, body=body)
                reply = server._answer(recorded)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.lines is not None:
                    self.send_header("Content-Type", reply.headers.get(
                        "Content-Type", "application/json"))
                    self.end_headers()
                    for line in reply.lines:
                        self.wfile.write(line.encode() + b"\r\n")
                        self.wfile.flush()
                    return
                payload, content_type = reply.encoded()
                if "Content-Type" not in reply.headers:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"
