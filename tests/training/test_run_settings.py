"""A run's settings travel once: the parent writes them whole into run.json, and the trainer builds its Settings
from that alone, even when config.toml or the environment changed after the run was planned. A stand-in launcher
(`true`) plays the trainer, so no model loads."""

from __future__ import annotations

from training_stores import tldr_store

from tuitune.config import load_settings
from tuitune.private import private_write_text
from tuitune.training import start_run
from tuitune.training.config import RunConfig

IDENTITY = {"template_fingerprint": "f" * 16, "base_model": "SmolLM2-135M-Instruct"}


def test_the_trainer_takes_the_settings_planned_into_run_json_not_config_or_environment(
    fast_settings, store, monkeypatch
):
    fast_settings = fast_settings.with_overrides({"train.launcher": "true", "lora.r": 8})
    tldr_store(store, pairs=False, count=2)
    handle = start_run(fast_settings, store, "sft", {"lr": 5e-3, "max_steps": 3}, **IDENTITY)
    handle.process.wait(timeout=30)
    planned = fast_settings.with_overrides({"train.lr": 5e-3, "train.max_steps": 3})

    # After the run was planned, the user edits config.toml and the environment changes.
    private_write_text(fast_settings.home / "config.toml", "[train]\nlr = 0.5\nbatch_size = 16\n")
    monkeypatch.setenv("TUITUNE_TRAIN_MAX_STEPS", "99")
    monkeypatch.setenv("TUITUNE_QUANT", "none")
    now = load_settings(fast_settings.home)
    assert (now.train.lr, now.train.batch_size, now.train.max_steps, now.model.quant) == (0.5, 16, 99, "none")

    config = RunConfig.read(handle.run_dir)
    assert config.settings == planned.to_dict()  # stored once, whole
    assert config.run_settings() == planned  # what the trainer trains with (tuitune.training.trainer.main)
    assert store.run(handle.run_id).params["train.lr"] == 5e-3 and store.run(handle.run_id).params["lora.r"] == 8
