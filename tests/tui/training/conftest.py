"""Tiny training runs for the TUI tests: a couple of short steps, so a whole run takes well under a minute."""

from __future__ import annotations

import asyncio
import time

import pytest


@pytest.fixture
def tiny_settings(settings):
    """Pass them to `app_for(engine, tiny_settings)`: the app trains with them."""
    return settings.with_overrides(
        {"train.method": "sft", "train.max_steps": 2, "train.batch_size": 2, "train.max_length": 128,
         "train.measure": False}  # measuring is shown in the whole-loop test, on the tiny eval sets
    )


async def wait_until(pilot, condition, timeout: float, what: str) -> None:
    """Let the app run until `condition()` holds; fail saying `what` did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f}s")
        await asyncio.sleep(0.2)
        await pilot.pause()
