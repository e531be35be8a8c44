"""Every key, in one table; F1 or ? opens it, Esc / q / F1 closes it."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

KEYS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Anywhere", [
        ("Enter", "send the message (in the input)"),
        ("ctrl+j", "new line in the input (also shift+enter / alt+enter where the terminal sends them)"),
        ("F2 / F3", "judge the selected answer good / bad (the latest when none is selected); again clears"),
        ("F4", "regenerate the selected answer (a new sibling)"),
        ("Esc", "stop generating; the partial answer is kept, marked stopped"),
        ("F5", "train an adapter now on your judgements (train.method, auto by default); while training: cancel"),
        ("ctrl+t", "train with options: method, epochs, max steps, learning rate (also shift+F5)"),
        ("ctrl+r", "show / hide the training panel (progress, loss curve, ETA)"),
        ("F7", "adapters: switch, roll back, base, delete"),
        ("F6", "system prompt of this conversation"),
        ("F8", "curate: every judged answer, filtered and searched"),
        ("F9", "blind A/B: two adapters (or one and base) answer the selected or latest turn"),
        ("ctrl+n", "new conversation"),
        ("ctrl+s", "show / hide the conversation list"),
        ("ctrl+p", "command palette (every action by name)"),
        ("F1 / ?", "this help"),
        ("ctrl+q", "quit (an answer in flight is stopped and kept)"),
    ]),
    ("Messages (tab from the input)", [
        ("up / down", "select a message"),
        ("g or +", "judge good (again clears)"),
        ("b or -", "judge bad (again clears)"),
        ("e", "edit: an answer becomes a good sibling of the original (a pair);"
              " a question starts a new branch"),
        ("r", "regenerate the answer"),
        ("left / right", "browse siblings (the 2/3 in the header)"),
        ("tab or i", "back to the input"),
    ]),
    ("Conversations (shift+tab)", [
        ("Enter", "open"),
        ("n", "new"),
        ("r", "rename"),
        ("d / Delete", "delete (asks first)"),
    ]),
    ("Curate (F8)", [
        ("/", "search prompts and answers (Esc back to the table)"),
        ("j / w / m / n", "cycle the filters: judgement, writer (adapter), method, used"),
        ("Enter or o", "the full exchange"),
        ("g / b", "re-judge good / bad"),
        ("x", "exclude from training, or include again"),
        ("d / Delete", "delete (asks first); u undoes until the screen closes"),
        ("e", "export (also in the command palette)"),
        ("Esc", "back to the chat"),
    ]),
    ("Blind A/B (F9)", [
        ("space, s", "pick two contenders, start"),
        ("1/a 2/b", "A is better / B is better"),
        ("3/t 4/x", "a tie / both bad; then who was who, and Enter continues from the chosen"),
        ("Esc", "stop, or skip the pick"),
    ]),
    ("Adapters (F7)", [
        ("Enter or s", "switch to the selected adapter (or base)"),
        ("r", "roll back to the one live before the last switch"),
        ("b", "the base model"),
        ("d / Delete", "delete the selected adapter (asks first)"),
        ("Esc", "back to the chat"),
    ]),
    ("Editor", [
        ("ctrl+s", "save"),
        ("Esc", "cancel"),
    ]),
]


def keys_table() -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    table.add_column(style="bold", no_wrap=True, width=13)
    table.add_column(ratio=1)
    for section, rows in KEYS:
        table.add_row(f"[u]{section}[/u]", "")
        for key, what in rows:
            table.add_row(key, what)
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
