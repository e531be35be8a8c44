"""The engine server driven by the `openai` Python client, as any OpenAI-compatible tool would drive it: streaming
and plain chat with the base and with an adapter, vLLM's load/unload endpoints, cancel, and bad requests."""

from __future__ import annotations

import threading
import time

import httpx
import httpx2
import openai
import pytest


@pytest.fixture
def api(threaded_server, engine_client):
    """An openai client on the server's Unix socket (engine_client's teardown drops the adapters loaded here)."""
    socket_path = threaded_server.url[len("unix:"):]
    http = httpx2.Client(transport=httpx2.HTTPTransport(uds=socket_path))
    client = openai.OpenAI(base_url="http://tuitune/v1", api_key="unused", http_client=http, max_retries=0)
    yield client
    client.close()


@pytest.fixture
def raw(threaded_server):
    with httpx.Client(base_url="http://tuitune", transport=httpx.HTTPTransport(uds=threaded_server.url[5:])) as c:
        yield c


def _base(api) -> str:
    return next(m.id for m in api.models.list().data if getattr(m, "parent", None) is None)


ASK = [{"role": "user", "content": "What is the capital of France?"}]


def test_models_then_streamed_and_plain_chat_with_the_base(api):
    base = _base(api)
    stream = api.chat.completions.create(model=base, messages=ASK, max_tokens=12, temperature=0, stream=True,
                                         stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    assert chunks[-1].usage.prompt_tokens > 0 and chunks[-1].usage.completion_tokens > 0
    assert chunks[-1].usage.model_extra["ttft_s"] > 0  # the extra fields ride along in usage
    assert all(c.model == base for c in chunks)
    plain = api.chat.completions.create(model=base, messages=ASK, max_tokens=12, temperature=0, seed=1)
    assert plain.choices[0].message.content == text  # greedy: the same answer either way
    assert plain.choices[0].finish_reason in ("stop", "length") and plain.usage.total_tokens > 0


def test_stop_strings_and_max_tokens(api):
    base = _base(api)
    full = api.chat.completions.create(model=base, messages=ASK, max_tokens=12, temperature=0)
    text = full.choices[0].message.content
    cut = api.chat.completions.create(model=base, messages=ASK, max_tokens=12, temperature=0, stop=["Paris"])
    assert cut.choices[0].message.content == text[: text.index("Paris")]
    assert cut.choices[0].finish_reason == "stop"
    assert api.chat.completions.create(model=base, messages=ASK, max_tokens=2).usage.completion_tokens == 2


def test_load_an_adapter_answer_with_it_then_unload(api, raw, make_adapter):
    base = _base(api)
    folder = make_adapter("served", 3, targets=("q_proj", "k_proj", "v_proj", "o_proj"), r=8)
    story = [{"role": "user", "content": "Tell me a story about a cat."}]
    before = api.chat.completions.create(model=base, messages=story, max_tokens=16, temperature=0)
    loaded = api.post("/load_lora_adapter", body={"lora_name": "served", "lora_path": str(folder)}, cast_to=str)
    assert "served" in loaded
    cards = {m.id: m for m in api.models.list().data}
    assert cards["served"].model_extra["parent"] == base and cards["served"].model_extra["root"] == str(folder)
    chunks = list(api.chat.completions.create(model="served", messages=story, max_tokens=16, temperature=0,
                                              stream=True))
    assert all(c.model == "served" for c in chunks)  # the answer says which adapter wrote it
    adapted = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert adapted != before.choices[0].message.content  # a random-weight LoRA changes greedy text
    again = raw.post("/v1/load_lora_adapter", json={"lora_name": "served", "lora_path": str(folder)})
    assert again.status_code == 400 and "already been loaded" in again.json()["error"]["message"]
    api.post("/unload_lora_adapter", body={"lora_name": "served"}, cast_to=str)
    assert "served" not in {m.id for m in api.models.list().data}
    after = api.chat.completions.create(model=base, messages=story, max_tokens=16, temperature=0)
    assert after.choices[0].message.content == before.choices[0].message.content
    with pytest.raises(openai.NotFoundError):
        api.chat.completions.create(model="served", messages=ASK, max_tokens=4)


def test_a_foreign_or_missing_adapter_is_a_400_and_nothing_loads(api, raw, tmp_path):
    (tmp_path / "adapter_model.bin").write_bytes(b"\x80\x04pickle")
    for path in (tmp_path, tmp_path / "missing"):
        response = raw.post("/v1/load_lora_adapter", json={"lora_name": "bad", "lora_path": str(path)})
        assert response.status_code == 400 and response.json()["error"]["type"] == "BadRequestError"
    assert "bad" not in {m.id for m in api.models.list().data}


def test_a_closed_stream_stops_the_generation_and_frees_the_engine(api, threaded_server, engine):
    stream = api.chat.completions.create(model=_base(api), messages=[{"role": "user", "content": "Tell a long story."}],
                                         max_tokens=2000, temperature=0, stream=True)
    pieces = 0
    for chunk in stream:
        pieces += bool(chunk.choices and chunk.choices[0].delta.content)
        if pieces >= 3:
            break
    closed = time.perf_counter()
    stream.close()
    # 2,000 tokens take minutes here; a stopped generation gives the engine's lock back within a token or two.
    assert engine._lock.acquire(timeout=10), "the generation kept the engine after its client left"
    freed = time.perf_counter() - closed
    engine._lock.release()
    deadline = time.monotonic() + 5
    while threaded_server.host.status()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threaded_server.host.status()["in_flight"] == 0
    assert freed < 10


@pytest.mark.parametrize("body, status, words", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"messages": [{"role": "user", "content": "hi"}]}', 400, "'model'"),
    (b'{"model": "base", "messages": []}', 400, "non-empty list"),
    (b'{"model": "base", "messages": [{"role": "wizard", "content": "hi"}]}', 400, "role"),
    (b'{"model": "base", "messages": [{"role": "user", "content": 5}]}', 400, "must be text"),
    (b'{"model": "base", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}', 400, "max_tokens"),
    (b'{"model": "base", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}', 400, "temperature"),
    (b'{"model": "base", "messages": [{"role": "user", "content": "hi"}], "stop": [1]}', 400, "stop"),
    (b'{"model": "base", "messages": [{"role": "user", "content": "   "}]}', 400, "empty"),
    (b'{"model": "nope", "messages": [{"role": "user", "content": "hi"}]}', 404, "does not exist"),
])
def test_malformed_requests_get_4xx_in_openai_shape_and_the_server_keeps_serving(raw, body, status, words):
    response = raw.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert words in error["message"] and error["code"] == status and "type" in error
    assert raw.get("/health").json() == {"status": "ok"}


