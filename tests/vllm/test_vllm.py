"""vLLM as the engine: the embedded model served by real vLLM, a tuitune-trained adapter loaded into it at run time.

Needs `.venv-vllm` (`make vllm`; override the interpreter with TUITUNE_VLLM_PYTHON). Everything goes through the
`openai` client, as any client of tuitune's would: chat streaming and not, with the base and with the adapter, the
held-out TL;DR rate of bench/effect.py measured through vLLM, unload, and the base answers exactly as before.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VLLM_PYTHON = Path(os.environ.get("TUITUNE_VLLM_PYTHON") or REPO / ".venv-vllm" / "bin" / "python")
if not VLLM_PYTHON.is_absolute():
    VLLM_PYTHON = REPO / VLLM_PYTHON
ADAPTER = "tldr"
MAX_NEW_TOKENS = 16  # what tuitune.training.measure gives a behaviour prompt: enough to see the first line

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,  # trains an adapter: kept out of `make test-fast`
    pytest.mark.skipif(not VLLM_PYTHON.is_file(), reason=f"vLLM is not installed at {VLLM_PYTHON}: run `make vllm`"),
]
openai = pytest.importorskip("openai", reason="the openai client is not installed in this venv")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def settings(tmp_path_factory, model_cache):
    from tuitune.config import load_settings

    return load_settings(tmp_path_factory.mktemp("vllm-home"), {"model.cache_dir": str(model_cache)})


@pytest.fixture(scope="module")
def adapter(settings) -> Path:
    """A TL;DR adapter trained by tuitune's own trainer process on the sample judgements (SFT)."""
    from tuitune.exchange import import_files
    from tuitune.store import Store
    from tuitune.training import start_run

    store = Store.open(settings.db_path)
    try:
        import_files(store, [REPO / "sample_data" / "tldr_conversations.jsonl"])
        # Unquantized and unmeasured (the tests measure through vLLM): on a CPU without AVX512 a 4-bit step takes
        # ~20x longer, and vLLM serves the base in bf16 anyway.
        fast = settings.with_overrides({"model.quant": "none", "train.measure": False})
        done = start_run(fast, store, "sft").wait()
    finally:
        store.close()
    assert done["event"] == "done", done
    return Path(done["adapter_path"])


@pytest.fixture(scope="module")
def server(settings, adapter, tmp_path_factory):
    """vLLM on the embedded model's converted folder. Asks for `adapter` first so that training, which needs both
    cores, is over before vLLM starts (it keeps a core busy even while idle)."""
    from tuitune.model.source import resolve
    from tuitune.server.vllm import start_vllm, stop_vllm, wait_ready

    folder = resolve(settings.model.spec, settings.cache_dir).path
    log = tmp_path_factory.mktemp("vllm-log") / "vllm.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # bitsandbytes is CUDA-only in vLLM: on the CPU it serves the converted folder in bf16.
    process = start_vllm(str(VLLM_PYTHON), folder, log, port=port, max_lora_rank=settings.lora.r, max_loras=2,
                         extra=["--dtype", "bfloat16", "--max-model-len", "2048"],
                         env={"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"})
    try:
        startup_s = wait_ready(url, timeout=600, process=process, log_path=log)
        yield {"url": url, "base": folder, "adapter": adapter, "startup_s": startup_s, "log": log}
    finally:
        stop_vllm(process)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server["url"] + "/v1", api_key="unused", max_retries=0, timeout=120)


def tldr_rate(client, model: str, settings) -> tuple[float, list[str]]:
    """The shipped behaviour set (held-out prompts, each with its first-line rule), with the chat's system prompt and
    repetition penalty, greedy, through vLLM: the share of answers that show the behaviour, and the answers."""
    from tuitune.data import evalsets
    from tuitune.data.prompts import system_prompt_text

    system = system_prompt_text(settings.generation.system_prompt, settings.prompts_dir)
    lead = [{"role": "system", "content": system}] if system else []
    behaviour = evalsets.load(None).behaviour
    answers = []
    for item in behaviour:
        reply = client.chat.completions.create(
            model=model, messages=[*lead, {"role": "user", "content": item.prompt}], max_tokens=MAX_NEW_TOKENS,
            temperature=0, extra_body={"repetition_penalty": settings.generation.repetition_penalty},
        )
        answers.append(reply.choices[0].message.content or "")
    return sum(item.shown_by(a) for item, a in zip(behaviour, answers, strict=True)) / len(answers), answers


def chat(client, model: str, messages, stream: bool) -> tuple[str, set[str]]:
    """The answer's text and every model id the server reported while giving it."""
    args = dict(model=model, messages=messages, max_tokens=24, temperature=0)
    if not stream:
        reply = client.chat.completions.create(**args)
        return reply.choices[0].message.content, {reply.model}
    pieces, models = [], set()
    for chunk in client.chat.completions.create(**args, stream=True):
        models.add(chunk.model)
        pieces.extend(choice.delta.content or "" for choice in chunk.choices)
    return "".join(pieces), models


def load_adapter(client, name: str, path: Path):
    import httpx

    return client.post("/load_lora_adapter", body={"lora_name": name, "lora_path": str(path)}, cast_to=httpx.Response)


def unload_adapter(client, name: str):
    import httpx

    return client.post("/unload_lora_adapter", body={"lora_name": name}, cast_to=httpx.Response)


