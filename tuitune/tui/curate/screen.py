"""The curate screen: every judged answer in one table, filtered, searched, re-judged, excluded or deleted.

Queries run in a thread worker (newest first, a page at a time) and report back with a message; the counts per
training set come after the table has painted, since on a large store they take longer than a page."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static

from tuitune.config import TRAIN_METHODS, Settings
from tuitune.data.sets import heldout_turn_ids
from tuitune.errors import TuituneError
from tuitune.store import BASE, CurateCounts, CurateRow, Store
from tuitune.textsafe import one_line
from tuitune.tui import keys
from tuitune.tui.curate.cells import ORDER, column_widths, counts_text, exchange_text, row_cells
from tuitune.tui.curate.dialogs import ExchangeScreen, open_export
from tuitune.tui.errors import ReportsWorkerErrors
from tuitune.tui.screens.dialogs import ConfirmScreen
from tuitune.tui.screens.help import HelpScreen

PAGE = 200
SEARCH_DELAY_S = 0.25

# Each filter's values in the order its key cycles through them; None is "all".
CYCLES: dict[str, tuple[Any, ...]] = {
    "judgement": (None, "good", "bad"),
    "method": (None, *TRAIN_METHODS),
    "used": (None, True, False),
}
FILTER_KEYS = {
    "judgement": keys.Curate.JUDGED.name,
    "adapter": keys.Curate.WRITER.name,
    "method": keys.Curate.METHOD.name,
    "used": keys.Curate.USED.name,
}


@dataclass(frozen=True)
class Filters:
    judgement: str | None = None
    adapter: str | None = None  # an adapter's name, or BASE
    method: str | None = None
    used: bool | None = None
    search: str = ""

    def describe(self, name: str) -> str:
        value = getattr(self, name)
        if value is None:
            return "all"
        if name == "used":
            return "used" if value else "not used"
        return str(value)


class CurateScreen(ReportsWorkerErrors, Screen[None]):
    BINDINGS = keys.Curate.bindings()

    class Loaded(Message):
        def __init__(
            self, token: int, rows: list[CurateRow], offset: int, keep_id: int | None, held: frozenset[int]
        ) -> None:
            super().__init__()
            self.token, self.rows, self.offset, self.keep_id = token, rows, offset, keep_id
            self.held = held  # the held-out user turns: their answers measure adapters, never train

    class Counted(Message):
        def __init__(self, counts: CurateCounts) -> None:
            super().__init__()
            self.counts = counts

    class Failed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__()
        self.store, self.settings = store, settings
        self.filters = Filters()
        self.rows: list[CurateRow] = []
        self.more = False  # the last page was full: scrolling to the end fetches the next
        self.token = 0  # the newest query; older answers are dropped
        self.widths = column_widths(80)
        self.deleted: list[int] = []  # what `u` restores, newest last; forgotten when the screen closes
        self.search_timer: Timer | None = None
        self.counts: CurateCounts | None = None
        self.held: frozenset[int] = frozenset()

    def compose(self) -> ComposeResult:
        with Vertical(id="curate"):
            yield Static(counts_text(None), id="curate-counts", markup=False)
            yield Static(id="curate-filters", markup=False)
            yield Input(placeholder="search prompts and answers  (/ here, Esc back to the table)", id="curate-search")
            yield DataTable(id="curate-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.widths = column_widths(self.size.width or 80)
        self._columns()
        self._show_filters()
        self.table.focus()
        self.load()

    @property
    def table(self) -> DataTable:
        return self.query_one("#curate-table", DataTable)

    @property
    def search(self) -> Input:
        return self.query_one("#curate-search", Input)

    def _columns(self) -> None:
        self.table.clear(columns=True)
        for name in ORDER:
            self.table.add_column(name, width=self.widths[name], key=name)

    def on_resize(self, event: Resize) -> None:
        widths = column_widths(event.size.width)
        if widths != self.widths:
            self.widths = widths
            keep = self.current_id()
            self._columns()
            self._fill(self.rows, keep)

    # ---- loading -----------------------------------------------------------------------------------------------
    def load(self, keep_id: int | None = None, offset: int = 0) -> None:
        self.token += 1
        self._query(self.token, self.filters, offset, keep_id)

    @work(thread=True, exit_on_error=False, exclusive=True, group="curate-query")
    def _query(self, token: int, filters: Filters, offset: int, keep_id: int | None) -> None:
        try:
            rows = self.store.judged_answers(
                judgement=filters.judgement, adapter=filters.adapter, method=filters.method, used=filters.used,
                search=filters.search or None, limit=PAGE, offset=offset,
            )  # fmt: skip
            held = frozenset(heldout_turn_ids(self.store, self.settings))
        except TuituneError as exc:  # a busy or failing store is a notice; anything else, a logged bug
            self.post_message(self.Failed(str(exc) or exc.__class__.__name__))
            return
        self.post_message(self.Loaded(token, rows, offset, keep_id, held))

    @on(Loaded)
    def loaded(self, event: Loaded) -> None:
        if event.token != self.token:
            return
        self.more = len(event.rows) == PAGE
        self.held = event.held
        if event.offset:
            # A write between two pages shifts the offsets: skip what is shown already.
            shown = {row.message_id for row in self.rows}
            fresh = [row for row in event.rows if row.message_id not in shown]
            self.rows += fresh
            for row in fresh:
                self.table.add_row(*row_cells(row, self.widths, row.prompt_id in self.held), key=str(row.message_id))
        else:
            self.rows = event.rows
            self._fill(self.rows, event.keep_id)
        self._show_filters()
        self.call_after_refresh(self._count)

    def _fill(self, rows: list[CurateRow], keep_id: int | None) -> None:
        table = self.table
        at = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*row_cells(row, self.widths, row.prompt_id in self.held), key=str(row.message_id))
        ids = [row.message_id for row in rows]
        if keep_id in ids:
            table.move_cursor(row=ids.index(keep_id), animate=False)
        elif rows:
            table.move_cursor(row=min(at, len(rows) - 1), animate=False)

    def _count(self) -> None:
        self._counts_worker()

    @work(thread=True, exit_on_error=False, exclusive=True, group="curate-counts")
    def _counts_worker(self) -> None:
        try:
            self.post_message(self.Counted(self.store.curate_counts()))
        except TuituneError as exc:
            self.post_message(self.Failed(str(exc) or exc.__class__.__name__))

    @on(Counted)
    def counted(self, event: Counted) -> None:
        self.counts = event.counts
        self.query_one("#curate-counts", Static).update(counts_text(event.counts, len(self.held)))

    @on(Failed)
    def failed(self, event: Failed) -> None:
        self.notify(one_line(f"curate: {event.error}", 300), severity="error", markup=False)

    @on(DataTable.RowHighlighted, "#curate-table")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.more and event.cursor_row >= len(self.rows) - 1:
            self.more = False
            self.token += 1
            self._query(self.token, self.filters, len(self.rows), None)

    def _show_filters(self) -> None:
        line = Text(no_wrap=True, overflow="ellipsis")
        for name, key in FILTER_KEYS.items():
            line.append(f"{key}", style="bold reverse")
            line.append(f" {'writer' if name == 'adapter' else name}: ")
            line.append(
                one_line(self.filters.describe(name), 20),
                style="bold" if getattr(self.filters, name) is not None else "",
            )
            line.append("  ")
        shown = f"{len(self.rows):,}{'+' if self.more else ''} shown"
        line.append(shown, style="dim")
        self.query_one("#curate-filters", Static).update(line)

    # ---- the selected row --------------------------------------------------------------------------------------
    def current(self) -> CurateRow | None:
        row = self.table.cursor_row
        return self.rows[row] if self.rows and 0 <= row < len(self.rows) else None

    def current_id(self) -> int | None:
        row = self.current()
        return row.message_id if row is not None else None

    # ---- actions -----------------------------------------------------------------------------------------------
    def action_back(self) -> None:
        if self.search.has_focus:
            self.table.focus()
        else:
            self.dismiss(None)

    def action_focus_search(self) -> None:
        self.search.focus()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_cycle(self, name: str) -> None:
        values = CYCLES.get(name) or (None, BASE, *[a.name for a in self.store.adapters()])
        current = getattr(self.filters, name)
        after = values[(values.index(current) + 1) % len(values)] if current in values else None
        changes: dict[str, Any] = {name: after}
        self.filters = replace(self.filters, **changes)
        self._show_filters()
        self.load(self.current_id())

    @on(Input.Changed, "#curate-search")
    def search_changed(self, event: Input.Changed) -> None:
        if self.search_timer is not None:
            self.search_timer.stop()
        self.search_timer = self.set_timer(SEARCH_DELAY_S, self._search_now)

    @on(Input.Submitted, "#curate-search")
    def search_submitted(self, event: Input.Submitted) -> None:
        self._search_now()
        self.table.focus()

    def _search_now(self) -> None:
        if self.search_timer is not None:
            self.search_timer.stop()
            self.search_timer = None
        text = self.search.value.strip()
        if text != self.filters.search:
            self.filters = replace(self.filters, search=text)
            self.load()

    @on(DataTable.RowSelected, "#curate-table")
    def row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        row = self.current()
        if row is None:
            return
        title = f"{row.conversation_title or 'untitled'} · answer {row.message_id}"
        self.app.push_screen(ExchangeScreen(title, exchange_text(self.store.path_to(row.message_id), row.message_id)))

    def action_judge(self, value: str) -> None:
        row = self.current()
        if row is None or row.judgement == value:
            return
        self.store.judge(row.message_id, value)
        self.load(row.message_id)

    def action_exclude(self) -> None:
        row = self.current()
        if row is None:
            return
        self.store.set_excluded(row.message_id, not row.excluded)
        self.load(row.message_id)

    def action_delete(self) -> None:
        row = self.current()
        if row is None:
            return

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            self.store.delete_message(row.message_id)
            self.deleted.append(row.message_id)
            self.notify("deleted · u brings it back (until this screen closes)", markup=False)
            self.load()

        question = f"Delete this answer (and anything under it)? “{one_line(row.answer_excerpt, 40)}”"
        self.app.push_screen(ConfirmScreen(question), confirmed)

    def action_undo(self) -> None:
        if not self.deleted:
            self.notify("nothing to undo", markup=False)
            return
        message_id = self.deleted.pop()
        try:
            self.store.restore_message(message_id)
        except ValueError as exc:
            self.notify(one_line(str(exc), 300), severity="error", markup=False)
            return
        self.load(message_id)

    def action_export(self) -> None:
        open_export(self.app, self.store, self.settings)
