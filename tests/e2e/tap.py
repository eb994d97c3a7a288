"""A recording TCP hop for end-to-end tests: put between two services, it passes every byte on and keeps what its
clients sent, so a test can read the HTTP requests one service really made to the other (e.g. the tools the
runtime offered the model, as the llm-proxy received them)."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

import orjson


class RecordingTap:
    """Listens on a free loopback port and relays each connection to ``upstream_port``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sent: list[bytearray] = []  # per connection, what the client sent
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, name="tap-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            record = bytearray()
            with self._lock:
                self._sent.append(record)
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, record), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, record: bytearray | None) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if record is not None:
                    with self._lock:
                        record.extend(data)
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def requests(self, path: str) -> list[Any]:
        """The JSON bodies of the requests to ``path`` so far, in order per connection."""
        with self._lock:
            streams = [bytes(record) for record in self._sent]
        bodies = []
        for stream in streams:
            for target, body in _http_requests(stream):
                if target == path:
                    bodies.append(orjson.loads(body))
        return bodies

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()


def _http_requests(stream: bytes) -> list[tuple[str, bytes]]:
    """(target, body) of each complete request in one connection's bytes (bodies sized by ``Content-Length``)."""
    found = []
    position = 0
    while (end := stream.find(b"\r\n\r\n", position)) != -1:
        head = stream[position:end].decode("latin-1").split("\r\n")
        target = head[0].split(" ")[1]
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:] if ":" in line)}
        length = int(headers.get("content-length", "0"))
        body = stream[end + 4 : end + 4 + length]
        if len(body) < length:
            break
        found.append((target, body))
        position = end + 4 + length
    return found
