"""While an answer is generating the app keeps answering keys and timers, and quitting does not wait for it."""

from __future__ import annotations

import asyncio
import threading
import time

from tuitune.tui.app import make_app

from .helpers import SIZE, screen_text, settle
from .scripted import ScriptedEngine


async def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_keys_and_timers_work_while_the_generation_thread_is_blocked(settings, store):
    gate = threading.Event()  # never opened: the generation thread stays blocked after its first piece
    app = make_app(settings, store=store, engine=ScriptedEngine(["first second third"], gate=gate))
    started = None
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ticks: list[float] = []
        app.set_interval(0.02, lambda: ticks.append(time.monotonic()))
        prompt = app.chat_screen.query_one("#input")
        prompt.load_text("hi")
        await pilot.press("enter")
        await wait_until(lambda: "first" in app.chat_screen.streamed)
        before = len(ticks)
        await pilot.press("a", "b", "c")
        assert prompt.text == "abc" and "abc" in screen_text(app)
        await asyncio.sleep(0.3)
        assert len(ticks) - before >= 5  # the event loop kept ticking
        answer = store.branch(store.conversations()[0].id)[-1]
        assert answer.role == "assistant" and answer.status == "streaming"
        started = time.monotonic()
        await pilot.press("ctrl+q")
    assert time.monotonic() - started < 2.0  # quit did not wait for the blocked answer
    await wait_until(lambda: store.message(answer.id).status == "stopped", timeout=5)
    assert store.message(answer.id).content == "first "


async def test_quit_during_a_real_answer_is_prompt(settings, store, clean_engine):
    clean_engine.settings = clean_engine.settings.with_overrides({"generation.max_new_tokens": 400})
    app = make_app(settings, store=store, engine=clean_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.chat_screen.query_one("#input").load_text("Write a long essay about the history of Rome.")
        await pilot.press("enter")
        await wait_until(lambda: len(app.chat_screen.streamed) > 10)
        started = time.monotonic()
        await pilot.press("ctrl+q")
    # run_in_executor threads are joined when the loop closes; quitting must not wait for 400 tokens
    await app.workers.wait_for_complete()
    assert time.monotonic() - started < 3.0
    answer = store.branch(store.conversations()[0].id)[-1]
    assert answer.status == "stopped" and answer.new_tokens < 400

