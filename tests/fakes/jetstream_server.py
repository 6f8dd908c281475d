"""A fake Jetstream: a real WebSocket server on 127.0.0.1 that plays Bluesky's Jetstream.

Like the real service it reads `wantedCollections` (repeatable) and `cursor` (Unix
microseconds) from the `/subscribe` query, replays the events whose `time_us` is at or after
the cursor (without a cursor: the live tail, here the events from `live_from_us` on), always
passes `identity` and `account` events, and sends each event as one JSON text frame.

How each connection ends is scripted with `plans`, one per connection in turn:
("close", n) sends at most n events and closes normally (code 1000); ("drop", n) sends at most
n events and then drops the TCP connection without a close frame, as a network failure does;
("hold", n) sends at most n events and then stays silent until the server stops. n = None
means every matching event. Without a plan a connection gets ("close", None).
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.sync.server import ServerConnection, serve


@dataclass
class Connection:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    sent: list[int]  # the time_us of each event sent on this connection

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class FakeJetstream:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []  # served in time_us order
        self.plans: list[tuple[str, int | None]] = []
        self.live_from_us = 0
        self.refuse: list[tuple[int, dict[str, str]]] = []  # (status, headers) per upgrade, in turn
        self.connections: list[Connection] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = None
        self._thread: threading.Thread | None = None

    def add(self, *frames: str | dict[str, Any]) -> None:
        with self._lock:
            for frame in frames:
                self.events.append(json.loads(frame) if isinstance(frame, str) else frame)
            self.events.sort(key=lambda e: e["time_us"])

    # --- the WebSocket side -------------------------------------------------------------------
    def _upgrade(self, ws: ServerConnection, request: Any) -> Any:
        """Refuse the opening handshake while `refuse` holds answers (e.g. a 429)."""
        with self._lock:
            if not self.refuse:
                return None
            status, headers = self.refuse.pop(0)
            self.connections.append(Connection(path=request.path, query={}, headers={},
                                               sent=[]))
        response = ws.respond(status, "refused by the fake\n")
        for name, value in headers.items():
            response.headers[name] = value
        return response

    def _handle(self, ws: ServerConnection) -> None:
        parts = urlsplit(ws.request.path)
        query = parse_qs(parts.query)
        record = Connection(path=parts.path, query=query,
                            headers={k.lower(): v for k, v in ws.request.headers.raw_items()},
                            sent=[])
        with self._lock:
            self.connections.append(record)
            plan, limit = self.plans.pop(0) if self.plans else ("close", None)
            events = list(self.events)
        if parts.path != "/subscribe":
            ws.close(1008, "unknown path")
            return
        start = int(record.q("cursor") or 0) or self.live_from_us
        wanted = set(query.get("wantedCollections") or [])
        for event in events:
            if limit is not None and len(record.sent) >= limit:
                break
            if event["time_us"] < start:
                continue
            if wanted and event.get("kind") == "commit" \
                    and event["commit"].get("collection") not in wanted:
                continue
            ws.send(json.dumps(event))
            record.sent.append(event["time_us"])
        if plan == "drop":
            ws.socket.shutdown(socket.SHUT_RDWR)  # no close frame: the client sees code 1006
            ws.socket.close()
        elif plan == "hold":
            self._stopping.wait()
        # "close": returning from the handler closes the connection normally.

    # --- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> FakeJetstream:
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None,
                             process_request=self._upgrade)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stopping.set()
        assert self._server is not None
        self._server.shutdown()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/subscribe"
