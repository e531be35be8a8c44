"""The engine on the real embedded model in real nf4: streaming, cancel, stats, context overflow, templates."""

from __future__ import annotations

import threading

import pytest

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_loads_in_nf4_with_double_quant(engine):
    import bitsandbytes as bnb

    info = engine.info
    assert info.quant == "4bit" and info.device == "cpu"
    layers = [m for m in engine.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers, "no 4-bit layers"
    assert layers[0].weight.quant_state.quant_type == "nf4"
    config = engine.model.config.quantization_config
    assert config.bnb_4bit_use_double_quant and config.bnb_4bit_quant_type == "nf4"
    assert str(config.bnb_4bit_compute_dtype).endswith("bfloat16")
    assert 100e6 < info.footprint_bytes < 250e6  # fp32 is ~538 MB


def test_streams_pieces_and_answers_paris(clean_engine):
    generation = clean_engine.generate(QUESTION, max_new_tokens=24)
    pieces = list(generation)
    assert len(pieces) > 3
    assert "Paris" in "".join(pieces)
    stats = generation.stats
    assert stats.prompt_tokens > 5 and stats.new_tokens >= len(pieces)
    assert 0 < stats.ttft_s < stats.total_s and stats.tokens_per_s > 0


def test_greedy_is_deterministic(clean_engine):
    first = clean_engine.generate(QUESTION, max_new_tokens=12).text()
    assert clean_engine.generate(QUESTION, max_new_tokens=12).text() == first


def test_sampling_follows_settings(clean_engine):
    clean_engine.settings = clean_engine.settings.with_overrides({"generation.temperature": 1.5})
    texts = {clean_engine.generate(QUESTION, max_new_tokens=12).text() for _ in range(3)}
    assert len(texts) > 1


def test_cancel_stops_within_one_token(clean_engine):
    cancel = threading.Event()
    generation = clean_engine.generate([{"role": "user", "content": "Tell me a long story."}], cancel, 200)
    received = 0
    for _ in generation:
        received += 1
        if received == 3:
            cancel.set()
    assert generation.stats.finish == "cancelled"
    assert generation.stats.new_tokens <= 4


def test_budget_ends_with_length(clean_engine):
    generation = clean_engine.generate([{"role": "user", "content": "Write an essay about rivers."}], None, 5)
    generation.text()
    assert generation.stats.finish == "length" and generation.stats.new_tokens == 5


def test_empty_prompt_is_refused(clean_engine):
    from tuitune.model import EngineError

    with pytest.raises(EngineError, match="empty"):
        clean_engine.generate([{"role": "user", "content": "   "}])


def test_overflow_drops_oldest_turns_but_keeps_system_and_newest(clean_engine):
    clean_engine.settings = clean_engine.settings.with_overrides({"generation.context_window": 160})
    history = [{"role": "system", "content": "You are terse."}]
    for i in range(6):
        history += [{"role": "user", "content": f"Question {i}: " + "tell me more " * 8},
                    {"role": "assistant", "content": "Answer " + "blah " * 8}]
    history.append({"role": "user", "content": "What is 2+2?"})
    generation = clean_engine.generate(history, max_new_tokens=8)
    assert generation.stats.dropped_turns >= 2 and generation.stats.dropped_turns % 2 == 0
    assert generation.stats.prompt_tokens <= 160 - 8
    prompt = clean_engine.tokenizer.decode(_fitted_ids(clean_engine, history, 152))
    assert "You are terse." in prompt and "What is 2+2?" in prompt and "Question 0" not in prompt
    generation.text()


def _fitted_ids(engine, messages, budget):
    from tuitune.model.templates import fit_messages

    return fit_messages(engine.tokenizer, messages, budget).input_ids


def test_prompt_too_long_on_its_own_is_a_clear_error(clean_engine):
    from tuitune.model import PromptTooLong

    clean_engine.settings = clean_engine.settings.with_overrides({"generation.context_window": 64})
    with pytest.raises(PromptTooLong, match="at most"):
        clean_engine.generate([{"role": "user", "content": "word " * 200}], max_new_tokens=8)


def test_llama2_template_from_prompts_renders_inst_format(settings):
    from tuitune.model.templates import load_template

    from jinja2 import Environment

    template = Environment().from_string(load_template("llama-2-chat", settings.prompts_dir))
    text = template.render(
        messages=[{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
        bos_token="<s>", eos_token="</s>", add_generation_prompt=True,
    )
    assert text.startswith("<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST]")


def test_template_fingerprint_follows_the_template(engine):
    from tuitune.model.templates import fingerprint

    assert engine.template_fingerprint == fingerprint(engine.tokenizer.chat_template)
    assert fingerprint("a") != fingerprint("b")


@pytest.mark.parametrize("text", ["Hello world, it's a test.", "Café naïve — 日本語 and emoji 🎉🎉 ok", "  two  spaces\nnew line"])
def test_incremental_decoding_reassembles_the_exact_text(engine, text):
    tokens = engine.tokenizer(text, add_special_tokens=False)["input_ids"]
    pieces, prefix_at, read_at = [], 0, 0
    for i in range(1, len(tokens) + 1):
        piece, prefix_at, read_at = engine._decode_tail(tokens[:i], prefix_at, read_at)
        assert "\ufffd" not in piece
        pieces.append(piece)
    assert "".join(pieces) == engine.tokenizer.decode(tokens, skip_special_tokens=True)
