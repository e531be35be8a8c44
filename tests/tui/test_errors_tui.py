"""A bug in the app is logged, never hidden: its traceback goes to <home>/logs/errors.log and the toast names the
log; a TuituneError is the user's to read and logs nothing. A scripted engine supplies the failures."""

from __future__ import annotations

import pytest

from tuitune.client import EngineError
from tuitune.errors import error_log
from tuitune.tui.app import make_app
from tuitune.tui.curate.screen import CurateScreen

from .helpers import record_notices, send, settle
from .scripted import ScriptedEngine

SIZE = (100, 30)


class FailingEngine(ScriptedEngine):
    """Raises `exc` when asked for an answer, or after the first piece of it with `mid_answer`."""

    def __init__(self, exc: BaseException, mid_answer: bool = False) -> None:
        super().__init__(["Half an answer, then"])
        self.exc, self.mid_answer = exc, mid_answer

    def generate(self, messages, cancel=None, max_new_tokens=None, **kwargs):
        if not self.mid_answer:
            raise self.exc
        return super().generate(messages, cancel, max_new_tokens, **kwargs)

    def _pieces(self, text, cancel, stats):
        pieces = super()._pieces(text, cancel, stats)
        yield next(pieces)
        raise self.exc



def unexpected_notices(shown: list[str]) -> list[str]:
    return [text for text in shown if "failed unexpectedly" in text]


async def until(pilot, condition, seconds: float = 10.0) -> None:
    """Pause until `condition()` holds (a failed worker makes `workers.wait_for_complete` raise instead)."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


@pytest.mark.parametrize("mid_answer", [False, True], ids=["before-the-answer", "mid-answer"])
async def test_a_bug_while_answering_is_logged_and_the_toast_names_the_log(settings, store, mid_answer):
    app = make_app(settings, store=store, engine=FailingEngine(KeyError("no such key"), mid_answer))
    shown = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Hello?")
        assert app.chat_screen.cancel is None  # the screen is not left waiting for the answer
        await send(pilot, "Still there?")  # and takes the next message
    log = error_log(settings.home)
    failed = unexpected_notices(shown)
    assert len(failed) == 2 and all(str(log) in text and "KeyError" in text for text in failed), shown
    text = log.read_text(encoding="utf-8")
    assert text.count("Traceback (most recent call last)") == 2 and "KeyError: 'no such key'" in text
    assert "in generate" in text or "in _pieces" in text
    if mid_answer:
        answers = [m for m in store.branch(store.conversations()[0].id) if m.role == "assistant"]
        assert answers and answers[0].status == "error" and answers[0].content.startswith("Half")


async def test_an_error_for_the_user_is_shown_as_it_is_and_logs_nothing(settings, store):
    app = make_app(settings, store=store, engine=FailingEngine(EngineError("the engine server went away")))
    shown = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Hello?")
    assert any("the engine server went away" in text for text in shown), shown
    assert unexpected_notices(shown) == [] and not error_log(settings.home).exists()


async def test_a_worker_that_fails_unexpectedly_is_reported_not_dropped(settings, store, monkeypatch):
    def broken():
        raise ZeroDivisionError("counting went wrong")

    monkeypatch.setattr(store, "curate_counts", broken)
    app = make_app(settings, store=store, engine=ScriptedEngine())
    shown = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f8")  # the curate screen counts in a thread worker that does not catch this
        await until(pilot, lambda: any("_counts_worker" in text for text in shown))
        assert isinstance(app.screen, CurateScreen)
        app.run_worker(lambda: 1 / 0, thread=True, exit_on_error=False, name="probe")  # one of the app's own
        await until(pilot, lambda: any("probe" in text for text in shown))
        assert app.is_running
    log = error_log(settings.home)
    failed = unexpected_notices(shown)
    assert any("_counts_worker" in text for text in failed) and any("probe" in text for text in failed), shown
    assert all(str(log) in text for text in failed)
    text = log.read_text(encoding="utf-8")
    assert "ZeroDivisionError: counting went wrong" in text and "ZeroDivisionError: division by zero" in text


async def test_an_exception_that_ends_the_app_is_logged_for_the_cli_to_name(settings, store, monkeypatch):
    app = make_app(settings, store=store, engine=ScriptedEngine())

    def broken_help():
        raise LookupError("a bug in a key's action")

    monkeypatch.setattr(app.chat_screen, "action_help", broken_help)
    with pytest.raises(LookupError):
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("f1")
            await pilot.pause()
    log = error_log(settings.home)
    assert app.crash_line.startswith(f"the app failed unexpectedly; the traceback is in {log} (LookupError")
    assert "LookupError: a bug in a key's action" in log.read_text(encoding="utf-8")
