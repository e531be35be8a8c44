"""The trainer process end to end on the embedded model in real nf4: each method trains and the adapter changes
the model; cancel, crash, a dead run and reattach all leave the store telling the truth."""

from __future__ import annotations

import subprocess
import threading

import pytest
from safetensors import safe_open

from training_stores import tldr_store
from tuitune.training import attach, live_run, reap_dead_runs, start_run
from tuitune.training.config import FAIL_AT_STEP_ENV


def _lora_b_norm(folder) -> float:
    with safe_open(f"{folder}/adapter_model.safetensors", framework="pt") as handle:
        return sum(float(handle.get_tensor(k).abs().sum()) for k in handle.keys() if "lora_B" in k)


def _logits(engine, messages, adapter_on: bool):
    import torch

    from tuitune.model.templates import render_ids

    ids = torch.tensor([render_ids(engine.tokenizer, messages)])
    with torch.inference_mode():
        if adapter_on:
            return engine.model(input_ids=ids).logits[0, -1].float()
        with engine.model.disable_adapter():
            return engine.model(input_ids=ids).logits[0, -1].float()


def _system(settings) -> str:
    from tuitune.chat import system_prompt_text

    return system_prompt_text(settings.generation.system_prompt, settings.prompts_dir)


def _check_adapter(engine, store, done, prompt):
    adapter = store.adapter(done["adapter_name"])
    assert adapter is not None and adapter.path == done["adapter_path"]
    assert _lora_b_norm(adapter.path) > 0  # lora_B starts at zero: it moved
    seconds = engine.load_adapter(adapter.name, adapter.path)
    assert seconds < 30
    delta = (_logits(engine, prompt, True) - _logits(engine, prompt, False)).abs().max()
    assert delta > 1e-2


def test_sft_learns_registers_and_a_second_watcher_sees_it_finish(fast_settings, store, clean_engine):
    fast_settings = fast_settings.with_overrides({"train.max_steps": 8})
    tldr_store(store, pairs=False)
    handle = start_run(fast_settings, store, "sft", template_fingerprint=clean_engine.template_fingerprint)
    assert handle.method == "sft" and handle.process is not None
    second: list[dict] = []
    follower = threading.Thread(target=lambda: second.extend(attach(fast_settings, store, handle.run_id).events()))
    follower.start()
    events = list(handle.events())
    follower.join(timeout=120)
    assert [e["event"] for e in events][:2] == ["start", "phase"]
    assert events[-1]["event"] == "done", events[-1]
    assert second and second[-1]["event"] == "done"  # the reattached watcher saw the same end
    losses = [e["loss"] for e in events if e["event"] == "progress"]
    assert len(losses) == 8
    assert sum(losses[-2:]) / 2 < 0.8 * sum(losses[:2]) / 2, losses  # it learned, not only stepped
    progress = next(e for e in events if e["event"] == "progress")
    assert {"step", "total", "loss", "lr", "tokens_per_s", "eta_s", "memory_mb"} <= set(progress)
    run = store.run(handle.run_id)
    assert run.status == "done" and run.adapter_id == store.adapter(handle.adapter_name).id
    assert run.template_fingerprint == clean_engine.template_fingerprint and run.pid == handle.process.pid
    prompt = [{"role": "system", "content": _system(fast_settings)}, {"role": "user", "content": "Tell me about owls."}]
    assert not clean_engine.generate(prompt, max_new_tokens=8).text().startswith("TL;DR")
    _check_adapter(clean_engine, store, events[-1], prompt)
    answer = clean_engine.generate(prompt, max_new_tokens=8).text()
    assert answer.startswith("TL;DR"), answer  # the behaviour changed, on a prompt it never saw


@pytest.mark.parametrize("method", ["dpo", "kto"])
def test_preference_methods_train_an_adapter_that_changes_the_logits(method, fast_settings, store, clean_engine):
    fast_settings = fast_settings.with_overrides({"train.max_steps": 2})
    tldr_store(store, pairs=True, count=6)
    handle = start_run(fast_settings, store, method, template_fingerprint=clean_engine.template_fingerprint)
    done = handle.wait()
    assert done["event"] == "done", done
    assert store.run(handle.run_id).status == "done"
    metadata = (store.adapter(done["adapter_name"]).path + "/tuitune.json")
    assert '"method": "%s"' % method in open(metadata).read()
    _check_adapter(clean_engine, store, done, [{"role": "user", "content": "Tell me about rain."}])


def test_cancel_stops_without_an_adapter(fast_settings, store):
    fast_settings = fast_settings.with_overrides({"train.max_steps": 200})
    tldr_store(store, pairs=False, count=4)
    handle = start_run(fast_settings, store, "sft")
    for event in handle.events():
        if event["event"] == "progress":
            handle.cancel()
    assert event["event"] == "cancelled"
    steps = [e["step"] for e in handle.events() if e["event"] == "progress"]
    assert max(steps) <= 3  # stopped within a step or two
    assert store.run(handle.run_id).status == "cancelled"
    assert store.adapters() == []
    assert not fast_settings.adapters_dir.exists() or not list(fast_settings.adapters_dir.iterdir())


def test_a_crash_mid_run_fails_the_run_with_its_reason(fast_settings, store):
    tldr_store(store, pairs=False, count=4)
    handle = start_run(fast_settings, store, "sft", env={FAIL_AT_STEP_ENV: "1"})
    event = handle.wait()
    assert event["event"] == "error" and "fail at step 1" in event["message"]
    run = store.run(handle.run_id)
    assert run.status == "failed" and "fail at step 1" in run.error
    assert store.adapters() == []
    assert "Traceback" in handle.log_path.read_text()


def test_a_template_mismatch_is_refused(fast_settings, store):
    tldr_store(store, pairs=False, count=2)
    event = start_run(fast_settings, store, "sft", template_fingerprint="0" * 16).wait()
    assert event["event"] == "error" and "chat template" in event["message"]
    assert store.runs()[0].status == "failed"


def test_a_running_run_whose_trainer_died_is_failed_at_start(settings, store):
    dead = subprocess.Popen(["true"])
    dead.wait()
    run_id = store.create_run("sft", params={}, example_ids=[], base_model="x", status="running")
    store.update_run(run_id, pid=dead.pid)
    assert live_run(settings, store) is None
    assert store.run(run_id).status == "failed"
    assert reap_dead_runs(store) == []


def test_a_trainer_killed_hard_is_reported_failed(fast_settings, store):
    import os
    import signal

    fast_settings = fast_settings.with_overrides({"train.max_steps": 200})
    tldr_store(store, pairs=False, count=4)
    handle = start_run(fast_settings, store, "sft")
    for event in handle.events():
        if event["event"] == "phase":
            os.killpg(handle.process.pid, signal.SIGKILL)
    assert event["event"] == "error" and "signal 9" in event["message"]
    assert store.run(handle.run_id).status == "failed"
