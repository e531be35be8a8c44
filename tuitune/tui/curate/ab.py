"""Blind A/B in the chat: pick two contenders, watch both answers labelled only A and B, pick one; who was who is
shown only after the pick. The answers stream in a thread worker that reports back with messages."""

from __future__ import annotations

import threading

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from tuitune.chat import ABRound, ABTest, ChatError, Reveal
from tuitune.errors import TuituneError
from tuitune.store import BASE, AdapterRating, Store
from tuitune.store.records import Message as StoredMessage
from tuitune.textsafe import one_line, visible
from tuitune.tui import keys
from tuitune.tui.errors import ReportsWorkerErrors, unexpected

LABELS = ("A", "B")
BASE_VALUE = "\0base"  # the base model's value in the list; a NUL is never in an adapter's name
PICKS = {"A": "A", "B": "B", "tie": "a tie", "both_bad": "both bad"}


# ---- choosing the turn and the contenders ------------------------------------------------------------------------
def ab_turn(selected: StoredMessage | None, branch: list[StoredMessage]) -> int | None:
    """The user turn to answer twice: the selected one (or the one a selected answer answers), else the latest."""
    message = selected or (branch[-1] if branch else None)
    if message is None:
        return None
    if message.role == "user":
        return message.id
    by_id = {m.id: m for m in branch}
    parent = by_id.get(message.parent_id) if message.parent_id is not None else None
    return parent.id if parent is not None and parent.role == "user" else None


def default_pair(names: list[str], active: str | None) -> tuple[str | None, str | None]:
    """The live adapter against the base; with the base live, the two newest adapters (newest first in `names`);
    with one adapter, it against the base."""
    if active is not None and active in names:
        return active, None
    if len(names) >= 2:
        return names[0], names[1]
    return (names[0], None) if names else (None, None)


def rating_line(rating: AdapterRating | None) -> str:
    if rating is None or not rating.games:
        return "not compared yet"
    rate = rating.win_rate or 0.0
    return f"{rate:.0%} won · {rating.wins}W {rating.losses}L {rating.ties}D · Elo {rating.elo:.0f}"


def reveal_line(reveal: Reveal) -> str:
    line = f"A was {reveal.a}, B was {reveal.b}: you picked {PICKS[reveal.choice]}"
    return line + (f" ({reveal.winner} wins)" if reveal.winner else "")


class ContendersScreen(ModalScreen[tuple[str | None, str | None] | None]):
    """Two of the base and the registered adapters, with their records so far. Dismisses with the pair."""

    BINDINGS = keys.Contenders.bindings()

    def __init__(self, store: Store, active: str | None) -> None:
        super().__init__(classes="dialog-screen")
        self.names = [adapter.name for adapter in store.adapters()]
        self.ratings = {rating.name: rating for rating in store.adapter_ratings()}
        self.pair = default_pair(self.names, active)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide", id="ab-contenders"):
            yield Label("Blind A/B: which two answer this turn?", classes="dialog-title")
            contenders: list[tuple[str, str | None]] = [(BASE, None)] + [(name, name) for name in self.names]
            yield SelectionList[str](
                *[
                    Selection(
                        Text(f"{one_line(label, 28):<28} {rating_line(self.ratings.get(label))}"),
                        label if value is not None else BASE_VALUE,
                        value in self.pair,
                    )
                    for label, value in contenders
                ],
                id="ab-choices",
            )
            yield Label("", id="ab-picked", markup=False)
            yield Label("space picks · s starts with the two picked · Esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#ab-choices", SelectionList).focus()
        self.show_picked()

    @on(SelectionList.SelectedChanged, "#ab-choices")
    def show_picked(self) -> None:
        picked = [BASE if value == BASE_VALUE else value for value in self.query_one(SelectionList).selected]
        line = " vs ".join(one_line(name, 28) for name in picked) or "nothing"
        self.query_one("#ab-picked", Label).update(Text(f"picked: {line}{'' if len(picked) == 2 else ' (pick two)'}"))

    def action_start(self) -> None:
        picked = self.query_one("#ab-choices", SelectionList).selected
        if len(picked) != 2:
            self.notify("pick exactly two", severity="warning", markup=False)
            return
        first, second = (None if value == BASE_VALUE else value for value in picked)
        self.dismiss((first, second))

    def action_cancel(self) -> None:
        self.dismiss(None)


