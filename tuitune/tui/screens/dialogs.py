"""Dialogs; each returns its result through `dismiss()` and never reaches into its caller."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, TextArea
from textual.widgets.option_list import Option

from tuitune.textsafe import one_line
from tuitune.tui import keys

# Option ids of "the default" and "type one"; a NUL can never be in a prompt file's name.
DEFAULT, CUSTOM = "\0default", "\0custom"


class EditScreen(ModalScreen[str | None]):
    """Edit a message's text. ctrl+s saves, Esc cancels."""

    BINDINGS = keys.Editor.bindings()

    def __init__(self, title: str, text: str) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide"):
            yield Label(Text(one_line(self.title_text)), classes="dialog-title", markup=False)
            # TextArea shows its text as data: no markup is parsed in it.
            yield TextArea(self.text, id="editor", soft_wrap=True)
            yield Label("ctrl+s save · Esc cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        editor = self.query_one("#editor", TextArea)
        editor.focus()
        editor.move_cursor(editor.document.end)

    def action_save(self) -> None:
        self.dismiss(self.query_one("#editor", TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class RenameScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str) -> None:
        super().__init__(classes="dialog-screen")
        self.current = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Rename conversation", classes="dialog-title")
            yield Input(self.current, id="title")
            yield Label("Enter saves · Esc cancels", classes="dialog-hint")

    @on(Input.Submitted)
    def save(self, event: Input.Submitted) -> None:
        title = event.value.strip()
        self.dismiss(title or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; y or the first button says yes, n / Esc or the second (focused) says no."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Delete (y)", no: str = "Keep (n)") -> None:
        super().__init__(classes="dialog-screen")
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(one_line(self.question)), classes="dialog-title", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text(self.yes), variant="error", id="yes")
                yield Button(Text(self.no), id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class SystemPromptScreen(ModalScreen[str | None]):
    """Pick a prompt file from prompts/system, the default, or type one. Dismisses with the value to store:
    a prompt's name, the typed text, "" for "the default", or None when cancelled."""

    BINDINGS = [
        Binding("ctrl+s", "save_custom", "Save typed", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, names: list[str], current: str | None) -> None:
        super().__init__(classes="dialog-screen")
        self.names, self.current = names, current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide"):
            yield Label("System prompt for this conversation", classes="dialog-title")
            yield Label(Text("now: " + one_line(self.current or "the default", 60)), markup=False)
            options = [Option("the default (from settings)", id=DEFAULT)]
            options += [Option(Text(one_line(name)), id=name) for name in self.names]
            options.append(Option("type one…", id=CUSTOM))
            yield OptionList(*options, id="prompts")
            typed = self.current if self.current and self.current not in self.names else ""
            yield TextArea(typed, id="custom")
            yield Label("Enter picks · ctrl+s saves the typed prompt · Esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#custom", TextArea).display = False
        self.query_one("#prompts", OptionList).focus()

    @on(OptionList.OptionSelected)
    def picked(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == CUSTOM:
            custom = self.query_one("#custom", TextArea)
            custom.display = True
            custom.focus()
        else:
            self.dismiss("" if event.option.id == DEFAULT else event.option.id)

    def action_save_custom(self) -> None:
        custom = self.query_one("#custom", TextArea)
        if custom.display and custom.text.strip():
            self.dismiss(custom.text.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
