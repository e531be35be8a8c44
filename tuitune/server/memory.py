"""Memory that a big request leaves behind goes back to the system.

glibc keeps freed heap for reuse rather than return it, so after a multi-megabyte body has been parsed (and, below
the prompt limit, tokenized) the server stays hundreds of MB larger for good: a 4 MB prompt left the engine about
270 MB larger; `malloc_trim(0)` gave all of it back, in milliseconds.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TRIM_AFTER_BYTES = 2**20


def trim_heap() -> None:
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (musl, macOS): nothing to trim this way
        return None


class TrimAfterBigBodies:
    """Counts each request's body as the app reads it; once a request of TRIM_AFTER_BYTES or more is answered, the
    heap is trimmed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        try:
            await self.app(scope, counting, send)
        finally:
            if received >= TRIM_AFTER_BYTES:
                trim_heap()
