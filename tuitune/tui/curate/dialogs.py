"""The curate feature's dialogs: the full exchange behind an answer, and export (format and path); each returns
through `dismiss()`. `open_export` runs the chosen export in a thread worker and says where the file went."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tuitune.config import Settings
from tuitune.errors import TuituneError
from tuitune.exchange.names import EXPORT_DESCRIPTIONS, EXPORT_FORMATS
from tuitune.store import Store
from tuitune.textsafe import one_line


class ExchangeScreen(ModalScreen[None]):
    """The whole exchange down to one answer, as plain text."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, title: str, text: Text) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide -tall"):
            yield Label(Text(one_line(self.title_text)), classes="dialog-title", markup=False)
            with VerticalScroll(id="exchange"):
                yield Static(self.text, markup=False)
            yield Label("Esc closes · up/down scroll", classes="dialog-hint")

    def on_mount(self) -> None:
        scroll = self.query_one("#exchange", VerticalScroll)
        scroll.focus()
        scroll.scroll_end(animate=False, immediate=True)

    def action_close(self) -> None:
        self.dismiss(None)


def default_path(fmt: str) -> Path:
    return Path.home() / f"tuitune-export-{fmt}.jsonl"


class ExportScreen(ModalScreen[tuple[str, Path] | None]):
    """Pick a format and a file (.jsonl, or .parquet by extension). Dismisses with (format, path)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, fmt: str = EXPORT_FORMATS[0]) -> None:
        super().__init__(classes="dialog-screen")
        self.fmt = fmt

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide"):
            yield Label("Export the judged data", classes="dialog-title")
            options = [Option(Text(f"{fmt:<14}{EXPORT_DESCRIPTIONS[fmt]}"), id=fmt) for fmt in EXPORT_FORMATS]
            yield OptionList(*options, id="export-formats")
            yield Input(str(default_path(self.fmt)), id="export-path")
            yield Label(
                "up/down format · Enter exports to the path (.parquet for Parquet) · Esc cancels", classes="dialog-hint"
            )

    def on_mount(self) -> None:
        formats = self.query_one("#export-formats", OptionList)
        formats.highlighted = EXPORT_FORMATS.index(self.fmt)
        formats.focus()

    @on(OptionList.OptionHighlighted, "#export-formats")
    def highlighted(self, event: OptionList.OptionHighlighted) -> None:
        fmt = event.option.id or self.fmt
        path = self.query_one("#export-path", Input)
        if Path(path.value).expanduser() == default_path(self.fmt):  # a path the user typed is kept
            path.value = str(default_path(fmt))
        self.fmt = fmt

    @on(OptionList.OptionSelected, "#export-formats")
    def selected(self, event: OptionList.OptionSelected) -> None:
        self.fmt = event.option.id or self.fmt
        self._done()

    @on(Input.Submitted, "#export-path")
    def submitted(self, event: Input.Submitted) -> None:
        self._done()

    def _done(self) -> None:
        value = self.query_one("#export-path", Input).value.strip()
        if not value:
            self.notify("type a path to write to", severity="warning", markup=False)
            return
        self.dismiss((self.fmt, Path(value).expanduser()))

    def action_cancel(self) -> None:
        self.dismiss(None)


def open_export(app: App, store: Store, settings: Settings) -> None:
    """Ask for a format and a path, then export in a thread worker owned by the app (it outlives the screen)."""

    def chosen(choice: tuple[str, Path] | None) -> None:
        if choice is not None:
            fmt, path = choice
            app.run_worker(
                lambda: _export(app, store, settings, fmt, path),
                thread=True,
                group="export",
                exit_on_error=False,
                name=f"export {fmt}",
            )

    app.push_screen(ExportScreen(), chosen)


def _export(app: App, store: Store, settings: Settings, fmt: str, path: Path) -> None:
    from tuitune.exchange import export

    try:
        count = export(store, settings, fmt, path)
    except TuituneError as exc:  # an unwritable path or an empty Parquet export: a notice, never a traceback
        message, severity = f"export failed: {exc}", "error"
    else:
        message, severity = f"exported {count:,} {fmt} records to {path}", "information"
    app.call_from_thread(app.notify, one_line(message, 300), severity=severity, markup=False, timeout=10)
