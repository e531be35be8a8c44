"""The engine server's HTTP surface: OpenAI's chat completions and models, vLLM's LoRA endpoints, health, status.

Generation runs in a thread per request and reaches the event loop through a queue; the engine's lock makes
requests take turns (they queue, they are not batched). When a client goes away, Starlette cancels the response
and the generation's cancel flag stops the decode at the next token.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tuitune.generation import BASE
from tuitune.server import protocol
from tuitune.server.adapter_folder import checked_folder
from tuitune.server.bodies import read_json
from tuitune.server.host import EngineHost
from tuitune.server.jobs_api import job_routes
from tuitune.server.memory import TrimAfterBigBodies
from tuitune.server.protocol import ApiError


def make_server_app(host: EngineHost, api_key: str = "") -> ASGIApp:
    async def health(_: Request) -> Response:
        if host.error:
            return JSONResponse({"status": "failed", "detail": host.error}, status_code=500)
        if not host.engine.ready:
            return JSONResponse({"status": "loading", "detail": host.progress}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def status(_: Request) -> Response:
        return JSONResponse(host.status())

    async def keepalive(_: Request) -> Response:
        host.touch()
        return JSONResponse({"status": "ok"})

    async def models(_: Request) -> Response:
        return JSONResponse({"object": "list", "data": host.models()})

    async def chat_completions(request: Request) -> Response:
        chat = protocol.parse_chat(await read_json(request))
        engine = host.require_ready()
        adapter = host.adapter_for(chat.model)
        from tuitune.model import EngineError, PromptTooLong, Sampling  # no torch until the engine runs

        sampling = Sampling(
            chat.max_tokens, chat.temperature, chat.top_p, chat.repetition_penalty, chat.seed, chat.stop
        )
        cancel = threading.Event()
        host.begin()
        try:
            generation = await asyncio.to_thread(
                engine.generate, chat.messages, cancel, adapter=adapter, sampling=sampling
            )
        except (EngineError, PromptTooLong) as exc:
            host.end()
            raise ApiError(400, str(exc), "messages") from None
        except BaseException:
            host.end()
            raise
        queue = _drain_in_thread(generation, asyncio.get_running_loop())
        name = adapter or host.base_id
        if chat.stream:
            return StreamingResponse(
                _events(queue, cancel, host, name, generation, chat.include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        return await _collect(request, queue, cancel, host, name, generation)

    async def load_adapter(request: Request) -> Response:
        body = await read_json(request)
        name = body.get("lora_name")
        _check_name(name, host)
        path = await asyncio.to_thread(checked_folder, body.get("lora_path"))  # before the engine's lock, never in it
        engine = host.require_ready()
        if name in engine.loaded_adapters and not body.get("load_inplace", False):
            raise ApiError(400, f"The lora adapter '{name}' has already been loaded.", "lora_name")
        from tuitune.model import AdapterError, EngineError

        try:
            seconds = await asyncio.to_thread(engine.load_adapter, name, path, False)
        except (AdapterError, EngineError) as exc:
            raise ApiError(400, str(exc), "lora_path") from None
        return PlainTextResponse(
            f"Success: LoRA adapter '{name}' added successfully.", headers={"x-tuitune-load-s": f"{seconds:.4f}"}
        )

    async def unload_adapter(request: Request) -> Response:
        name = (await read_json(request)).get("lora_name")
        _check_name(name, host)
        engine = host.require_ready()
        if name not in engine.loaded_adapters:
            raise ApiError(404, f"The lora adapter '{name}' cannot be found.", "lora_name")
        await asyncio.to_thread(engine.unload_adapter, name)
        return PlainTextResponse(f"Success: LoRA adapter '{name}' removed successfully.")

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/tuitune/status", status, methods=["GET"]),
        Route("/tuitune/keepalive", keepalive, methods=["POST"]),
        Route("/v1/status", status, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/load_lora_adapter", load_adapter, methods=["POST"]),
        Route("/v1/unload_lora_adapter", unload_adapter, methods=["POST"]),
    ]
    if host.jobs is not None:
        routes += job_routes(host.jobs)
    handlers = {ApiError: _api_error, HTTPException: _http_error, Exception: _unexpected}
    app = TrimAfterBigBodies(Starlette(routes=routes, exception_handlers=handlers))
    return _BearerAuth(app, api_key) if api_key else app


# ---- request plumbing ------------------------------------------------------------------------------------------
def _check_name(name: Any, host: EngineHost) -> None:
    if not isinstance(name, str) or not name or len(name) > 64 or not set(name) <= protocol.NAME_CHARS:
        raise ApiError(400, "'lora_name' must be 1-64 letters, digits, '.', '_' or '-'", "lora_name")
    if name in (host.base_id, BASE):
        raise ApiError(400, f"'{name}' names the base model", "lora_name")


def _drain_in_thread(generation: Any, loop: asyncio.AbstractEventLoop) -> asyncio.Queue:
    """Run the generation in its own thread; pieces, then ("done", None) or ("error", exc), arrive on the queue."""
    queue: asyncio.Queue = asyncio.Queue()

    def put(item: tuple[str, Any]) -> None:
        with suppress(RuntimeError):  # the loop has closed: the server is going down
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def drain() -> None:
        try:
            for piece in generation:
                put(("piece", piece))
        except Exception as exc:
            put(("error", exc))
        else:
            put(("done", None))

    threading.Thread(target=drain, name="generation", daemon=True).start()
    return queue


async def _events(
    queue: asyncio.Queue, cancel: threading.Event, host: EngineHost, name: str, generation: Any, include_usage: bool
) -> AsyncIterator[str]:
    cid = protocol.completion_id()
    try:
        stats = generation.stats
        yield protocol.chunk(
            cid,
            name,
            {"role": "assistant", "content": ""},
            extra={"tuitune": {"prompt_tokens": stats.prompt_tokens, "dropped_turns": stats.dropped_turns}},
        )
        while True:
            kind, value = await queue.get()
            if kind == "piece":
                yield protocol.chunk(cid, name, {"content": value})
                continue
            if kind == "error":
                yield protocol.sse(protocol.error_body(500, f"generation failed: {value}"))
            else:
                finish = protocol.FINISH.get(generation.stats.finish, "stop")
                yield protocol.chunk(cid, name, {}, finish)
                if include_usage:
                    yield protocol.chunk(cid, name, None, usage_body=protocol.usage(generation.stats))
            break
        yield "data: [DONE]\n\n"
    finally:
        cancel.set()  # a client that left mid-answer frees the engine at the next token
        host.end()


async def _collect(
    request: Request, queue: asyncio.Queue, cancel: threading.Event, host: EngineHost, name: str, generation: Any
) -> Response:
    parts: list[str] = []
    try:
        while True:
            try:
                kind, value = await asyncio.wait_for(queue.get(), timeout=0.5)
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    cancel.set()
                continue
            if kind == "piece":
                parts.append(value)
            elif kind == "error":
                raise ApiError(500, f"generation failed: {value}")
            else:
                return JSONResponse(
                    protocol.completion(protocol.completion_id(), name, "".join(parts), generation.stats)
                )
    finally:
        cancel.set()
        host.end()


# ---- errors ----------------------------------------------------------------------------------------------------
async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    # Refused before its body was read: close, so the rest of a huge or dripping body is never read either.
    headers = {"Connection": "close"} if exc.status in (408, 413) else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse(protocol.error_body(exc.status_code, str(exc.detail)), status_code=exc.status_code)


async def _unexpected(_: Request, exc: Exception) -> Response:
    message = f"{exc.__class__.__name__}: {exc}"
    return JSONResponse(protocol.error_body(500, message), status_code=500)


class _BearerAuth:
    """Every HTTP request must carry `Authorization: Bearer <key>`; anything else gets 401."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app, self.expected = app, f"Bearer {key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = JSONResponse(
                    protocol.error_body(
                        401,
                        "a valid API key is required (Authorization: "
                        "Bearer <key>; the key is in the home's engine.key)",
                    ),
                    status_code=401,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
