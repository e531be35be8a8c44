"""Issue 9 in the TUI: degenerate answers render, and a burst of keys followed by Enter sends exactly that text
(headless with a small host App and the real styles; and through tmux with the real app)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual import events, on
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll

import tuitune
from tuitune.server import lifecycle
from tuitune.store import Store
from tuitune.tui.widgets.message_view import MessageView, Shown
from tuitune.tui.widgets.prompt_input import PromptInput

TCSS = Path(tuitune.__file__).resolve().parent / "tui" / "app.tcss"
DEGENERATE = ["1. 1. 3.", "1.", "- 1. 3.", "1. first\n2.", "<div>kept</div>", "[](https://example.com)"]


def widget_text(app: App, widget) -> str:
    """The characters the terminal shows where `widget` is."""
    strips = app.screen._compositor.render_strips()
    region = widget.region
    return "\n".join(strip.text[region.x : region.right].rstrip() for strip in strips[region.y : region.bottom])


class MessageHost(App):
    CSS_PATH = TCSS

    def __init__(self, shown: Shown) -> None:
        super().__init__()
        self.shown = shown

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield MessageView(self.shown)


@pytest.fixture
def answer(tmp_path: Path):
    with Store.open(tmp_path / "home" / "tuitune.db") as store:
        conversation = store.new_conversation("degenerate")
        question = store.add_message(conversation, "user", "count")

        def make(content: str, status: str = "complete"):
            return store.message(store.add_message(conversation, "assistant", content, question, status=status))

        yield make


def shown_text(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("content", DEGENERATE)
async def test_a_degenerate_answer_shows_its_text(answer, content: str) -> None:
    app = MessageHost(Shown(answer(content)))
    async with app.run_test(size=(60, 12)) as pilot:
        await pilot.pause()
        view = app.query_one(MessageView)
        body = shown_text(widget_text(app, view.query_one(".message-body")))
        assert body == shown_text(content), (content, widget_text(app, view))


async def test_ordinary_markdown_still_renders_as_markdown(answer) -> None:
    app = MessageHost(Shown(answer("**TL;DR**: yes.\n\n1. one\n2. two")))
    async with app.run_test(size=(60, 12)) as pilot:
        await pilot.pause()
        body = widget_text(app, app.query_one(MessageView).query_one(".message-body"))
        assert "TL;DR: yes." in body and "**" not in body and "1. one" in body and "2. two" in body


async def test_a_degenerate_answer_that_streamed_shows_its_text_at_the_end(answer) -> None:
    app = MessageHost(Shown(answer("", status="streaming")))
    async with app.run_test(size=(60, 12)) as pilot:
        view = app.query_one(MessageView)
        for piece in ["1.", " 1.", " 3."]:
            await view.write(piece)
        await view.end_stream()
        await pilot.pause()
        assert shown_text(widget_text(app, view.query_one(".message-body"))) == "1. 1. 3."


class InputHost(App):
    CSS_PATH = TCSS

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def compose(self) -> ComposeResult:
        yield PromptInput(id="input")

    def on_mount(self) -> None:
        self.query_one(PromptInput).focus()

    @on(PromptInput.Submitted)
    def submitted(self, event: PromptInput.Submitted) -> None:
        self.sent.append(event.text)
        self.query_one(PromptInput).clear()  # as the chat screen does once the text is stored


def burst(app: App, text: str) -> None:
    """Keys as a terminal delivers a paste-like burst: all queued before the app handles the first one."""
    for char in text:
        key = {" ": "space", "\n": "ctrl+j"}.get(char, char)
        app.post_message(events.Key(key, "\n" if char == "\n" else char))
    app.post_message(events.Key("enter", "\r"))


async def test_a_burst_of_keys_then_enter_sends_exactly_that_text() -> None:
    app = InputHost()
    async with app.run_test(size=(60, 8)) as pilot:
        await pilot.pause()
        for text in ["hello there", "What is the capital of France?", "two\nlines"]:
            burst(app, text)
            await pilot.pause()
            await pilot.pause()
        assert app.sent == ["hello there", "What is the capital of France?", "two\nlines"]
        assert app.query_one(PromptInput).text == ""


async def test_keys_typed_after_enter_are_kept_for_the_next_message() -> None:
    app = InputHost()
    async with app.run_test(size=(60, 8)) as pilot:
        await pilot.pause()
        prompt = app.query_one(PromptInput)
        prompt.load_text("first and more")  # " and more" was typed after the Enter that sent "first"
        prompt.sent("first")
        assert prompt.text == " and more"
        prompt.sent("something else")  # the text changed under it: as clear()
        assert prompt.text == ""


@pytest.mark.tmux
def test_tmux_send_keys_then_enter_sends_the_text(tmp_path: Path) -> None:
    """The app in a real terminal, keys sent by tmux the moment it paints; no model is needed to store a question
    (a model spec that does not exist keeps this test light)."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    home = tmp_path / "home"
    socket = f"tuitune-keys-{os.getpid()}"
    code = Path(tuitune.__file__).resolve().parent.parent
    env = {"PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1", "TERM": "xterm-256color"}
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    app = f"{shlex.quote(sys.executable)} -m tuitune --home {shlex.quote(str(home))} --model {tmp_path}/none.gguf"
    tmux = ["tmux", "-L", socket]

    def screen() -> str:
        return subprocess.run([*tmux, "capture-pane", "-p", "-t", "app"], capture_output=True, text=True).stdout

    subprocess.run([*tmux, "new-session", "-d", "-s", "app", "-x", "100", "-y", "30", f"env {exports} {app}; sleep 30"],
                   check=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60  # a busy machine: the first paint can take a while
        while "Ask something" not in screen():
            assert time.monotonic() < deadline, screen()
            time.sleep(0.02)
        subprocess.run([*tmux, "send-keys", "-t", "app", "hello there", "Enter"], check=True)
        deadline = time.monotonic() + 15
        while True:
            with Store.open(home / "tuitune.db") as store:
                sent = [m.content for c in store.conversations() for m in store.branch(c.id) if m.role == "user"]
            if sent or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert sent == ["hello there"], screen()
        time.sleep(0.5)
        assert "Ask something" in screen()  # the input is empty again: nothing was left unsent
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        lifecycle.stop(lifecycle.EnginePaths(home))  # the app started the home's engine server
