"""Faults and throwaway stores that the tests and ``benchmarks/chaos.py`` share: a TCP link to a local server that a
caller cuts and restores, free ports, and fresh PostgreSQL databases (127.0.0.1:5432, user postgres).

Plain Python, no pytest: the tests turn :class:`Unreachable` into a skip (a failure under CI)
(``tests/search/servers.py``); the benchmarks let it stop them.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

POSTGRES = "postgresql://postgres@127.0.0.1:5432"


class Unreachable(Exception):
    """A server this needs is not reachable (or its client library is not installed)."""


def postgres_admin(sql: str) -> None:
    """Run one statement on the PostgreSQL server's ``test`` database; :class:`Unreachable` where there is none."""
    try:
        import psycopg
    except ImportError as exc:
        raise Unreachable("psycopg is not installed (the test extra)") from exc
    try:
        with psycopg.connect(f"{POSTGRES}/test", autocommit=True, connect_timeout=5) as connection:
            connection.execute(sql)
    except psycopg.OperationalError as exc:
        raise Unreachable(f"PostgreSQL at {POSTGRES}: {exc}") from exc


def postgres_databases(kinds: tuple[str, ...]) -> Iterator[list[str]]:
    """Create one fresh PostgreSQL database per kind; yields their URLs, then drops them."""
    names = [f"mtl_{kind}_{uuid.uuid4().hex[:8]}" for kind in kinds]
    for name in names:
        postgres_admin(f'CREATE DATABASE "{name}"')
    yield [f"{POSTGRES}/{name}" for name in names]
    for name in names:
        postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Link:
    """A TCP forwarder to a local server, which a test cuts (the server seems gone) and restores."""

    def __init__(self, port: int) -> None:
        self.target, self.port = port, free_port()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self._lock = threading.Lock()
        self.restore()

    def url(self, url: str) -> str:
        """``url`` (which names ``127.0.0.1:<target port>``) pointed through this link instead."""
        return url.replace(f"127.0.0.1:{self.target}/", f"127.0.0.1:{self.port}/")

    @property
    def up(self) -> bool:
        """Whether the link accepts connections now."""
        return self.listener is not None

    def restore(self) -> None:
        """Accept connections again on the same port."""
        self.listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and break the open ones (nothing if already cut)."""
        if self.listener is None:
            return
        listener, self.listener = self.listener, None
        try:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread: a close alone leaves it accepting once more
        except OSError:
            pass
        listener.close()
        with self._lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if listener is not self.listener:  # accepted while being cut
                client.close()
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self._lock:
                self.sockets = [s for s in self.sockets if s.fileno() != -1] + [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
