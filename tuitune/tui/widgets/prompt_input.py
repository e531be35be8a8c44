"""The multi-line input: Enter sends, ctrl+j (or shift+enter / alt+enter where the terminal reports them) breaks
the line, and a paste that would push the text past the prompt limit is cut there with a notice.

Enter and the newline keys are handled in this widget's own key handler, not by bindings: the app runs a priority
binding as soon as the key reaches it, before this widget has inserted the keys that came just before, so a burst
of typing followed by Enter (a paste-like burst from tmux, a fast typist over SSH) sent only part of the text, or
none, and left the rest in the box. Here every key is handled in the order it came. The bindings stay, without
priority, so that the footer and the help list them."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from tuitune.chat.session import MAX_PROMPT_CHARS
from tuitune.tui import keys

NEWLINE_KEYS = keys.Input.NEWLINE.names


class PromptInput(TextArea):
    BINDINGS = keys.Input.bindings()

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
        self.placeholder = f"Ask something… ({keys.Input.SEND.name} sends, {keys.Input.NEWLINE.name} new line)"

    async def _on_key(self, event: events.Key) -> None:
        # Runs before TextArea's own handler, which prevent_default() skips for the keys taken here.
        if event.key in keys.Input.SEND.names and not self.read_only:
            event.stop()
            event.prevent_default()
            self.action_submit()
        elif event.key in NEWLINE_KEYS and not self.read_only:
            event.stop()
            event.prevent_default()
            self.action_newline()

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self.text))

    def sent(self, text: str) -> None:
        """The screen took `text` (a Submitted's): remove it, keeping whatever was typed after the Enter."""
        current = self.text
        if current.startswith(text):
            self.load_text(current[len(text) :])
            self.move_cursor(self.document.end)
        else:
            self.clear()

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
