"""Settings are frozen: a changed copy comes from `with_overrides`, checked as loading checks it, and `to_dict` /
`Settings.from_dict` carry them whole, reading nothing else."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tuitune.config import Settings, SettingsError, load_settings
from tuitune.private import private_mkdir, private_write_text


def test_with_overrides_coerces_and_leaves_the_original_alone(settings):
    changed = settings.with_overrides({"train.max_steps": "4", "train.lr": 1, "train.measure": "no",
                                       "generation.temperature": None})  # None: left as it was, like a flag not given
    assert (changed.train.max_steps, changed.train.lr, changed.train.measure) == (4, 1.0, False)
    assert isinstance(changed.train.lr, float) and changed.generation == settings.generation
    assert (settings.train.max_steps, settings.train.lr, settings.train.measure) == (-1, 1e-3, True)
    assert changed.model is settings.model and changed.home == settings.home  # untouched sections are shared


@pytest.mark.parametrize(("values", "message"), [
    ({"train.method": "ppo"}, "train.method must be one of"),
    ({"train.lr": 0}, "train.lr must be > 0"),
    ({"train.max_steps": "many"}, "is not a valid int"),
    ({"train.nothing": 1}, "unknown setting 'train.nothing'"),
    ({"home": "/elsewhere"}, "unknown setting 'home'"),
    ({"engine.backend": "vllm"}, "needs engine.url"),  # checked across the section's fields, as loading checks
])
def test_with_overrides_refuses_what_loading_refuses(settings, values, message):
    with pytest.raises(SettingsError, match=message):
        settings.with_overrides(values)
    assert settings.with_overrides({"engine.backend": "vllm", "engine.url": "http://gpu:8000"}).engine.backend == "vllm"


def test_settings_cannot_be_changed_in_place(settings):
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.train.max_steps = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.generation = settings.generation  # type: ignore[misc]


def test_to_dict_and_from_dict_round_trip_through_json(settings):
    changed = settings.with_overrides({"model.spec": "/models/llama", "train.lr": 2e-4, "train.epochs": 3,
                                       "lora.targets": "all-linear", "train.measure": False,
                                       "engine.idle_timeout_s": 60})
    flat = changed.to_dict()
    assert flat["home"] == str(changed.home) and flat["train.lr"] == 2e-4 and flat["lora.targets"] == "all-linear"
    back = Settings.from_dict(json.loads(json.dumps(flat)))
    assert back == changed and back.to_dict() == flat
    assert isinstance(back.train.epochs, float) and back.home == changed.home


def test_from_dict_reads_neither_config_toml_nor_the_environment(settings, monkeypatch):
    flat = settings.to_dict()
    private_mkdir(settings.home)
    private_write_text(settings.home / "config.toml", "[train]\nlr = 0.5\n")
    monkeypatch.setenv("TUITUNE_TRAIN_MAX_STEPS", "99")
    monkeypatch.setenv("TUITUNE_QUANT", "none")
    loaded = load_settings(settings.home)
    assert (loaded.train.lr, loaded.train.max_steps, loaded.model.quant) == (0.5, 99, "none")  # as layered
    assert Settings.from_dict(flat) == settings  # the values given, nothing else
    with pytest.raises(SettingsError, match="no home"):
        Settings.from_dict({k: v for k, v in flat.items() if k != "home"})
