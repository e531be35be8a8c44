"""The conversation list (hideable): Enter opens, n new, r rename, d delete; the screen does the work. A conversation
another client (a terminal, a browser tab) has open is marked ●."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from tuitune.store.records import Conversation
from tuitune.textsafe import one_line
from tuitune.tui import keys

TITLE_WIDTH = 21  # the list is 24 cells wide: its border and padding take the rest


class ConversationList(OptionList):
    BINDINGS = keys.Conversations.bindings()

    def show(self, conversations: list[Conversation], current: int | None, elsewhere: Mapping[int, int] = {}) -> None:
        """`elsewhere`: the conversations other clients show, marked ● (the highlight stays where it was)."""
        highlighted = self.highlighted_option.id if self.has_focus and self.highlighted_option else None
        self.clear_options()
        self.add_options(Option(_entry(c, c.id in elsewhere), id=str(c.id)) for c in conversations)
        if highlighted is not None:
            with contextlib.suppress(OptionDoesNotExist):
                self.highlighted = self.get_option_index(highlighted)
                return
        if current is not None:
            try:
                self.highlighted = self.get_option_index(str(current))
            except OptionDoesNotExist:  # the current one was just deleted
                self.highlighted = 0 if conversations else None


def _entry(conversation: Conversation, open_elsewhere: bool) -> Text:
    title = conversation.title or "untitled"
    if not open_elsewhere:
        return Text(one_line(title, TITLE_WIDTH))
    return Text.assemble(("● ", "bold"), one_line(title, TITLE_WIDTH - 2))
