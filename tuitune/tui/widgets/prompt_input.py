"""The multi-line input: Enter sends, ctrl+j (or shift+enter / alt+enter where the terminal reports them) breaks
the line, and a paste that would push the text past the prompt limit is cut there with a notice."""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from tuitune.chat.session import MAX_PROMPT_CHARS


class PromptInput(TextArea):
    BINDINGS = [
        Binding("enter", "submit", "Send", priority=True),
        Binding("ctrl+j,shift+enter,alt+enter", "newline", "Newline", key_display="^j", show=False),
        Binding("tab", "screen.focus_messages", "Messages", show=False),
        Binding("shift+tab", "screen.focus_conversations", "Conversations", show=False),
    ]

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Capped(Message):
        """A paste was cut at the limit; `dropped` characters were not inserted."""

        def __init__(self, dropped: int) -> None:
            super().__init__()
            self.dropped = dropped

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, soft_wrap=True, tab_behavior="focus", show_line_numbers=False)
        self.placeholder = "Ask something… (Enter sends, ctrl+j new line)"

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self.text))

    def action_newline(self) -> None:
        self.insert("\n")

    def on_paste(self, event: events.Paste) -> None:
        room = MAX_PROMPT_CHARS - len(self.text) + len(self.selected_text)
        if len(event.text) <= room:
            return
        # Stop TextArea's own paste handler; insert what fits and say how much did not.
        event.prevent_default()
        event.stop()
        kept = event.text[: max(room, 0)]
        if kept:
            self.replace(kept, *self.selection)
        self.post_message(self.Capped(len(event.text) - len(kept)))
