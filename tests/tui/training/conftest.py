"""Tiny training runs for the TUI tests: a couple of short steps, so a whole run takes well under a minute."""

from __future__ import annotations

import asyncio
import time

import pytest


@pytest.fixture
def tiny_settings(settings):
    settings.train.method = "sft"
    settings.train.max_steps = 2
    settings.train.batch_size = 2
    settings.train.max_length = 128
    return settings


async def wait_until(pilot, condition, timeout: float, what: str) -> None:
    """Let the app run until `condition()` holds; fail saying `what` did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f}s")
        await asyncio.sleep(0.2)
        await pilot.pause()
