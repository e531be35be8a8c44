"""The prompt input: Enter sends; ctrl+j, and Shift+Enter and Alt+Enter where the terminal reports them (a terminal
speaking the kitty keyboard protocol; `tuitune web`'s page sends them as ctrl+j), add a line and send nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from tuitune.tui import keys
from tuitune.tui.widgets.prompt_input import PromptInput

from .helpers import SIZE

REPO = Path(__file__).resolve().parents[2]


class InputHost(App):
    """The input alone, with the app's stylesheet; it keeps what the input sends."""

    CSS_PATH = REPO / "tuitune" / "tui" / "app.tcss"

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def compose(self) -> ComposeResult:
        yield PromptInput(id="input")

    def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        self.sent.append(event.text)


@pytest.mark.parametrize("newline", ["shift+enter", "alt+enter", "ctrl+j"])
async def test_a_newline_key_adds_a_line_and_enter_sends_both(newline):
    assert newline in keys.Input.NEWLINE.names
    app = InputHost()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h", "i", newline, "y", "o")
        prompt = app.query_one(PromptInput)
        assert prompt.text == "hi\nyo" and app.sent == []
        await pilot.press("enter")
        assert app.sent == ["hi\nyo"]
