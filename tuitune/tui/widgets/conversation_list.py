"""The conversation list (hideable): Enter opens, n new, r rename, d delete; the screen does the work."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from tuitune.store.records import Conversation
from tuitune.textsafe import one_line
from tuitune.tui import keys

TITLE_WIDTH = 21  # the list is 24 cells wide: its border and padding take the rest


class ConversationList(OptionList):
    BINDINGS = keys.Conversations.bindings()

    def show(self, conversations: list[Conversation], current: int | None) -> None:
        self.clear_options()
        self.add_options(
            Option(Text(one_line(c.title or "untitled", TITLE_WIDTH)), id=str(c.id)) for c in conversations
        )
        if current is not None:
            try:
                self.highlighted = self.get_option_index(str(current))
            except OptionDoesNotExist:  # the current one was just deleted
                self.highlighted = 0 if conversations else None
