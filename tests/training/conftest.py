"""Small trainer settings that keep each run to seconds."""

from __future__ import annotations

import pytest


@pytest.fixture
def fast_settings(settings):
    """Few short steps: the trainer tests prove the plumbing and that learning happens, not the recipe."""
    return settings.with_overrides({
        "train.max_steps": 4, "train.batch_size": 2, "train.max_length": 128, "train.holdout": 0,
        "train.measure": False,  # tests/training/test_measure.py covers measuring, on a tiny set
    })
