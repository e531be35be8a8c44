"""The measured recipe, as rules: a small set gets at least train.min_steps updates; KTO weighs the scarcer label
up; DPO's losses come from train.dpo_loss. No model here."""

from __future__ import annotations

import pytest

from tuitune.config import SettingsError
from tuitune.training.trainer import kto_weights, steps_for


def test_a_small_set_gets_min_steps_and_a_large_one_its_epochs(settings):
    s = settings.with_overrides({"train.batch_size": 2, "train.epochs": 2, "train.min_steps": 32})
    assert steps_for(s, 14) == 32  # 7 steps an epoch, 14 in two: too few
    assert steps_for(s, 40) == -1  # 20 an epoch, 40 in two: the epochs decide
    assert steps_for(s, 32) == -1  # exactly 32
    assert steps_for(s.with_overrides({"train.max_steps": 5}), 14) == 5  # asked for: obeyed
    assert steps_for(s.with_overrides({"train.grad_accum": 2}), 40) == 32  # 10 updates an epoch


def test_kto_weighs_the_scarcer_label_up():
    rows = [{"label": True}] * 25 + [{"label": False}] * 8
    assert kto_weights(rows) == (1.0, 3.125)
    assert kto_weights([{"label": True}] * 2 + [{"label": False}] * 6) == (3.0, 1.0)
    assert kto_weights([{"label": True}] * 3) == (1.0, 1.0)


def test_dpo_losses_are_read_and_checked(settings):
    assert settings.train.dpo_losses() == [("sigmoid", 1.0), ("sft", 1.0)]
    assert settings.with_overrides({"train.dpo_loss": "apo_zero"}).train.dpo_losses() == [("apo_zero", 1.0)]
    with pytest.raises(SettingsError, match="train.dpo_loss"):
        settings.with_overrides({"train.dpo_loss": "sigmoid:x"})


def test_kto_losses_are_read_and_checked(settings):
    assert settings.train.kto_losses() == ("kto", 3.0)
    assert settings.with_overrides({"train.kto_loss": "apo_zero_unpaired"}).train.kto_losses() == (
        "apo_zero_unpaired", 0.0)
    for bad in ("sft:1", "kto,apo_zero_unpaired", "kto:2", "kto,sft:x", "kto,sft,sft"):
        with pytest.raises(SettingsError, match="train.kto_loss"):
            settings.with_overrides({"train.kto_loss": bad})
