"""The training dialogs; each returns through `dismiss()` and never reaches into its caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, RadioButton, RadioSet, Static

from tuitune.config import METHODS, TrainSettings
from tuitune.textsafe import one_line, visible
from tuitune.tui.training.compare import Comparison


@dataclass(frozen=True)
class TrainRequest:
    """What to train: None = the method in settings (train.method); overrides as the CLI flags name them."""

    method: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


class TrainOptionsScreen(ModalScreen[TrainRequest | None]):
    """Pick the method and the common settings. ctrl+s or Enter in a field trains, Esc cancels."""

    BINDINGS = [
        Binding("ctrl+s", "train", "Train", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, train: TrainSettings, auto_hint: str) -> None:
        super().__init__(classes="dialog-screen")
        self.train, self.auto_hint = train, auto_hint

    def compose(self) -> ComposeResult:
        t = self.train
        with Vertical(classes="dialog", id="train-options"):
            yield Label("Train an adapter on your judgements", classes="dialog-title")
            yield Label(Text(one_line(self.auto_hint, 200)), classes="dialog-hint", markup=False)
            with RadioSet(id="method"):
                for method in METHODS:
                    yield RadioButton(method, value=method == t.method, id=f"method-{method}")
            with Horizontal(classes="train-field"):
                yield Label("epochs", classes="train-label")
                yield Input(f"{t.epochs:g}", id="epochs", type="number")
            with Horizontal(classes="train-field"):
                yield Label("max steps", classes="train-label")
                yield Input(str(t.max_steps), id="max_steps", type="integer")
            with Horizontal(classes="train-field"):
                yield Label("learning rate", classes="train-label")
                yield Input(f"{t.lr:g}", id="lr")
            yield Label("", id="train-error", markup=False)
            yield Label("ctrl+s or Enter trains · Esc cancels · max steps -1: epochs decide", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(RadioSet).focus()

    def request(self) -> TrainRequest:
        """The choice, or ValueError saying which field is wrong."""
        pressed = self.query_one(RadioSet).pressed_button
        method = (pressed.id or "method-auto").removeprefix("method-") if pressed is not None else "auto"
        values: dict[str, Any] = {}
        for key, kind, check in (
            ("epochs", float, lambda v: v > 0),
            ("max_steps", int, lambda v: v == -1 or v > 0),
            ("lr", float, lambda v: 0 < v < 1),
        ):
            raw = self.query_one(f"#{key}", Input).value.strip()
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{key.replace('_', ' ')}: {raw!r} is not a number") from None
            if not check(value):
                raise ValueError(f"{key.replace('_', ' ')}: {raw} is out of range")
            values[key] = value
        return TrainRequest(method, values)

    def action_train(self) -> None:
        try:
            self.dismiss(self.request())
        except ValueError as exc:
            self.query_one("#train-error", Label).update(Text(one_line(str(exc)), style="bold red"))

    @on(Input.Submitted)
    def submitted(self) -> None:
        self.action_train()

    def action_cancel(self) -> None:
        self.dismiss(None)


class BeforeAfterScreen(ModalScreen[None]):
    """The same prompts answered before and after the swap."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, rows: list[Comparison], before: str, after: str, seconds: float, measured: str = "") -> None:
        """`measured`: the run's behaviour and check-set figures in one line, shown under the title."""
        super().__init__(classes="dialog-screen")
        self.rows, self.before, self.after, self.seconds = rows, before, after, seconds
        self.measured = measured

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog -wide -tall", id="before-after"):
            title = f"Before / after: {one_line(self.before, 28)} → {one_line(self.after, 32)}"
            yield Label(Text(title), classes="dialog-title", markup=False)
            yield Label(
                Text(f"{self.after} went live in {self.seconds:.2f}s; greedy, first words only"),
                classes="dialog-hint",
                markup=False,
            )
            if self.measured:
                yield Static(Text(f"measured: {self.measured}"), classes="ba-measured")
            for row in self.rows:
                yield Static(Text(f"{row.kind}: {one_line(row.prompt, 200)}", style="bold"), classes="ba-prompt")
                yield Static(self._answer("before", row.before), classes="ba-before")
                yield Static(self._answer("after ", row.after), classes="ba-after")
            yield Label("Esc closes · F7 adapters: roll back or switch", classes="dialog-hint")

    @staticmethod
    def _answer(label: str, text: str) -> Text:
        shown = Text(f"{label} ", style="italic")
        shown.append(visible(text) or "(empty)")
        if text and not text.endswith((".", "!", "?")):
            shown.append("…", style="dim")
        return shown

    def action_close(self) -> None:
        self.dismiss(None)
