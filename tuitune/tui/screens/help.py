"""Every key, in one table made from tuitune.tui.keys; F1 or ? opens it, Esc / q / F1 closes it."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tuitune.tui.keys import SECTIONS


def keys_table() -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    table.add_column(style="bold", no_wrap=True, width=13)
    table.add_column(ratio=1)
    for section in SECTIONS:
        table.add_row(f"[u]{section.title}[/u]", "")
        for row in section.rows:
            table.add_row(row.key_text, row.does)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1,question_mark", "close", "Close")]

    def __init__(self) -> None:
        super().__init__(classes="dialog-screen")

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog -wide -tall"):
            yield Label("tuitune keys", classes="dialog-title")
            yield Static(keys_table())
            yield Label("Esc closes · the mouse is optional everywhere", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
