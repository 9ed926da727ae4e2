"""Real local HTTP(S) servers on 127.0.0.1 sockets, for the tests of the HTTP clients.

A :class:`LocalServer` answers each path with scripted :class:`Reply` objects (one per request,
the last one repeating), keeps HTTP/1.1 connections alive, and records what it received (method,
path, headers, body) and how many TCP connections were opened. Given an :class:`ssl.SSLContext`
it serves HTTPS (the handshake failing counts as a connection all the same).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "LocalServer",
    "Received",
    "Reply",
    "closed_port",
    "json_reply",
    "redirect",
    "serve",
]


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    Attributes
    ----------
    status
        The HTTP status; 0 hangs up without answering.
    body
        The body.
    headers
        Extra headers.
    trickle
        If set, the body is sent one byte at a time with this many seconds between bytes.
    trickle_head
        With ``trickle``, the status line and headers are trickled too.
    delay
        Seconds to wait before answering (after whatever the request did), e.g. to answer after
        the client's deadline.
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float | None = None
    trickle_head: bool = False
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    """A request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header's value by name, any case; None if absent."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


def json_reply(text: str, status: int = 200, **headers: str) -> Reply:
    """A JSON answer."""
    return Reply(status, text.encode(), {"Content-Type": "application/json", **headers})


def redirect(location: str, status: int = 302) -> Reply:
    """A redirect to ``location``."""
    return Reply(status, b"", {"Location": location})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: LocalServer, tls: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.tls = tls
        super().__init__(("127.0.0.1", 0), _handler(owner))

    def get_request(self) -> tuple[Any, Any]:
        conn, address = self.socket.accept()
        with self.owner.lock:
            self.owner.connections += 1
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                raise
        return conn, address


def _handler(owner: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

        def do_GET(self) -> None:
            """Answer with the path's next reply."""
            self._answer()

        def do_POST(self) -> None:
            """Answer with the path's next reply."""
            self._answer()

        def do_PUT(self) -> None:
            """Answer with the path's next reply."""
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            received = Received(self.command, self.path, dict(self.headers.items()), body)
            reply = owner.next_reply(received)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.status == 0:
                self.close_connection = True
                return
            if reply.trickle is not None and reply.trickle_head:
                lines = [f"HTTP/1.1 {reply.status} Scripted"]
                lines += [f"{k}: {v}" for k, v in reply.headers.items()]
                lines.append(f"Content-Length: {len(reply.body)}")
                raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + reply.body
                self._trickle(raw, reply.trickle)
                return
            with contextlib.suppress(OSError):
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.trickle is None:
                    self.wfile.write(reply.body)
                    return
                self._trickle(reply.body, reply.trickle)

        def _trickle(self, data: bytes, pause: float) -> None:
            """Send ``data`` a byte at a time, ``pause`` seconds apart, until the client leaves."""
            with contextlib.suppress(OSError):
                for byte in data:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(pause)

    return Handler


class LocalServer:
    """A scripted HTTP(S) server on a loopback port, served from a thread.

    Parameters
    ----------
    tls
        A server-side TLS context, for HTTPS.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, list[Reply | Callable[[Received], Reply]]] = {}
        self.handler: Callable[[Received], Reply] | None = None
        """Answers the paths without a route (a stateful fake server), if set."""
        self.received: list[Received] = []
        self.connections = 0
        self.lock = threading.Lock()
        self._httpd = _Server(self, tls)
        self.port: int = self._httpd.server_address[1]
        scheme = "https" if tls is not None else "http"
        self.origin = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        """The absolute URL of ``path``."""
        return self.origin + path

    def route(self, path: str, *replies: Reply | Callable[[Received], Reply]) -> None:
        """Answer ``path`` with ``replies`` in turn (the last one repeats)."""
        self.routes[path] = list(replies)

    def next_reply(self, received: Received) -> Reply:
        """Record the request and give its reply (the handler's, or 404, for an unknown path)."""
        with self.lock:
            self.received.append(received)
            replies = self.routes.get(received.path.split("?")[0])
            reply: Reply | Callable[[Received], Reply] | None = None
            if replies:
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if reply is None:
            return self.handler(received) if self.handler is not None else Reply(404, b"not found")
        return reply(received) if callable(reply) else reply

    def hits(self, path: str) -> int:
        """Requests received for ``path``."""
        return sum(r.path.split("?")[0] == path for r in self.received)

    def close(self) -> None:
        """Stop serving."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def serve(tls: ssl.SSLContext | None = None) -> Iterator[LocalServer]:
    """A :class:`LocalServer`, closed afterwards."""
    server = LocalServer(tls)
    try:
        yield server
    finally:
        server.close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
