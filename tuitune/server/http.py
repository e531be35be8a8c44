"""uvicorn as the engine server runs it, in its own process and in the tests' thread alike.

uvicorn closes a keep-alive connection that stays silent, but any byte cancels that timer and nothing bounds how
long a request's line and headers take: a client sending a byte a second would hold a connection, a file
descriptor and a concurrency slot for ever. Here the head of every request must arrive within `head_timeout_s` of
the connection opening (or of the previous response); the body has its own limit (tuitune.server.bodies).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_CONNECTIONS = 256  # beyond this uvicorn answers 503 at once, before a file descriptor limit is reached


def server_config(app: Any, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=HeadDeadlineProtocol,
        log_level="warning",
        lifespan="off",
        limit_concurrency=MAX_CONNECTIONS,
        **options,
    )


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with a deadline for each request's head."""

    head_timeout_s = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is complete: the request is the app's now
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self.transport.close()
