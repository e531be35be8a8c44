"""Small trainer settings that keep each run to seconds."""

from __future__ import annotations

import pytest


@pytest.fixture
def fast_settings(settings):
    """Few short steps: the trainer tests prove the plumbing and that learning happens, not the recipe."""
    settings.train.max_steps = 4
    settings.train.batch_size = 2
    settings.train.max_length = 128
    settings.train.holdout = 0
    return settings
