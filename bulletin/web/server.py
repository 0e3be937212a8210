"""Serving an ASGI app with uvicorn on a socket we bind ourselves, so a port in use is a
one-line error and Ctrl-C stops cleanly, even with live-reload streams open."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from ..errors import ServiceError


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Say TCP outright: asyncio sets TCP_NODELAY only on connections accepted from a socket
    # whose protocol is TCP, and without it every keep-alive response waits ~40 ms for the
    # client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServiceError(f"port {port} on {host} is in use; choose another with "
                               "--port") from None
        raise ServiceError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: Any) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)


def serve(app: Any, sock: socket.socket, on_exit: Callable[[], None] = lambda: None) -> None:
    """Run until Ctrl-C (or SIGTERM); `on_exit` lets long-lived responses finish first."""
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2,
                            lifespan="on")
    server = _Server(config, on_exit)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