def test_a_prompt_too_long_for_the_window_is_a_400(raw, engine_client):
    huge = "word " * 20000
    response = raw.post("/v1/chat/completions", json={"model": "base", "messages": [{"role": "user", "content": huge}],
                                                       "max_tokens": 4})
    assert response.status_code == 400
    assert raw.get("/health").status_code == 200


def test_unknown_routes_and_methods_answer_in_the_error_shape(raw):
    assert raw.get("/v1/nothing").json()["error"]["code"] == 404
    assert raw.get("/v1/chat/completions").json()["error"]["code"] == 405


def test_two_clients_at_once_both_complete_and_neither_corrupts_the_other(api, engine_client):
    base = _base(api)
    prompts = {"fr": "What is the capital of France?", "de": "What is the capital of Germany?"}
    alone = {key: api.chat.completions.create(model=base, messages=[{"role": "user", "content": text}],
                                              max_tokens=16, temperature=0).choices[0].message.content
             for key, text in prompts.items()}
    together: dict[str, str] = {}

    def ask(key: str) -> None:
        stream = api.chat.completions.create(model=base, messages=[{"role": "user", "content": prompts[key]}],
                                             max_tokens=16, temperature=0, stream=True)
        together[key] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    threads = [threading.Thread(target=ask, args=(key,)) for key in prompts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert together == alone  # requests queue on the engine: each answer is whole and its own
