"""tuitune's engine client against a real vLLM, with nothing trained: the prompt goes as the ids tuitune renders,
and an adapter rewritten in its folder is served as the new version, under a new name.

Needs `.venv-vllm` (`make vllm`; override the interpreter with TUITUNE_VLLM_PYTHON).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VLLM_PYTHON = Path(os.environ.get("TUITUNE_VLLM_PYTHON") or REPO / ".venv-vllm" / "bin" / "python")
if not VLLM_PYTHON.is_absolute():
    VLLM_PYTHON = REPO / VLLM_PYTHON
MAX_NEW_TOKENS = 24

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,  # starts vLLM (a minute or more on two cores): kept out of `make test-fast`
    pytest.mark.skipif(not VLLM_PYTHON.is_file(), reason=f"vLLM is not installed at {VLLM_PYTHON}: run `make vllm`"),
]
openai = pytest.importorskip("openai", reason="the openai client is not installed in this venv")


@pytest.fixture(scope="module")
def base(model_cache) -> str:
    from tuitune.model.source import resolve

    return resolve("embedded", model_cache).path


@pytest.fixture(scope="module")
def write_adapter(base, tmp_path_factory):
    """`write_adapter(folder, seed)`: a random LoRA adapter (non-zero B) for the embedded base, written into `folder`
    over whatever is there: a retrained version in place."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))

    def write(folder: Path, seed: int) -> Path:
        torch.manual_seed(seed)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_" in name:
                    param.normal_(0, 0.2)
        model.save_pretrained(folder, safe_serialization=True)
        return folder

    return write


@pytest.fixture(scope="module")
def server(base, write_adapter, tmp_path_factory):
    """vLLM on the embedded model's converted folder; asks for `write_adapter` first, so that torch has loaded the
    base before vLLM keeps a core busy."""
    from tuitune.server.vllm import start_vllm, stop_vllm, wait_ready

    log = tmp_path_factory.mktemp("vllm-log") / "vllm.log"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    process = start_vllm(str(VLLM_PYTHON), base, log, port=port, max_lora_rank=16, max_loras=2,
                         extra=["--dtype", "bfloat16", "--max-model-len", "2048"],
                         env={"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"})
    try:
        wait_ready(url, timeout=600, process=process, log_path=log)
        yield url
    finally:
        stop_vllm(process)


@pytest.fixture(scope="module")
def raw(server):
    return openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture
def engine(server, tmp_path, model_cache):
    from tuitune.client import EngineClient
    from tuitune.config import load_settings

    settings = load_settings(tmp_path / "home", {"model.cache_dir": str(model_cache), "engine.backend": "vllm",
                                                 "engine.url": server, "generation.max_new_tokens": MAX_NEW_TOKENS})
    client = EngineClient(settings)
    client.load()
    yield client
    client.close()


def answer(engine, messages, adapter=None) -> tuple[str, object]:
    generation = engine.generate(messages, adapter=adapter)
    pieces = list(generation)
    assert len(pieces) > 1  # streamed piece by piece
    return "".join(pieces), generation.stats


def test_vllm_answers_a_chat_sent_as_the_ids_tuitune_renders(engine, raw):
    """vLLM reports the ids it ran; for the embedded model, whose own template renders alike on both sides, they are
    the ids vLLM gives the messages, and greedy decoding answers both alike."""
    from tuitune.client.prompt_ids import PromptIds

    messages = [{"role": "system", "content": "Answer in one sentence."},
                {"role": "user", "content": "Why is the sky blue?"}]
    info = engine.info
    ids = PromptIds(engine.settings).fit(info.path, messages, info.context_window - MAX_NEW_TOKENS).input_ids
    text, stats = answer(engine, messages)
    assert text.strip() and stats.prompt_tokens == len(ids) and 0 < stats.new_tokens <= MAX_NEW_TOKENS
    assert stats.finish in ("eos", "length") and stats.adapter is None

    gen = engine.settings.generation
    sampling = dict(max_tokens=MAX_NEW_TOKENS, temperature=gen.temperature, top_p=gen.top_p,
                    extra_body={"repetition_penalty": gen.repetition_penalty, "return_token_ids": True})
    as_ids = raw.completions.create(model=info.name, prompt=ids, **sampling).model_dump()
    as_messages = raw.chat.completions.create(model=info.name, messages=messages, **sampling).model_dump()
    assert as_ids["choices"][0]["prompt_token_ids"] == ids == as_messages["prompt_token_ids"]
    assert text == as_ids["choices"][0]["text"] == as_messages["choices"][0]["message"]["content"]


def test_a_rewritten_adapter_is_served_as_the_new_version_under_a_new_name(engine, raw, write_adapter, tmp_path):
    def held() -> list[str]:
        return [model.id for model in raw.models.list() if model.id.startswith("mine")]

    question = [{"role": "user", "content": "Name three colours."}]
    folder = write_adapter(tmp_path / "mine", seed=1)
    engine.load_adapter("mine", str(folder))
    [first] = held()
    assert first.startswith("mine@") and engine.loaded_adapters == {"mine": str(folder)}
    old_text, stats = answer(engine, question, adapter="mine")
    assert stats.adapter == "mine"

    write_adapter(folder, seed=2)  # retrained in place
    engine.load_adapter("mine", str(folder))
    [second] = held()  # the old version unloaded
    assert second != first and second.startswith("mine@")
    new_text, stats = answer(engine, question, adapter="mine")
    assert stats.adapter == "mine"

    fresh = shutil.copytree(folder, tmp_path / "fresh")  # the new version, loaded where no other ever was
    engine.load_adapter("fresh", str(fresh), activate=False)
    assert new_text == answer(engine, question, adapter="fresh")[0] != old_text

    engine.unload_adapter("mine")
    engine.unload_adapter("fresh")
    assert held() == [] and engine.loaded_adapters == {}