def models(client) -> dict[str, dict]:
    return {m.id: m.model_dump() for m in client.models.list()}


def test_base_model_id_and_unknown_model_error(server, client):
    listed = models(client)
    assert list(listed) == [server["base"]]  # the --model string itself is the base's id
    assert listed[server["base"]]["root"] == server["base"] and listed[server["base"]]["parent"] is None

    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="no-such-adapter", messages=[{"role": "user", "content": "Hi"}],
                                       max_tokens=2)
    assert raised.value.status_code == 404
    assert raised.value.body["type"] == "NotFoundError" and raised.value.body["param"] == "model"
    assert "no-such-adapter" in raised.value.body["message"]


def test_adapter_loads_raises_tldr_rate_and_unloads_to_the_same_base(server, client, settings, capsys):
    base = server["base"]
    question = [{"role": "user", "content": "How do volcanoes form?"}]
    base_rate, base_answers = tldr_rate(client, base, settings)
    base_text, base_models = chat(client, base, question, stream=False)
    assert chat(client, base, question, stream=True) == (base_text, {base})
    assert base_models == {base} and base_text.strip()

    started = time.perf_counter()
    loaded = load_adapter(client, ADAPTER, server["adapter"])
    swap_s = time.perf_counter() - started
    assert loaded.status_code == 200, loaded.text
    listed = models(client)
    assert listed[ADAPTER]["root"] == str(server["adapter"]) and listed[ADAPTER]["parent"] == base

    adapter_text, adapter_models = chat(client, ADAPTER, question, stream=False)
    assert adapter_models == {ADAPTER} and adapter_text.strip()
    assert chat(client, ADAPTER, question, stream=True) == (adapter_text, {ADAPTER})
    assert chat(client, base, question, stream=False) == (base_text, {base})  # the base, untouched beside it
    adapter_rate, adapter_answers = tldr_rate(client, ADAPTER, settings)
    assert adapter_rate > base_rate, (base_answers, adapter_answers)

    assert unload_adapter(client, ADAPTER).status_code == 200
    assert ADAPTER not in models(client)
    with pytest.raises(openai.NotFoundError):
        chat(client, ADAPTER, question, stream=False)
    assert tldr_rate(client, base, settings) == (base_rate, base_answers)

    with capsys.disabled():
        print(f"\nvLLM ready in {server['startup_s']:.0f} s; adapter loaded in {swap_s * 1000:.0f} ms; "
              f"TL;DR rate on {len(base_answers)} held-out prompts: base {base_rate:.2f}, adapter {adapter_rate:.2f}")


def test_the_apps_own_client_does_the_whole_loop_against_vllm(server, settings):
    """Chat, stop, regenerate, the swap after training, A/B, roll back and base: tuitune's engine client, Chat,
    Adapters and ABTest, unchanged, with engine.backend = "vllm"."""
    import threading

    from tuitune.chat import ABTest
    from tuitune.client import EngineClient
    from tuitune.config import load_settings
    from tuitune.services import open_services
    from tuitune.store import BASE, Store

    vllm_settings = load_settings(settings.home, {"model.cache_dir": settings.model.cache_dir,
                                                  "engine.backend": "vllm", "engine.url": server["url"],
                                                  "generation.max_new_tokens": 12})
    client = EngineClient(vllm_settings)
    info = client.load()
    assert info.name == server["base"] and info.backend == "vllm" and not client.spawns
    store = Store.open(vllm_settings.db_path)
    services = open_services(vllm_settings, store=store, engine=client)
    chat = services.chat
    conversation = chat.new_conversation()
    question = chat.send(conversation, "What is the capital of France?")
    first = chat.answer(question)
    assert "".join(first).strip() and store.message(first.message_id).status == "complete"
    assert store.message(first.message_id).adapter is None

    client.settings = vllm_settings.with_overrides({"generation.max_new_tokens": 400})
    cancel = threading.Event()
    story = chat.answer(chat.send(conversation, "Tell me a very long story about a ship."), cancel=cancel)
    pieces = iter(story)
    next(pieces)
    cancel.set()
    for _ in pieces:
        pass
    assert store.message(story.message_id).status == "stopped" and story.stats.new_tokens < 400
    client.settings = vllm_settings

    again = chat.regenerate(first.message_id)
    assert "".join(again).strip() and store.message(again.message_id).parent_id == question

    store.add_adapter("tldr-v", str(server["adapter"]), info.name, method="sft")
    adapters = services.adapters
    adapters.use("tldr-v")  # what the training panel does when a run is done
    assert "tldr-v" in client.loaded_adapters
    tuned = chat.answer(chat.send(conversation, "How do volcanoes form?"))
    "".join(tuned)
    assert store.message(tuned.message_id).adapter == "tldr-v"  # as vLLM reported for this request

    round_ = ABTest(chat).start(question, "tldr-v", None)
    for _, answer in round_.stream():
        "".join(answer)
    reveal = round_.pick("A")
    assert {reveal.a, reveal.b} == {"tldr-v", BASE}

    adapters.use(None)  # roll back to the base
    plain = chat.answer(chat.send(conversation, "Say hi."))
    "".join(plain)
    assert store.message(plain.message_id).adapter is None
    adapters.remove("tldr-v")
    assert "tldr-v" not in client.loaded_adapters
    store.close()
    client.close()
