"""The engine server under hostile HTTP (issue 19): every malformed field of the chat and adapter endpoints is a 4xx
in OpenAI's error shape, never a 5xx or a hang; adapter folders that would block (a FIFO, a huge config) are refused
before the engine's lock; huge or dripping bodies and heads are cut off; a client that leaves writes no traceback;
a huge conversation is trimmed in seconds and a huge prompt leaves no memory behind."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import replace

import httpx
import pytest

CHAT, LOAD, UNLOAD = "/v1/chat/completions", "/v1/load_lora_adapter", "/v1/unload_lora_adapter"
HI = [{"role": "user", "content": "hi"}]


def chat(**fields):
    return {"model": "base", "messages": HI, "max_tokens": 2, **fields}


@pytest.fixture
def raw(threaded_server):
    with httpx.Client(base_url="http://tuitune", transport=httpx.HTTPTransport(uds=threaded_server.url[5:]),
                      timeout=60) as client:
        yield client


def _connect(threaded_server) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(threaded_server.url[5:])
    sock.settimeout(30)
    return sock


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


# (endpoint, body: JSON text, or a dict sent as JSON), status, words in the message
BAD = [
    (CHAT, '{"model": "\\ud800", "messages": [{"role": "user", "content": "hi"}]}', 400, "surrogate"),
    (CHAT, '{"model": "base", "messages": [{"role": "user", "content": "hi \\udfff"}]}', 400, "surrogate"),
    (CHAT, '{"model": "base", "stream": true, "messages": [{"role": "user", "content": "\\ud800"}]}', 400, "surrogate"),
    (CHAT, '{"model": "base", "messages": [{"role": "\\ud800", "content": "hi"}]}', 400, "surrogate"),
    (CHAT, '{"model": "base", "messages": [{"role": "user", "content": [{"type": "text", "text": "\\ud800"}]}]}', 400,
     "surrogate"),
    (CHAT, '{"model": "base", "\\ud800": 1, "messages": [{"role": "user", "content": "hi"}]}', 400, "surrogate"),
    (CHAT, chat(model="x" * 10_000), 400, "'model'"),
    (CHAT, chat(model=7), 400, "'model'"),
    (CHAT, chat(model=None), 400, "'model'"),
    (CHAT, chat(model="no-such-adapter"), 404, "does not exist"),
    (CHAT, chat(messages="hi"), 400, "messages"),
    (CHAT, chat(messages={"role": "user"}), 400, "messages"),
    (CHAT, chat(messages=[HI]), 400, "role"),
    (CHAT, chat(messages=[{"role": ["user"], "content": "hi"}]), 400, "role"),
    (CHAT, chat(messages=[{"role": "user", "content": {"text": "hi"}}]), 400, "must be text"),
    (CHAT, chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]), 400, "text"),
    (CHAT, chat(messages=[{"role": "user", "content": None}]), 400, "must be text"),
    (CHAT, chat(messages=[{"role": "assistant", "content": "hi"}]), 400, "user's"),
    (CHAT, chat(messages=[{"role": "user", "content": "x" * 1_000_001}]), 400, "characters"),
    (CHAT, '{"model": "base", "messages": ' + "[" * 100_000 + "]" * 100_000 + "}", 400, "JSON"),
    (CHAT, '{"model": "base", "messages": [{"role": "user", "content": ' + '{"a": ' * 5_000 + "1"
     + "}" * 5_000 + "}]}", 400, "JSON"),
    (CHAT, '{"model": "base", "temperature": NaN, "messages": [{"role": "user", "content": "hi"}]}', 400,
     "temperature"),
    (CHAT, '{"model": "base", "temperature": Infinity, "messages": [{"role": "user", "content": "hi"}]}', 400,
     "temperature"),
    (CHAT, '{"model": "base", "top_p": -Infinity, "messages": [{"role": "user", "content": "hi"}]}', 400, "top_p"),
    (CHAT, '{"model": "base", "top_p": NaN, "messages": [{"role": "user", "content": "hi"}]}', 400, "top_p"),
    (CHAT, '{"model": "base", "max_tokens": NaN, "messages": [{"role": "user", "content": "hi"}]}', 400,
     "max_tokens"),
    (CHAT, '{"model": "base", "max_tokens": 1e400, "messages": [{"role": "user", "content": "hi"}]}', 400,
     "max_tokens"),
    (CHAT, '{"model": "base", "repetition_penalty": Infinity, "messages": [{"role": "user", "content": "hi"}]}',
     400, "repetition_penalty"),
    (CHAT, chat(max_tokens=10**30), 400, "max_tokens"),
    (CHAT, chat(max_tokens=-1), 400, "max_tokens"),
    (CHAT, chat(max_tokens=2.5), 400, "max_tokens"),
    (CHAT, chat(max_tokens="5"), 400, "max_tokens"),
    (CHAT, chat(max_tokens=True), 400, "max_tokens"),
    (CHAT, chat(temperature=[0.5]), 400, "temperature"),
    (CHAT, chat(temperature=3), 400, "temperature"),
    (CHAT, chat(seed=2**64), 400, "seed"),
    (CHAT, chat(seed="1"), 400, "seed"),
    (CHAT, chat(stop=["a", "b", "c", "d", "e"]), 400, "stop"),
    (CHAT, chat(stop="x" * 257), 400, "stop"),
    (CHAT, chat(stop=["y" * 1_000_000]), 400, "stop"),
    (CHAT, chat(stop=[""]), 400, "stop"),
    (CHAT, chat(stop=[["nested"]]), 400, "stop"),
    (CHAT, chat(stop={"a": 1}), 400, "stop"),
    (CHAT, chat(n=2), 400, "n=1"),
    (CHAT, '{"model": "base", "n": NaN, "messages": [{"role": "user", "content": "hi"}]}', 400, "n=1"),
    (CHAT, chat(stream="yes"), 400, "stream"),
    (CHAT, chat(stream_options=[True]), 400, "stream_options"),
    (CHAT, chat(stream=True, stream_options={"include_usage": "yes"}), 400, "stream_options"),
    (CHAT, '"just a string"', 400, "JSON object"),
    (CHAT, "", 400, "JSON"),
    (CHAT, b"\xff\xfe{not utf-8", 400, "JSON"),
    (LOAD, {"lora_name": "x\ud800", "lora_path": "/tmp"}, 400, "surrogate"),
    (LOAD, '{"lora_name": "x", "lora_path": "/tmp/\\ud800"}', 400, "surrogate"),
    (LOAD, {"lora_name": "x", "lora_path": "/" + "a" * 5000}, 400, "too long"),
    (LOAD, {"lora_name": "x", "lora_path": "/tmp/" + "b" * 300 + "/c"}, 400, "too long"),
    (LOAD, {"lora_name": "x", "lora_path": "/tmp/a\u0000b"}, 400, "NUL"),
    (LOAD, {"lora_name": "x", "lora_path": "adapters/x"}, 400, "absolute"),
    (LOAD, {"lora_name": "x", "lora_path": "../../../etc"}, 400, "absolute"),
    (LOAD, {"lora_name": "x", "lora_path": "/etc/../etc/passwd"}, 400, "not a folder"),
    (LOAD, {"lora_name": "x", "lora_path": "/no/such/../folder"}, 400, "No such file"),
    (LOAD, {"lora_name": "x", "lora_path": "/proc/self"}, 400, "adapter"),
    (LOAD, {"lora_name": "x", "lora_path": ["/tmp"]}, 400, "lora_path"),
    (LOAD, {"lora_name": "x", "lora_path": None}, 400, "lora_path"),
    (LOAD, {"lora_name": "x" * 5000, "lora_path": "/tmp"}, 400, "lora_name"),
    (LOAD, {"lora_name": "../x", "lora_path": "/tmp"}, 400, "lora_name"),
    (LOAD, {"lora_name": "a/b", "lora_path": "/tmp"}, 400, "lora_name"),
    (LOAD, {"lora_name": "", "lora_path": "/tmp"}, 400, "lora_name"),
    (LOAD, {"lora_name": 5, "lora_path": "/tmp"}, 400, "lora_name"),
    (LOAD, {"lora_name": "base", "lora_path": "/tmp"}, 400, "base model"),
    (UNLOAD, {"lora_name": "x\ud800"}, 400, "surrogate"),
    (UNLOAD, {"lora_name": "../x"}, 400, "lora_name"),
    (UNLOAD, {"lora_name": "x" * 5000}, 400, "lora_name"),
    (UNLOAD, {"lora_name": 5}, 400, "lora_name"),
    (UNLOAD, {"lora_name": "not-loaded"}, 404, "cannot be found"),
    ("/v1/models", {}, 405, ""),
]


@pytest.mark.parametrize("path, body, status, words", BAD, ids=[f"{i}-{row[0]}" for i, row in enumerate(BAD)])
def test_malformed_and_hostile_fields_get_a_4xx_in_openai_shape(raw, path, body, status, words):
    if isinstance(body, dict):  # through json.dumps, so a lone surrogate goes out as its \\ud800 escape
        body = json.dumps(body)
    content = body if isinstance(body, bytes) else body.encode("utf-8")
    started = time.perf_counter()
    response = raw.post(path, content=content, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text[:300]
    error = response.json()["error"]
    assert words in error["message"] and error["code"] == status and error["type"] and "param" in error
    assert len(error["message"]) < 400
    assert time.perf_counter() - started < 10


def test_the_server_still_answers_after_the_table(raw):
    answer = raw.post(CHAT, json=chat())
    assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize("blocker", ["adapter_config.json", "adapter_model.safetensors", "tuitune.json"])
def test_a_fifo_in_the_adapter_folder_is_refused_at_once_and_chat_goes_on(raw, engine, tmp_path, blocker):
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    (folder / "adapter_model.safetensors").write_bytes(b"")
    (folder / blocker).unlink(missing_ok=True)
    os.mkfifo(folder / blocker)
    started = time.perf_counter()
    response = raw.post(LOAD, json={"lora_name": "fifo", "lora_path": str(folder)})
    assert response.status_code == 400 and "not a regular file" in response.json()["error"]["message"]
    assert time.perf_counter() - started < 5
    assert engine._lock.acquire(timeout=1), "the engine's lock is held"
    engine._lock.release()
    assert raw.post(CHAT, json=chat()).status_code == 200


def test_a_huge_adapter_config_is_refused_without_reading_it(raw, tmp_path):
    folder = tmp_path / "adapter"
    folder.mkdir()
    with open(folder / "adapter_config.json", "wb") as config:
        config.truncate(4 * 2**30)  # sparse: 4 GB that take no disk
    (folder / "adapter_model.safetensors").write_bytes(b"")
    started = time.perf_counter()
    response = raw.post(LOAD, json={"lora_name": "huge", "lora_path": str(folder)})
    assert response.status_code == 400 and "bytes" in response.json()["error"]["message"]
    assert time.perf_counter() - started < 5


def test_a_50_mb_body_is_refused_from_its_length_without_being_read(threaded_server):
    sock = _connect(threaded_server)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
                 b"content-length: %d\r\n\r\n{" % (50 * 2**20))
    reply = _read_until_closed(sock)  # answered and closed: the other 50 MB are never read
    assert reply.startswith(b"HTTP/1.1 413") and b"over 16 MB" in reply


def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(threaded_server):
    sock = _connect(threaded_server)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n")
    chunk, sent = b"%x\r\n%s\r\n" % (2**20, b" " * 2**20), 0
    try:
        while sent < 50 * 2**20:
            sock.sendall(chunk)
            sent += 2**20
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert sent <= 24 * 2**20, "the server read far past its limit"
    assert _read_until_closed(sock).startswith(b"HTTP/1.1 413")


def _read_until_closed(sock: socket.socket) -> bytes:
    reply = b""
    try:
        while part := sock.recv(65536):
            reply += part
    except ConnectionResetError:
        pass
    sock.close()
    return reply


def test_a_client_dripping_its_head_is_disconnected(threaded_server, raw, monkeypatch):
    from tuitune.server.http import HeadDeadlineProtocol

    monkeypatch.setattr(HeadDeadlineProtocol, "head_timeout_s", 1.0)
    sock = _connect(threaded_server)
    started = time.perf_counter()
    closed = False
    for byte in b"GET /health HTTP/1.1\r\nhost: t\r\nx-slow: " + b"a" * 100:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        time.sleep(0.1)
    sock.settimeout(5)
    closed = closed or sock.recv(100) == b""
    sock.close()
    assert closed and time.perf_counter() - started < 5
    assert raw.get("/health").status_code == 200


def test_a_body_that_stalls_gets_a_408_and_the_connection_closed(threaded_server, monkeypatch):
    from tuitune.server import bodies

    monkeypatch.setattr(bodies, "BODY_TIMEOUT_S", 1.0)
    sock = _connect(threaded_server)
    started = time.perf_counter()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\ncontent-length: 1000\r\n\r\n{")
    reply = _read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 408") and time.perf_counter() - started < 5


def test_clients_that_leave_mid_body_or_mid_answer_write_no_traceback(threaded_server, raw):
    logged: list[logging.LogRecord] = []
    catch = logging.Handler()
    catch.emit = logged.append  # type: ignore[method-assign]
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "asyncio")]
    for logger in loggers:
        logger.addHandler(catch)
    try:
        body = json.dumps({**chat(max_tokens=200), "stream": True}).encode()
        head = b"POST %s HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        for path, sent in ((CHAT, body[:10]), (LOAD, b"{"), (CHAT, b"")):
            sock = _connect(threaded_server)
            sock.sendall(head % (path.encode(), len(body)) + sent)
            time.sleep(0.2)
            sock.close()
        sock = _connect(threaded_server)  # a streamed answer dropped after its first events
        sock.sendall(head % (CHAT.encode(), len(body)) + body)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.close()
        deadline = time.monotonic() + 15
        while threaded_server.host.status()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threaded_server.host.status()["in_flight"] == 0
        time.sleep(0.3)
    finally:
        for logger in loggers:
            logger.removeHandler(catch)
    assert not [record.getMessage() for record in logged if record.levelno >= logging.ERROR or record.exc_info]
    assert raw.get("/health").status_code == 200


def test_five_thousand_turns_are_trimmed_in_seconds(raw, clean_engine):
    """Trimming renders a few tails about the size of what fits (once per dropped turn, 5,000 turns took minutes);
    a small window keeps the 4-bit prefill on this CPU out of what is timed."""
    generation = replace(clean_engine.settings.generation, context_window=48)
    clean_engine.settings = replace(clean_engine.settings, generation=generation)
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}: hello there"} for i in range(5001)]
    started = time.perf_counter()
    response = raw.post(CHAT, json={"model": "base", "messages": turns, "max_tokens": 2})
    took = time.perf_counter() - started
    assert response.status_code == 200, response.text[:300]
    assert response.json()["usage"]["dropped_turns"] > 4990
    print(f"5,001 turns answered in {took:.2f} s")
    assert took < 20, f"trimming 5,001 turns took {took:.1f} s"


def test_huge_prompts_are_refused_before_tokenizing_and_leave_no_memory_behind(raw):
    """A prompt over the server's limit is refused from its length; one under it (still far over the window) is
    tokenized and refused, and the heap it took goes back."""
    def ask(chars: int) -> tuple[httpx.Response, float]:
        body = json.dumps({"model": "base", "max_tokens": 2, "messages": [{"role": "user", "content": "word " * (
            chars // 5)}]}).encode()
        started = time.perf_counter()
        response = raw.post(CHAT, content=body, headers={"content-type": "application/json"})
        del body
        return response, time.perf_counter() - started

    ask(200_000)  # warm up the allocator's arenas
    before = _rss_mb()
    huge, huge_s = ask(4_000_000)
    assert huge.status_code == 400 and "characters" in huge.json()["error"]["message"] and huge_s < 5
    under, _ = ask(900_000)
    assert under.status_code == 400 and "tokens" in under.json()["error"]["message"]
    grown = _rss_mb() - before
    print(f"RSS {before:.0f} MB before, {before + grown:.0f} MB after a 4 MB and a 0.9 MB prompt")
    assert grown < 60, f"the server kept {grown:.0f} MB"


def test_the_prompt_limit_leaves_room_for_the_apps_own():
    from tuitune.chat.session import MAX_PROMPT_CHARS as APP_LIMIT
    from tuitune.server.protocol import MAX_PROMPT_CHARS

    assert MAX_PROMPT_CHARS >= 10 * APP_LIMIT


def test_a_lone_surrogate_in_an_error_message_still_answers():
    from tuitune.server.protocol import error_body

    assert json.dumps(error_body(404, "model \ud800"), ensure_ascii=False).encode("utf-8")
