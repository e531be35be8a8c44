"""A request's body, read with limits: its size is checked before it arrives (Content-Length) and while it does
(a chunked body has none), it must arrive within a time, and a client that leaves halfway is a quiet 400, never a
traceback in the server's log."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import ClientDisconnect, Request

from tuitune.server import protocol
from tuitune.server.protocol import ApiError

MAX_BODY_BYTES = 16 * 2**20
BODY_TIMEOUT_S = 60.0  # 16 MB in a minute: a slow link manages it, a client dripping bytes does not hold a slot


async def read_json(request: Request) -> dict[str, Any]:
    return protocol.parse_json(await read_body(request))


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    try:
        return await asyncio.wait_for(_gather(request, limit), BODY_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {BODY_TIMEOUT_S:g} s") from None
    except ClientDisconnect:
        raise ApiError(400, "the client went away before its request body ended") from None


async def _gather(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is over {limit // 2**20} MB")