# ---- the round -------------------------------------------------------------------------------------------------
class ABScreen(ReportsWorkerErrors, ModalScreen[Reveal | None]):
    """Both answers side by side as they stream (A first, then B), the pick, then the reveal.
    Dismisses with the Reveal, or None when cancelled before the pick."""

    BINDINGS = keys.BlindRound.bindings()

    class Started(Message):
        def __init__(self, label: str) -> None:
            super().__init__()
            self.label = label

    class Chunk(Message):
        def __init__(self, label: str, text: str) -> None:
            super().__init__()
            self.label, self.text = label, text

    class Written(Message):
        """Both answers are in (or the round stopped); `error` says why it could not run."""

        def __init__(self, round: ABRound | None, error: str = "") -> None:
            super().__init__()
            self.round, self.error = round, error

    def __init__(self, ab: ABTest, user_message_id: int, first: str | None, second: str | None) -> None:
        super().__init__(classes="dialog-screen")
        self.ab, self.user_message_id, self.contenders = ab, user_message_id, (first, second)
        self.cancel = threading.Event()
        self.texts = {label: "" for label in LABELS}
        self.round: ABRound | None = None
        self.reveal: Reveal | None = None
        self.done = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide -tall", id="ab"):
            yield Label("Blind A/B: which answer is better?", classes="dialog-title")
            with Horizontal(id="ab-sides"):
                for label in LABELS:
                    with VerticalScroll(id=f"ab-{label.lower()}", classes="ab-side"):
                        yield Static("", id=f"ab-{label.lower()}-text", markup=False)
            yield Label("loading the contenders…", id="ab-hint", classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        for label in LABELS:
            self.side(label).border_title = Text(label)
        self._run()

    def on_unmount(self) -> None:
        self.cancel.set()  # the app is closing under a round in flight

    def side(self, label: str) -> VerticalScroll:
        return self.query_one(f"#ab-{label.lower()}", VerticalScroll)

    def hint(self, text: str | Text) -> None:
        self.query_one("#ab-hint", Label).update(text if isinstance(text, Text) else Text(text))

    @work(thread=True, exit_on_error=False, group="ab")
    def _run(self) -> None:
        try:
            round = self.ab.start(self.user_message_id, *self.contenders, cancel=self.cancel)
            for label, answer in round.stream():
                self.post_message(self.Started(label))
                for piece in answer:
                    self.post_message(self.Chunk(label, piece))
        except TuituneError as exc:  # ChatError, AdapterError, EngineError: for the user to read
            self.post_message(self.Written(None, str(exc) or exc.__class__.__name__))
            return
        except Exception as exc:  # a bug: logged, and the round still ends
            self.post_message(self.Written(None, unexpected(self.app, exc, "the A/B round")))
            return
        self.post_message(self.Written(round))

    @on(Started)
    def started(self, event: Started) -> None:
        self.hint(f"writing {event.label}…  (Esc stops)")
        self.side(event.label).add_class("-streaming")

    @on(Chunk)
    def chunk(self, event: Chunk) -> None:
        self.texts[event.label] += event.text
        self.query_one(f"#ab-{event.label.lower()}-text", Static).update(Text(visible(self.texts[event.label])))

    @on(Written)
    def written(self, event: Written) -> None:
        self.done, self.round = True, event.round
        for label in LABELS:
            self.side(label).remove_class("-streaming")
        if self.cancel.is_set():
            self.dismiss(None)
        elif event.error:
            self.hint(f"the comparison could not run: {one_line(event.error, 200)} · Esc closes")
        else:
            self.hint("1/a A is better · 2/b B is better · 3/t tie · 4/x both bad · Esc skips")

    def action_pick(self, choice: str) -> None:
        if self.reveal is not None:
            return
        if not self.done or self.round is None:
            self.app.bell()
            return
        try:
            self.reveal = self.round.pick(choice)
        except (ChatError, ValueError) as exc:
            self.notify(one_line(str(exc), 300), severity="error", markup=False)
            return
        names = {"A": self.reveal.a, "B": self.reveal.b}
        for label in LABELS:
            side = self.side(label)
            side.border_title = Text(f"{label} · {one_line(names[label], 30)}")
            side.add_class(
                "-chosen"
                if self.reveal.continue_id == getattr(self.reveal, f"{label.lower()}_message_id")
                else "-other"
            )
        self.hint(Text(f"{reveal_line(self.reveal)} · Enter continues the chat"))

    def action_close(self) -> None:
        if self.reveal is not None:
            self.dismiss(self.reveal)

    def action_cancel(self) -> None:
        if self.reveal is not None or self.done:
            self.dismiss(self.reveal)
            return
        self.cancel.set()
        self.hint("stopping…")
