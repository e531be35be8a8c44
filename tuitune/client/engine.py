"""The one client of the engine: the TUI, the CLI, A/B and the swap after training all talk to the model here.

It speaks the OpenAI / vLLM HTTP API, so the same code drives tuitune's own server (on the home's Unix socket, or
a URL) and a vLLM server. The adapter is a parameter of each request: `active_adapter` is only this client's
default, and every Generation reports the adapter the server says wrote it.

vLLM is sent the prompt as the ids tuitune renders (tuitune.client.prompt_ids), on `/v1/completions`, and holds
each adapter under a name per version (tuitune.client.adapter_names), never reloaded in place.

With the local backend and no URL, the client attaches to the home's server wherever engine.json says it listens
(its socket, or the TCP address of `serve --host`), or starts one detached and waits for it; a server that died is
started again on the next request, and the adapters this client had loaded are loaded into it again when first
asked for. A server that dies with a request in hand (an adapter loading, say) is reported, not restarted: the
request may be why it died.

An open app calls `keepalive()` every KEEPALIVE_INTERVAL_S, so a server's idle timeout never ends it under a user.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import httpx

from tuitune.client.adapter_names import served_name, tuitune_name
from tuitune.client.prompt_ids import PromptIds, completion_body
from tuitune.config import Settings
from tuitune.errors import AdapterError, EngineError
from tuitune.generation import BASE, Generation, GenerationStats, Sampling
from tuitune.server import lifecycle
from tuitune.server.lifecycle import EnginePaths

_ACTIVE = object()
START_TIMEOUT_S = 600.0  # a 7B base from a slow disk takes minutes; the user sees the progress meanwhile
UNREACHABLE_S = 30.0  # a running server that takes no connection for this long listens elsewhere: say so
KEEPALIVE_INTERVAL_S = 60.0  # far below any idle timeout worth setting (the default is an hour)
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, FileNotFoundError, ConnectionRefusedError)


class EngineGone(EngineError):
    """The server went away in the middle of a request."""


@dataclass(frozen=True)
class EngineInfo:
    name: str
    path: str
    device: str
    quant: str
    footprint_mb: float
    context_window: int
    backend: str
    address: str
    pid: int | None


class EngineClient:
    def __init__(self, settings: Settings, url: str | None = None) -> None:
        self.settings = settings
        self.url = url if url is not None else settings.engine.url
        self.paths = EnginePaths(settings.home)
        self.info: EngineInfo | None = None
        self.template_fingerprint = ""
        self.active_adapter: str | None = None
        self._known: dict[str, str] = {}  # adapters this client loaded: name -> folder (to reload after a restart)
        self._loaded: dict[str, str] = {}  # what the server said it holds, at the last look (vLLM: served names)
        self._served: dict[str, str] = {}  # vLLM: the served name of each adapter this client loaded
        self._prompt_ids = PromptIds(settings) if settings.engine.backend == "vllm" else None
        self._http: httpx.Client | None = None
        self._http_address = ""
        self._stale = False  # a connection failed: look again where the home's server listens
        self._start_lock = threading.Lock()
        self._closed = threading.Event()  # set by close(): a wait for the server gives up at once
        self.progress: Callable[[str], None] = lambda _: None

    # ---- attaching -----------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.info is not None

    @property
    def spawns(self) -> bool:
        """Whether this client starts the server itself (the home's local server) rather than attach to a URL."""
        return not self.url and self.settings.engine.backend == "local"

    @property
    def address(self) -> str:
        return self._http_address or self._where()

    def _where(self) -> str:
        """engine.url; else where the home's running server says it listens; else the home's own socket."""
        return self.url or lifecycle.listening_at(self.paths) or f"unix:{self.paths.socket}"

    def load(self, progress: Callable[[str], None] | None = None) -> EngineInfo:
        """Attach to the server (starting it when it is the home's own and not running) and wait until its model
        is loaded; `progress` hears what is happening meanwhile."""
        if progress is not None:
            self.progress = progress
        self._ensure_server()
        status = self._json("GET", "/tuitune/status") if self._is_tuitune() else {}
        serving = lifecycle.read_info(self.paths).get("model") if self.spawns else None
        if serving is not None and serving != self.settings.model.spec:
            raise EngineError(
                f"this home's engine server serves {serving}, not {self.settings.model.spec}; "
                f"`tuitune serve --stop` ends it"
            )
        cards = self._models()
        base = next((card for card in cards if not card.get("parent")), cards[0] if cards else {})
        self.info = EngineInfo(
            name=status.get("model") or base.get("id", "?"),
            path=status.get("model_path") or base.get("root", ""),
            device=status.get("device") or "?",
            quant=status.get("quant") or "?",
            footprint_mb=float(status.get("footprint_mb") or 0.0),
            context_window=int(status.get("context_window") or base.get("max_model_len") or 2048),
            backend=self.settings.engine.backend,
            address=self.address,
            pid=status.get("pid"),
        )
        self.template_fingerprint = status.get("template_fingerprint") or ""
        return self.info

    def _is_tuitune(self) -> bool:
        return self.settings.engine.backend == "local"

    def _ensure_server(self) -> None:
        with self._start_lock:
            deadline = time.monotonic() + START_TIMEOUT_S
            started = None
            unreachable_since = None
            note = ""
            while True:
                if self._closed.is_set():
                    raise EngineError("the engine client was closed")
                try:
                    response = self._client().get("/health", timeout=5.0)
                except (httpx.TransportError, OSError) as exc:  # refused, reset, timed out: no answer either way
                    self._stale = True
                    if not self.spawns:
                        raise EngineError(f"no engine answers at {self.address} ({_reason(exc)})") from None
                    if started is None and not lifecycle.running(self.paths):
                        self.progress("starting the engine server…")
                        started = lifecycle.spawn(self.settings)
                    elif started is not None and started.poll() is not None and not lifecycle.running(self.paths):
                        raise EngineError(
                            f"the engine server exited ({lifecycle.log_tail(self.paths)}); log: {self.paths.log}"
                        ) from None
                    elif started is None and isinstance(exc, _NEVER_SENT):
                        # Another's server holds the home. It binds before anything slow, so one that refuses
                        # connections for long listens where this client cannot reach it.
                        unreachable_since = unreachable_since or time.monotonic()
                        if time.monotonic() - unreachable_since > UNREACHABLE_S:
                            raise EngineError(self._unreachable(exc)) from None
                    response = None
                if response is not None:
                    if response.status_code == 200:
                        return
                    detail = _detail(response)
                    if response.status_code != 503:
                        if self.spawns and response.status_code == 500:  # its model failed: of no use to anyone
                            lifecycle.stop(self.paths)
                        raise EngineError(f"the engine server cannot serve: {detail}")
                    if detail != note:
                        note = detail
                        self.progress(detail)
                if time.monotonic() > deadline:
                    raise EngineError(
                        f"the engine server did not become ready in {START_TIMEOUT_S:.0f} s; log: {self.paths.log}"
                    )
                time.sleep(0.1)

    def _unreachable(self, exc: BaseException) -> str:
        pid = lifecycle.read_info(self.paths).get("pid", "?")
        return (
            f"this home's engine server (pid {pid}) runs but does not answer at {self.address} ({_reason(exc)}) "
            f"after {UNREACHABLE_S:.0f} s; `tuitune serve --stop` ends it"
        )

    def _client(self) -> httpx.Client:
        """The HTTP client for where the server listens; looked up again after a connection failed (a server
        started since may listen elsewhere). A client that is replaced is left open: a stream may still use it."""
        if self._http is None or (self._stale and self._where() != self._http_address):
            address = self._where()
            headers = {}
            key = self.settings.engine.api_key or (
                lifecycle.api_key(self.paths, create=False) if address.startswith("http") else ""
            )
            if key:
                headers["Authorization"] = f"Bearer {key}"
            timeout = httpx.Timeout(30.0, read=None)
            if address.startswith("http"):
                self._http = httpx.Client(base_url=address.rstrip("/"), headers=headers, timeout=timeout)
            else:
                uds = address[len("unix:") :] if address.startswith("unix:") else str(self.paths.socket)
                self._http = httpx.Client(
                    base_url="http://tuitune", transport=httpx.HTTPTransport(uds=uds), headers=headers, timeout=timeout
                )
            self._http_address = address
        self._stale = False
        return self._http

    def close(self) -> None:
        """Stop waiting for the server and drop the connection; the server itself keeps running."""
        self._closed.set()
        if self._http is not None:
            self._http.close()
            self._http = None

    def status(self) -> dict[str, Any]:
        return self._json("GET", "/tuitune/status")

    def keepalive(self) -> bool:
        """Tell the server this client is open (an app showing a conversation), so its idle timeout does not end it;
        call every KEEPALIVE_INTERVAL_S from a thread. Cheap, starts nothing, never raises: False when no tuitune
        server answered (the next request starts one again)."""
        if not self._is_tuitune() or self.info is None:
            return False
        try:
            return self._client().post("/tuitune/keepalive", timeout=5.0).status_code == 200
        except httpx.HTTPError:
            self._stale = True
            return False

    # ---- plain requests ------------------------------------------------------------------------------------
    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """One request. A server that is gone before it is reached is started again (local backend) and the request
        repeated once; one that dies with the request in hand ends it with EngineGone."""
        for attempt in (1, 2):
            running = self._running()
            try:
                return self._client().request(method, path, json=body)
            except (httpx.TransportError, FileNotFoundError) as exc:
                self._stale = True
                if attempt == 2 or not self.spawns:
                    raise EngineError(f"the engine server at {self.address} does not answer ({_reason(exc)})") from None
                if running and not isinstance(exc, _NEVER_SENT) and self._died():
                    raise EngineGone(self._gone_line(path, exc)) from None
                self._restart()
        raise AssertionError("unreachable")

    def _running(self) -> bool:
        """Whether the home's server runs as a request goes out: if it then breaks and the server is gone, it died
        with the request in hand (a connection kept from a server that died before breaks the same way)."""
        return self.spawns and lifecycle.running(self.paths)

    def _died(self) -> bool:
        """After a connection broke mid-request: whether the home's server ended (its lock goes as it dies), or is
        alive and only this connection broke (a keep-alive closed as the request went out)."""
        deadline = time.monotonic() + 1.0
        while lifecycle.running(self.paths):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _gone_line(self, path: str, exc: BaseException) -> str:
        doing = {"/v1/load_lora_adapter": "loading the adapter", "/v1/chat/completions": "starting the answer"}
        return (
            f"the engine server went away while {doing.get(path, 'answering ' + path)} ({_reason(exc)}); "
            f"the next request starts a new one; its log: {self.paths.log}"
        )

    def call(self, method: str, path: str, *, timeout: float = 60.0, **kwargs: Any) -> dict[str, Any]:
        """One request of any shape (query parameters, multipart files) to the attached server, which is never
        restarted for it: the JSON answer, or EngineError with the server's own message."""
        try:
            response = self._client().request(method, path, timeout=timeout, **kwargs)
        except httpx.HTTPError as exc:
            raise EngineError(f"the engine server at {self.address} does not answer ({_reason(exc)})") from None
        if response.status_code >= 400:
            raise EngineError(_detail(response))
        return response.json()

    def _restart(self) -> None:
        self.progress("the engine server is gone; starting a new one…")
        self._ensure_server()
        self.progress("ready")

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._send(method, path, body)
        if response.status_code >= 400:
            raise EngineError(_detail(response))
        return response.json()

    def _models(self) -> list[dict[str, Any]]:
        cards = self._json("GET", "/v1/models").get("data", [])
        self._loaded = {card["id"]: card.get("root", "") for card in cards if card.get("parent")}
        return cards

    # ---- adapters ------------------------------------------------------------------------------------------
    @property
    def loaded_adapters(self) -> dict[str, str]:
        """The adapters the server holds now (asked each time: another client may have changed them)."""
        with suppress(EngineError):
            self._models()
        return {tuitune_name(served): folder for served, folder in self._loaded.items()}

    def load_adapter(self, name: str, folder: str, activate: bool = True) -> float:
        """Load an adapter into the running base (replacing one of the same name); returns the seconds it took."""
        start = time.perf_counter()
        folder = os.path.abspath(folder)  # relative to this client's folder, not the server's
        if self._is_tuitune():
            response = self._send(
                "POST", "/v1/load_lora_adapter", {"lora_name": name, "lora_path": str(folder), "load_inplace": True}
            )
            if response.status_code >= 400:
                raise AdapterError(_detail(response))
            self._loaded[name] = str(folder)
        else:
            self._load_into_vllm(name, str(folder))
        self._known[name] = str(folder)
        if activate:
            self.active_adapter = name
        return time.perf_counter() - start

    def _load_into_vllm(self, name: str, folder: str) -> None:
        """Under the name of this version, unless vLLM holds it already; then its older versions are unloaded."""
        served = served_name(name, folder)
        self._models()
        if served not in self._loaded:
            response = self._send("POST", "/v1/load_lora_adapter", {"lora_name": served, "lora_path": folder})
            if response.status_code >= 400:
                self._models()
                if served not in self._loaded:  # else another client loaded the same version meanwhile
                    raise AdapterError(_detail(response))
            self._loaded[served] = folder
        self._served[name] = served
        for older in [held for held in self._loaded if held != served and tuitune_name(held) == name]:
            with suppress(EngineError):  # one left behind only takes a slot; requests name this version
                self._unload(older)

    def unload_adapter(self, name: str) -> None:
        if self._is_tuitune():
            self._unload(name)
        else:  # every version vLLM holds of it
            with suppress(EngineError):
                self._models()
            for served in [held for held in self._loaded if tuitune_name(held) == name] or [name]:
                self._unload(served)
            self._served.pop(name, None)
        self._known.pop(name, None)
        if self.active_adapter == name:
            self.active_adapter = None

    def _unload(self, served: str) -> None:
        response = self._send("POST", "/v1/unload_lora_adapter", {"lora_name": served})
        if response.status_code >= 400 and response.status_code != 404:
            raise EngineError(_detail(response))
        self._loaded.pop(served, None)

    def _served_model(self, name: str | None) -> str:
        """The model a request names: the base, or the adapter as the server holds it (vLLM: a version of it)."""
        assert self.info is not None
        if name is None:
            return self.info.name
        if name in self._served:
            return self._served[name]
        return next((held for held in self._loaded if tuitune_name(held) == name), name)

    def activate(self, name: str | None) -> float:
        """Make `name` (None: the base) this client's default for requests; the server is not asked to switch."""
        if name is not None and name not in self._known and name not in self.loaded_adapters:
            raise EngineError(f"adapter {name!r} is not loaded")
        self.active_adapter = name
        return 0.0

    # ---- generation ----------------------------------------------------------------------------------------
    def generate(
        self,
        messages: list[dict[str, str]],
        cancel: threading.Event | None = None,
        max_new_tokens: int | None = None,
        *,
        adapter: Any = _ACTIVE,
        sampling: Sampling | None = None,
    ) -> Generation:
        """Start a streamed answer; refusals (empty or too long prompt, unknown adapter) raise here. Iterate the
        Generation for text pieces; its stats are complete when the iteration ends. `sampling`'s fields replace the
        settings' decoding for this answer."""
        if self.info is None:
            raise EngineError("the engine is not attached yet")
        name = self.active_adapter if adapter is _ACTIVE else adapter
        cancel = cancel or threading.Event()
        stats = GenerationStats(adapter=name)
        started = time.perf_counter()
        body, path = self._chat_body(messages, self._served_model(name), max_new_tokens), "/v1/chat/completions"
        body.update(sampling.request_fields() if sampling else {})
        if self._prompt_ids is not None:  # vLLM: the ids tuitune renders, not messages for its own template
            fitted = self._prompt_ids.fit(self.info.path, messages, self._context_budget(body["max_tokens"]))
            body, path = completion_body(body, fitted.input_ids), "/v1/completions"
            stats.prompt_tokens, stats.dropped_turns = len(fitted.input_ids), fitted.dropped_turns
        response = self._open_stream(body, path)
        events = _sse_events(response)
        try:
            first = next(events)
        except StopIteration:
            response.close()
            raise EngineGone("the engine server closed the answer before it began") from None
        except httpx.HTTPError as exc:
            response.close()
            raise EngineGone(f"the engine server went away ({_reason(exc)})") from None
        if "error" in first:
            response.close()
            raise EngineError(_message(first))
        model = first.get("model")
        stats.adapter = None if model in (self.info.name, BASE, None) else tuitune_name(model)
        extra = first.get("tuitune") or {}
        stats.prompt_tokens = int(extra.get("prompt_tokens") or stats.prompt_tokens)
        stats.dropped_turns = int(extra.get("dropped_turns") or stats.dropped_turns)
        # vLLM's completions stream has text in its first event already; a chat stream's first has none.
        return Generation(_pieces(response, itertools.chain([first], events), cancel, stats, started), stats)

    def _context_budget(self, max_tokens: int) -> int:
        """The prompt's room in vLLM's context window (or a smaller one the settings ask for) beside the answer."""
        assert self.info is not None
        window = min(self.info.context_window, self.settings.generation.context_window or self.info.context_window)
        return window - max_tokens

    def _chat_body(self, messages: list[dict[str, str]], model: str, max_new_tokens: int | None) -> dict:
        gen = self.settings.generation
        return {
            "model": model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max_new_tokens or gen.max_new_tokens,
            "temperature": gen.temperature,
            "top_p": gen.top_p,
            "repetition_penalty": gen.repetition_penalty,
        }

    def _open_stream(self, body: dict[str, Any], path: str = "/v1/chat/completions") -> httpx.Response:
        for attempt in (1, 2, 3):
            client, running = self._client(), self._running()
            try:
                response = client.send(client.build_request("POST", path, json=body), stream=True)
            except (httpx.TransportError, FileNotFoundError) as exc:
                self._stale = True
                if attempt == 3 or not self.spawns:
                    raise EngineError(f"the engine server at {self.address} does not answer ({_reason(exc)})") from None
                if running and not isinstance(exc, _NEVER_SENT) and self._died():
                    raise EngineGone(self._gone_line(path, exc)) from None
                self._restart()
                continue
            if response.status_code < 400:
                return response
            response.read()
            response.close()
            name = tuitune_name(body["model"])
            if response.status_code == 404 and name in self._known and attempt < 3:
                self.load_adapter(name, self._known[name], activate=False)  # a new server: load it again
                body = {**body, "model": self._served_model(name)}
                continue
            raise EngineError(_detail(response))
        raise AssertionError("unreachable")


# ---- streaming -------------------------------------------------------------------------------------------------
def _sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        yield json.loads(data)


def _pieces(
    response: httpx.Response,
    events: Iterator[dict[str, Any]],
    cancel: threading.Event,
    stats: GenerationStats,
    started: float,
) -> Iterator[str]:
    """Text pieces as they arrive. A cancel closes the connection (the server stops at the next token), even while
    nothing arrives; a server that dies mid-answer raises EngineGone with what arrived kept by the caller."""
    done = threading.Event()

    def watch_cancel() -> None:
        while not done.wait(0.05):
            if cancel.is_set():
                response.close()
                return

    threading.Thread(target=watch_cancel, name="cancel-watch", daemon=True).start()
    stats.finish = "length"
    try:
        for event in events:
            if "error" in event:
                raise EngineError(_message(event))
            for choice in event.get("choices") or []:
                text = (choice.get("delta") or {}).get("content") or choice.get("text")  # chat or completions
                if text:
                    if not stats.new_tokens:
                        stats.ttft_s = time.perf_counter() - started
                    stats.new_tokens += 1
                    stats.total_s = time.perf_counter() - started
                    yield text
                if choice.get("finish_reason"):
                    stats.finish = {"stop": "eos", "length": "length", "abort": "cancelled"}.get(
                        choice["finish_reason"], choice["finish_reason"]
                    )
            if event.get("usage"):
                stats.new_tokens = int(event["usage"].get("completion_tokens") or stats.new_tokens)
                stats.prompt_tokens = int(event["usage"].get("prompt_tokens") or stats.prompt_tokens)
            if cancel.is_set():
                stats.finish = "cancelled"
                return
        stats.total_s = time.perf_counter() - started
    except (httpx.HTTPError, httpx.StreamError) as exc:
        if cancel.is_set():
            stats.finish = "cancelled"
            return
        raise EngineGone(
            f"the engine server went away mid-answer ({_reason(exc)}); the next request starts a new one"
        ) from None
    finally:
        done.set()
        response.close()
        if cancel.is_set():
            stats.finish = "cancelled"


# ---- small helpers ---------------------------------------------------------------------------------------------
def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return _message(body) if "error" in body else str(body.get("detail") or body.get("message") or body)
    return str(body)[:300]


def _message(body: dict[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error or body.get("message") or body)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else exc.__class__.__name__
