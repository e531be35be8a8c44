"""Measuring an adapter after training: base vs adapter on the behaviour prompts and the check questions, with the
real model in nf4, the chat's ids, the fixed rules; the figures reach the run, the adapter and `tuitune runs`."""

from __future__ import annotations

import json

import pytest

from training_stores import tldr_store
from tuitune.training import start_run
from tuitune.training.measure import BASE_ANSWERS, MEASURE_FILE, measure

pytestmark = pytest.mark.slow


def test_an_untrained_adapter_measures_as_the_base_and_the_base_is_cached(settings, tmp_path, tiny_eval_sets):
    from peft import LoraConfig, get_peft_model

    from tuitune.model.loader import load_base, load_tokenizer
    from tuitune.model.source import resolve

    sets = tiny_eval_sets
    source = resolve(settings.model.spec, settings.cache_dir)
    tokenizer = load_tokenizer(source)
    model = get_peft_model(load_base(source, "4bit", "cpu"),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    cache = tmp_path / BASE_ANSWERS
    first = measure(model, tokenizer, sets, "You are a helpful assistant.", 1.1, tmp_path, "smol", cache)
    # lora_B starts at zero: the adapter is the base, answer for answer.
    rows = [json.loads(line) for line in (tmp_path / MEASURE_FILE).open(encoding="utf-8")]
    assert [r["set"] for r in rows] == ["behaviour", "behaviour", "checks", "checks"]
    assert all(r["base"] == r["adapter"] and r["base"].strip() for r in rows)
    assert first["base_rate"] == first["adapter_rate"] == 0.5  # "." is met, "^ZZZ-never" never
    assert first["base_accuracy"] == first["adapter_accuracy"]
    assert rows[2]["base_ok"] == ("paris" in rows[2]["base"].lower())
    assert first["behaviour_n"] == 2 and first["checks_n"] == 2 and not first["base_cached"]
    second = measure(model, tokenizer, sets, "You are a helpful assistant.", 1.1, tmp_path, "smol", cache)
    assert second["base_cached"] and {k: v for k, v in second.items() if k not in ("measure_s", "base_cached")} == \
        {k: v for k, v in first.items() if k not in ("measure_s", "base_cached")}
    other = measure(model, tokenizer, sets, "You are a concise assistant.", 1.1, tmp_path, "smol", cache)
    assert not other["base_cached"]  # another system prompt: other base answers


def test_a_run_reports_what_it_measured_to_the_run_and_the_adapter(fast_settings, store, tiny_eval_sets):
    fast_settings = fast_settings.with_overrides({"train.measure": True})
    tldr_store(store, pairs=False)
    handle = start_run(fast_settings, store, "sft")
    events = list(handle.events())
    assert events[-1]["event"] == "done", events[-1]
    assert "measure" in [e.get("name") for e in events if e["event"] == "phase"]
    effect = events[-1]["metrics"]["effect"]
    assert set(effect) >= {"base_rate", "adapter_rate", "base_accuracy", "adapter_accuracy", "rule", "measure_s"}
    assert effect["behaviour_n"] == 2 and effect["rule"] == "first line ~ 2 patterns"
    assert store.run(handle.run_id).metrics["effect"] == effect
    assert store.adapter(events[-1]["adapter_name"]).metrics["effect"] == effect
    assert (handle.run_dir / MEASURE_FILE).is_file() and (fast_settings.runs_dir / BASE_ANSWERS).is_file()
