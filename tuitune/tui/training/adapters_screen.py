"""The adapters screen (F7): the base and every adapter with how it was trained and how it does, the trend of the
trained versions; switch, promote one the gate held back, roll back, base, delete. Swaps run in a thread worker (the
engine waits for an answer in flight) through the adapters service, which keeps the rollback target and tells the app
(its `adapter_changed` signal, which this screen hears too)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label

from tuitune.chat.adapters import Swap
from tuitune.errors import TuituneError
from tuitune.generation import BASE
from tuitune.store.records import Adapter
from tuitune.textsafe import one_line
from tuitune.training.measure import behaviour_change, checks_change, summary
from tuitune.training.verdict import PROMOTION_WORDS, agreement_change, agreement_line, harmed
from tuitune.tui.errors import ReportsWorkerErrors, unexpected
from tuitune.tui.host import Host
from tuitune.tui.keys import Adapters as AdapterKeys  # `keys` names a table's row keys below
from tuitune.tui.screens.dialogs import ConfirmScreen
from tuitune.tui.training.trend import Trend

BASE_KEY = "\0base"  # a row key no adapter name can be
COLUMNS = (
    "", "name", "method", "examples", "loss", "behaviour", "checks", "agreement", "promotion", "approval", "A/B",
    "date", "parent",
)  # fmt: skip
HELD_BACK, BY_HAND = "held_back", "promoted_by_hand"


def _cell(value: Any, width: int | None = 40, style: str = "") -> Text:
    return Text(one_line("—" if value in (None, "") else str(value), width), style=style)


def _loss(adapter: Adapter) -> str:
    metrics = adapter.metrics or {}
    loss = metrics.get("final_loss", metrics.get("train_loss"))
    return f"{loss:.3f}" if isinstance(loss, (int, float)) else ""


def _effect(adapter: Adapter) -> dict[str, Any] | None:
    return (adapter.metrics or {}).get("effect")


def _promotion_line(adapter: Adapter) -> str:
    """Why it went live or was held back, in full; '' for an adapter from before the gate, or from outside."""
    if adapter.promotion is None:
        return ""
    reason = adapter.promotion_reason or "no reason recorded"
    return reason if adapter.promotion == BY_HAND else f"{PROMOTION_WORDS.get(adapter.promotion, '?')}: {reason}"


def _examples(adapter: Adapter) -> str:
    counts = adapter.example_counts or {}
    rows = counts.get("rows")
    if rows is None:
        return ""
    return str(rows)


class AdaptersScreen(ReportsWorkerErrors, Screen):
    BINDINGS = AdapterKeys.bindings()

    class Used(Message):
        """`name` is live after `seconds`; `promoted` says why a person overrode the gate, where they did."""

        def __init__(self, name: str | None, seconds: float, promoted: str = "") -> None:
            super().__init__()
            self.name, self.seconds, self.promoted = name, seconds, promoted

    class Failed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class Deleted(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, host: Host) -> None:
        super().__init__()
        self.host = host
        self.store, self.engine, self.adapters = host.services.store, host.services.engine, host.services.adapters
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Label(
            "Adapters: Enter or s switches · p promotes · r rolls back · b base · d deletes · Esc back",
            id="adapters-title",
        )
        yield DataTable(id="adapters-table", cursor_type="row", zebra_stripes=True)
        yield Label("", id="adapters-effect", markup=False)
        yield Label("", id="adapters-verdict", markup=False)
        yield Trend(id="adapters-trend")
        yield Label("", id="adapters-note", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        self.fill()
        table.focus()
        self.host.adapter_changed.subscribe(self, self.live_changed)

    def live_changed(self, _: Swap) -> None:
        """A swap made elsewhere (a run swapped in while this screen is open) moves the ● too; this screen's own
        swaps refill the table when they end."""
        if not self.busy:
            self.fill()

    # ---- the table -------------------------------------------------------------------------------------------
    def fill(self, select: str | None = None) -> None:
        table = self.query_one(DataTable)
        keep = select if select is not None else self.selected()
        table.clear()
        live = self.adapters.active_name
        ratings = {r.adapter_id: r for r in self.store.adapter_ratings()}
        table.add_row(
            _cell("●" if not live else " ", style="bold green"),
            _cell(BASE, style="bold"),
            _cell(""),
            _cell(""),
            _cell(""),
            _cell(""),
            _cell(""),
            _cell(""),
            _cell(""),
            self._approval(None),
            self._ab(ratings.get(None)),
            _cell(""),
            _cell(""),
            key=BASE_KEY,
        )
        adapters = self.store.adapters()
        for adapter in adapters:
            parent = self.store.adapter_by_id(adapter.parent_id).name if adapter.parent_id else ""
            table.add_row(
                _cell("●" if adapter.name == live else " ", style="bold green"),
                _cell(adapter.name, 32, "bold"),
                _cell(adapter.method),
                _cell(_examples(adapter)),
                _cell(_loss(adapter)),
                _cell(behaviour_change(_effect(adapter))),
                _cell(checks_change(_effect(adapter)), style="bold red" if harmed(_effect(adapter)) else ""),
                _cell(agreement_change((adapter.metrics or {}).get("agreement"))),
                _cell(
                    PROMOTION_WORDS.get(adapter.promotion or ""),
                    style="yellow" if adapter.promotion == HELD_BACK else "",
                ),
                self._approval(adapter.id),
                self._ab(ratings.get(adapter.id)),
                _cell(adapter.created_at[5:16].replace("T", " ")),
                _cell(parent, 24),
                key=adapter.name,
            )
        keys = [row.value for row in table.rows]
        if keep in keys:
            table.move_cursor(row=keys.index(keep))
        self.detail(self.selected())  # a refilled row may say more than when it was highlighted
        self.query_one(Trend).show(adapters, live)
        previous = self.adapters.previous_name
        back = "nothing yet" if previous is None else (previous or BASE)
        self.note(f"live: {live or BASE} · roll back goes to: {back}")

    def _approval(self, adapter_id: int | None) -> Text:
        good, judged = self.store.approval(adapter_id)
        return _cell(f"{good}/{judged} {100 * good // judged}%" if judged else "")

    @staticmethod
    def _ab(rating: Any) -> Text:
        if rating is None or not rating.games:
            return _cell("")
        rate = rating.win_rate or 0.0
        return _cell(f"{100 * rate:.0f}% of {rating.games}, Elo {rating.elo:.0f}")

    def selected(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return key

    def note(self, text: str) -> None:
        self.query_one("#adapters-note", Label).update(Text(one_line(text)))

    @on(DataTable.RowHighlighted)
    def row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.detail(event.row_key.value)

    def detail(self, name: str | None) -> None:
        """Under the table, the highlighted adapter's figures in full: what the behaviour rule is, on how many; its
        agreement with the held-out judgements, and why it went live or was held back."""
        adapter = self.store.adapter(name) if name is not None and name != BASE_KEY else None
        text = f"{name}: {summary(_effect(adapter))}" if adapter else f"{BASE}: the model without an adapter"
        style = "bold red" if adapter and harmed(_effect(adapter)) else ""
        self.query_one("#adapters-effect", Label).update(Text(one_line(text), style=style))
        verdict = []
        if adapter is not None and adapter.promotion is not None:
            verdict.append(_promotion_line(adapter))
        figures = (adapter.metrics or {}).get("agreement") if adapter is not None else None
        if isinstance(figures, dict):
            verdict.append(agreement_line(figures))
        self.query_one("#adapters-verdict", Label).update(Text(one_line(" · ".join(verdict))))

    # ---- actions ---------------------------------------------------------------------------------------------
    @on(DataTable.RowSelected)
    def row_selected(self) -> None:
        self.action_switch()

    def action_switch(self) -> None:
        key = self.selected()
        if key is not None:
            self.use(None if key == BASE_KEY else key)

    def action_base(self) -> None:
        self.use(None)

    def action_rollback(self) -> None:
        try:
            target = self.adapters.rollback_target()
        except TuituneError as exc:  # nothing to roll back to yet, or it was deleted
            self.notify(one_line(str(exc)), severity="warning", markup=False)
            return
        self.use(target)

    def action_promote(self) -> None:
        """Make the highlighted adapter live although the gate held it back. The adapters service does it as for a
        switch and, the adapter being held back, records on its run and on it that a person overrode the gate."""
        name = self.selected()
        if name is None or name == BASE_KEY:
            self.notify("the base model is never held back: pick an adapter", severity="warning", markup=False)
            return
        adapter = self.store.adapter(name)
        self.use(name, again=adapter is not None and adapter.promotion == HELD_BACK)

    def use(self, name: str | None, again: bool = False) -> None:
        """Swap `name` in; `again`: even when it is live already (a held-back adapter switched to before, which the
        service then records as promoted by hand)."""
        if self.busy:
            self.notify("a swap is in progress", severity="warning", markup=False)
            return
        if not again and (name == self.adapters.active_name or (name is None and not self.adapters.active_name)):
            self.notify(one_line(f"{name or BASE} is live already"), markup=False)
            return
        self.busy = True
        self.note(f"swapping to {name or BASE}… (after the answer in flight, if any)")
        self._use(name)

    @work(thread=True, exit_on_error=False, group="adapters")
    def _use(self, name: str | None) -> None:
        held_back = self._promotion_of(name)[0] == HELD_BACK
        try:
            seconds = self.adapters.use(name)
        except TuituneError as exc:
            self.post_message(self.Failed(str(exc) or exc.__class__.__name__))
            return
        except Exception as exc:
            self.post_message(self.Failed(unexpected(self.app, exc, "switching adapters")))
            return
        promotion, reason = self._promotion_of(name)
        self.post_message(self.Used(name, seconds, reason if held_back and promotion == BY_HAND else ""))

    def _promotion_of(self, name: str | None) -> tuple[str | None, str]:
        adapter = self.store.adapter(name) if name else None
        return (adapter.promotion, adapter.promotion_reason or "") if adapter else (None, "")

    @on(Used)
    def used(self, event: Used) -> None:
        self.busy = False
        self.fill(select=event.name or BASE_KEY)
        live = f"{event.name or BASE} is live (swap {event.seconds:.2f}s)"
        self.notify(one_line(f"{live}, {event.promoted}" if event.promoted else live, 300), markup=False)

    @on(Failed)
    def failed(self, event: Failed) -> None:
        self.busy = False
        self.fill()
        self.notify(one_line(f"could not switch: {event.error}", 300), severity="error", markup=False)

    def action_delete(self) -> None:
        name = self.selected()
        if name is None or name == BASE_KEY:
            self.notify("the base model cannot be deleted", severity="warning", markup=False)
            return
        if self.busy:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.busy = True
                self._delete(name)

        self.app.push_screen(ConfirmScreen(f"Delete adapter “{one_line(name, 40)}”?"), confirmed)

    @work(thread=True, exit_on_error=False, group="adapters")
    def _delete(self, name: str) -> None:
        was_live = self.adapters.active_name == name
        try:
            self.adapters.remove(name)  # unloads it; if it was live, the base is live now, and roll back forgets it
        except TuituneError as exc:
            self.post_message(self.Failed(str(exc) or exc.__class__.__name__))
            return
        except Exception as exc:
            self.post_message(self.Failed(unexpected(self.app, exc, "deleting the adapter")))
            return
        if was_live:
            self.post_message(self.Used(None, 0.0))
        else:
            self.post_message(self.Deleted(name))

    @on(Deleted)
    def deleted(self, event: Deleted) -> None:
        self.busy = False
        self.fill()
        self.notify(one_line(f"deleted {event.name}"), markup=False)

    def action_close(self) -> None:
        self.app.pop_screen()
