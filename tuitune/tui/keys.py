"""Every key of the app, written once. The screens' and widgets' BINDINGS, the help screen's table (F1), the command
palette's entries (ctrl+p) and the README's keys table are all made from this module.

Each class holds one screen's or widget's keys in the order its footer shows them; the help's sections name those
keys in the order people learn them. `python -m tuitune.tui.keys --markdown` prints the README's table, and
tests/tui/test_keys.py checks that the README holds it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from tuitune.exchange.names import EXPORT_FORMATS

# Textual's names for keys that people call something else.
_SPOKEN = {
    "escape": "Esc",
    "enter": "Enter",
    "delete": "Delete",
    "question_mark": "?",
    "slash": "/",
    "plus": "+",
    "minus": "-",
}


def spoken(key: str) -> str:
    """A Textual key as the help and the palette write it: escape is Esc, f5 is F5, shift+f5 is shift+F5."""
    return _SPOKEN.get(key) or re.sub(r"(?<![a-z])f(\d+)$", r"F\1", key)


@dataclass(frozen=True)
class Key:
    """One binding: the keys Textual matches (the first is the one people are told), the action and the footer's
    label; `display` is the footer's name for the key where Textual's own is not the one wanted. `browser` is the
    key told in a browser (`tuitune web`) where a desktop browser keeps the first for itself; it is bound too."""

    keys: str
    action: str
    label: str
    show: bool = True
    priority: bool = False
    display: str | None = None
    browser: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """Every key that does this, as Textual names them."""
        names = tuple(self.keys.split(","))
        return names if not self.browser or self.browser in names else (*names, self.browser)

    @property
    def name(self) -> str:
        """The key people are told about."""
        return spoken(self.names[0])

    def binding(self) -> Binding:
        return Binding(
            ",".join(self.names),
            self.action,
            self.label,
            show=self.show,
            key_display=self.display,
            priority=self.priority,
        )


class Keys:
    """The keys of one screen or widget, as class attributes in footer order."""

    @classmethod
    def all(cls) -> list[Key]:
        return [value for value in vars(cls).values() if isinstance(value, Key)]

    @classmethod
    def bindings(cls) -> list[BindingType]:  # the type BINDINGS is declared with
        return [key.binding() for key in cls.all()]


def either(key: Key, between: str = " or ") -> str:
    """All the keys that do one thing: 'g or +'."""
    return between.join(spoken(name) for name in key.names)


def also(key: Key) -> str:
    """The keys that do the same as the first: 'shift+enter / alt+enter'."""
    return " / ".join(spoken(name) for name in key.names[1:])


def in_browser(key: Key) -> str:
    """' (ctrl+o in a browser)' for a key a desktop browser keeps for itself, else ''."""
    return f" ({spoken(key.browser)} in a browser)" if key.browser else ""


def browser_key(key: str) -> str | None:
    """The key told in a browser instead of `key` (a Textual key name), where a desktop browser keeps `key`."""
    return _BROWSER.get(key)


# ---- the keys, one class per screen or widget ----------------------------------------------------------------------
# A desktop browser keeps some keys for itself, so a page never sees them: Chromium ctrl+n, ctrl+t, ctrl+w (and with
# shift, ctrl+tab, ctrl+page up/down, ctrl+shift+q); Firefox on Linux ctrl+q as well. Under `tuitune web` the footer
# and the palette tell each such key's `browser` key instead. F-keys reach the page (xterm.js takes them).
class Application(Keys):
    QUIT = Key("ctrl+q", "quit", "Quit", priority=True, browser="f10")  # F10 quits htop and mc too


class Chat(Keys):
    # F-keys are priority bindings: they act from anywhere, even where a widget has its own use for them
    # (TextArea binds f6/f7).
    HELP = Key("f1,question_mark", "help", "Help")
    GOOD = Key("f2", "judge('good')", "Good", priority=True)
    BAD = Key("f3", "judge('bad')", "Bad", priority=True)
    REGENERATE = Key("f4", "regenerate", "Regen", priority=True)
    STOP = Key("escape", "stop", "Stop")
    # F5's face when nothing was judged since the last run: the screen's check_action shows this one, dimmed, or
    # hides it; it never runs, so F5 falls through to TRAIN (which trains anyway, or says why not).
    TRAIN_NOTHING_NEW = Key("f5", "nothing_new_to_train", "Train (0 new)", priority=True)
    TRAIN = Key("f5", "train", "Train", priority=True)
    TRAIN_OPTIONS = Key("ctrl+t,shift+f5", "train_options", "Train…", show=False, priority=True, browser="shift+f5")
    TRAINING_PANEL = Key("ctrl+r", "toggle_training", "Run panel", show=False, priority=True)
    ADAPTERS = Key("f7", "adapters", "Adapters", show=False, priority=True)
    SYSTEM_PROMPT = Key("f6", "system_prompt", "System prompt", show=False, priority=True)
    CURATE = Key("f8", "curate", "Curate", show=False, priority=True)
    AB_TEST = Key("f9", "ab_test", "A/B", show=False, priority=True)
    AB_NEW = Key("ctrl+b", "ab_new", "A/B new adapter", show=False, priority=True)
    NEW = Key("ctrl+n", "new_conversation", "New", browser="ctrl+o")
    LIST = Key("ctrl+s", "toggle_conversations", "List")


class Input(Keys):
    """The prompt input handles Enter and the newline keys itself (see PromptInput); these bindings are for the
    footer and the help."""

    SEND = Key("enter", "submit", "Send")
    NEWLINE = Key("ctrl+j,shift+enter,alt+enter", "newline", "Newline", show=False, display="^j")
    TO_MESSAGES = Key("tab", "screen.focus_messages", "Messages", show=False)
    TO_CONVERSATIONS = Key("shift+tab", "screen.focus_conversations", "Conversations", show=False)


class Messages(Keys):
    UP = Key("up", "move(-1)", "Up", show=False)
    DOWN = Key("down", "move(1)", "Down", show=False)
    GOOD = Key("g,plus", "screen.judge('good')", "Good")
    BAD = Key("b,minus", "screen.judge('bad')", "Bad")
    EDIT = Key("e", "screen.edit", "Edit")
    REGENERATE = Key("r", "screen.regenerate", "Regen")
    PREVIOUS = Key("left", "screen.sibling(-1)", "◀ Sibling", display="←")
    NEXT = Key("right", "screen.sibling(1)", "Sibling ▶", display="→")
    TO_INPUT = Key("tab,i", "screen.focus_input", "Input", display="tab")


class Conversations(Keys):
    NEW = Key("n", "screen.new_conversation", "New")
    RENAME = Key("r", "screen.rename_conversation", "Rename")
    DELETE = Key("d,delete", "screen.delete_conversation", "Delete")
    TO_INPUT = Key("tab,i", "screen.focus_input", "Input", display="tab")


class Curate(Keys):
    BACK = Key("escape", "back", "Back")
    SEARCH = Key("slash", "focus_search", "Search", display="/")
    OPEN = Key("enter,o", "open", "Open", show=False)
    GOOD = Key("g", "judge('good')", "Good")
    BAD = Key("b", "judge('bad')", "Bad")
    EXCLUDE = Key("x", "exclude", "Exclude")
    DELETE = Key("d,delete", "delete", "Delete")
    UNDO = Key("u", "undo", "Undo")
    EXPORT = Key("e", "export", "Export")
    JUDGED = Key("j", "cycle('judgement')", "Judged", show=False)
    WRITER = Key("w", "cycle('adapter')", "Writer", show=False)
    METHOD = Key("m", "cycle('method')", "Method", show=False)
    USED = Key("n", "cycle('used')", "Used", show=False)
    HELP = Key("f1,question_mark", "help", "Help")


class Contenders(Keys):
    START = Key("s,ctrl+s", "start", "Start", priority=True)
    CANCEL = Key("escape", "cancel", "Cancel")


class BlindRound(Keys):
    A = Key("1,a", "pick('A')", "A better")
    B = Key("2,b", "pick('B')", "B better")
    TIE = Key("3,t", "pick('tie')", "Tie")
    BOTH_BAD = Key("4,x", "pick('both_bad')", "Both bad")
    CONTINUE = Key("enter", "close", "Continue", show=False)
    CANCEL = Key("escape", "cancel", "Cancel")


class Adapters(Keys):
    SWITCH = Key("s", "switch", "Switch")
    PROMOTE = Key("p", "promote", "Promote")
    ROLLBACK = Key("r", "rollback", "Roll back")
    BASE = Key("b", "base", "Base")
    DELETE = Key("d,delete", "delete", "Delete")
    BACK = Key("escape,q,f7", "close", "Back")


class Editor(Keys):
    SAVE = Key("ctrl+s", "save", "Save", priority=True)
    CANCEL = Key("escape", "cancel", "Cancel")


ALL: tuple[type[Keys], ...] = (
    Application,
    Chat,
    Input,
    Messages,
    Conversations,
    Curate,
    Contenders,
    BlindRound,
    Adapters,
    Editor,
)
_BROWSER = {key.names[0]: key.browser for source in ALL for key in source.all() if key.browser}


# ---- the help screen and the README ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One line of the help: what `keys` do. The key column names each one's first key, unless `shown` says more
    (every key, or a key a Textual widget binds itself)."""

    keys: tuple[Key, ...]
    does: str
    shown: str = ""

    @property
    def key_text(self) -> str:
        return self.shown or " / ".join(dict.fromkeys(key.name for key in self.keys))


@dataclass(frozen=True)
class Section:
    title: str
    rows: tuple[Row, ...]


SECTIONS = (
    Section(
        "Anywhere",
        (
            Row((Input.SEND,), "send the message (in the input)"),
            Row((Input.NEWLINE,), f"new line in the input (also {also(Input.NEWLINE)} where the terminal sends them)"),
            Row(
                (Chat.GOOD, Chat.BAD),
                "judge the selected answer good / bad (the latest when none is selected); again clears",
            ),
            Row((Chat.REGENERATE,), "regenerate the selected answer (a new sibling)"),
            Row((Chat.STOP,), "stop generating; the partial answer is kept, marked stopped"),
            Row(
                (Chat.TRAIN, Chat.TRAIN_NOTHING_NEW),
                "train an adapter now on your judgements (train.method, auto by default); while training: cancel; "
                f"dimmed as “{Chat.TRAIN_NOTHING_NEW.label}” while nothing was judged since the last run",
                Chat.TRAIN.name,
            ),
            Row(
                (Chat.TRAIN_OPTIONS,),
                f"train with options: method, epochs, max steps, learning rate (also {also(Chat.TRAIN_OPTIONS)}, "
                "in a browser too)",
            ),
            Row((Chat.TRAINING_PANEL,), "show / hide the training panel (progress, loss curve, ETA)"),
            Row((Chat.ADAPTERS,), "adapters: switch, promote, roll back, base, delete"),
            Row((Chat.SYSTEM_PROMPT,), "system prompt of this conversation"),
            Row((Chat.CURATE,), "curate: every judged answer, filtered and searched"),
            Row((Chat.AB_TEST,), "blind A/B: two adapters (or one and base) answer the selected or latest turn"),
            Row(
                (Chat.AB_NEW,),
                "blind A/B of the last run's adapter against the model live before it, on your held-out prompts",
            ),
            Row((Chat.NEW,), f"new conversation{in_browser(Chat.NEW)}"),
            Row((Chat.LIST,), "show / hide the conversation list"),
            Row((), "command palette (every action by name)", App.COMMAND_PALETTE_BINDING),
            Row((Chat.HELP, Curate.HELP), "this help", either(Chat.HELP, " / ")),
            Row((Application.QUIT,), f"quit: an answer in flight is stopped and kept{in_browser(Application.QUIT)}"),
        ),
    ),
    Section(
        f"Messages ({Input.TO_MESSAGES.name} from the input)",
        (
            Row((Messages.UP, Messages.DOWN), "select a message"),
            Row((Messages.GOOD,), "judge good (again clears)", either(Messages.GOOD)),
            Row((Messages.BAD,), "judge bad (again clears)", either(Messages.BAD)),
            Row(
                (Messages.EDIT,),
                "edit: an answer becomes a good sibling of the original (a pair); a question starts a new branch",
            ),
            Row((Messages.REGENERATE,), "regenerate the answer"),
            Row((Messages.PREVIOUS, Messages.NEXT), "browse siblings (the 2/3 in the header)"),
            Row((Messages.TO_INPUT,), "back to the input", either(Messages.TO_INPUT)),
        ),
    ),
    Section(
        f"Conversations ({Input.TO_CONVERSATIONS.name})",
        (
            Row((), "open", "Enter"),  # the list's own key
            Row((Conversations.NEW,), "new"),
            Row((Conversations.RENAME,), "rename"),
            Row((Conversations.DELETE,), "delete (asks first)", either(Conversations.DELETE, " / ")),
        ),
    ),
    Section(
        f"Curate ({Chat.CURATE.name})",
        (
            Row((Curate.SEARCH,), f"search prompts and answers ({Curate.BACK.name} back to the table)"),
            Row(
                (Curate.JUDGED, Curate.WRITER, Curate.METHOD, Curate.USED),
                "cycle the filters: judgement, writer (adapter), method, used",
            ),
            Row((Curate.OPEN,), "the full exchange", either(Curate.OPEN)),
            Row((Curate.GOOD, Curate.BAD), "re-judge good / bad"),
            Row((Curate.EXCLUDE,), "exclude from training, or include again"),
            Row(
                (Curate.DELETE,),
                f"delete (asks first); {Curate.UNDO.name} undoes until the screen closes",
                either(Curate.DELETE, " / "),
            ),
            Row((Curate.EXPORT,), "export (also in the command palette)"),
            Row((Curate.BACK,), "back to the chat"),
        ),
    ),
    Section(
        f"Blind A/B ({Chat.AB_TEST.name})",
        (
            # space is the list's own key
            Row((Contenders.START,), "pick two contenders, start", f"space, {Contenders.START.name}"),
            Row(
                (BlindRound.A, BlindRound.B),
                "A is better / B is better",
                f"{either(BlindRound.A, '/')} {either(BlindRound.B, '/')}",
            ),
            Row(
                (BlindRound.TIE, BlindRound.BOTH_BAD),
                f"a tie / both bad; then who was who, and {BlindRound.CONTINUE.name} continues from the chosen",
                f"{either(BlindRound.TIE, '/')} {either(BlindRound.BOTH_BAD, '/')}",
            ),
            Row((Contenders.CANCEL, BlindRound.CANCEL), "stop, or skip the pick"),
        ),
    ),
    Section(
        f"Adapters ({Chat.ADAPTERS.name})",
        (
            Row((Adapters.SWITCH,), "switch to the selected adapter (or base)", f"Enter or {Adapters.SWITCH.name}"),
            Row((Adapters.PROMOTE,), "promote the selected adapter anyway: live although training held it back"),
            Row((Adapters.ROLLBACK,), "roll back to the one live before the last switch"),
            Row((Adapters.BASE,), "the base model"),
            Row((Adapters.DELETE,), "delete the selected adapter (asks first)", either(Adapters.DELETE, " / ")),
            Row((Adapters.BACK,), "back to the chat"),
        ),
    ),
    Section(
        "Editor",
        (
            Row((Editor.SAVE,), "save"),
            Row((Editor.CANCEL,), "cancel"),
        ),
    ),
)


def markdown() -> str:
    """The README's keys table: a section's title in the first of its rows."""
    lines = ["| where | key | does |", "| --- | --- | --- |"]
    for section in SECTIONS:
        for index, row in enumerate(section.rows):
            cells = (section.title if index == 0 else "", row.key_text, row.does)
            lines.append("|" + "|".join(_cell(text) for text in cells) + "|")
    return "\n".join(lines)


def _cell(text: str) -> str:
    escaped = text.replace("|", r"\|")
    return f" {escaped} " if text else " "


# ---- the command palette ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    """An entry of the command palette on the chat screen. It runs `key`'s action, or `action` where given; the help
    ends with the key's name (and `when`, where the key does this only at times)."""

    title: str
    help: str
    key: Key | None = None
    action: str = ""  # an action of the chat screen, or app.<name>
    when: str = ""

    @property
    def text(self) -> str:
        return self.told(in_a_browser=False)

    def told(self, in_a_browser: bool) -> str:
        """The help, ending with the key people are told: in a browser, the key it leaves to the page."""
        if self.key is None:
            return self.help
        name = spoken(self.key.browser) if in_a_browser and self.key.browser else self.key.name
        return f"{self.help} ({' '.join(part for part in (name, self.when) if part)})"


COMMANDS = (
    Command("New conversation", "Start a new conversation", Chat.NEW),
    Command("Rename conversation", "Rename the open conversation", action="rename_conversation"),
    Command("Delete conversation", "Delete the open conversation (asks first)", action="delete_conversation"),
    Command("System prompt", "Pick or type this conversation's system prompt", Chat.SYSTEM_PROMPT),
    Command("Toggle conversation list", "Show or hide the list", Chat.LIST),
    Command("Judge good", "Mark the selected answer good", Chat.GOOD),
    Command("Judge bad", "Mark the selected answer bad", Chat.BAD),
    Command("Edit message", "Edit the selected message", Messages.EDIT),
    Command("Regenerate answer", "A new sibling answer", Chat.REGENERATE),
    Command("Stop generating", "Stop the answer in flight", Chat.STOP),
    Command("Curate judged answers", "Filter, search, re-judge, exclude, delete", Chat.CURATE),
    Command("Blind A/B", "Two adapters (or one and base) answer the latest turn blind", Chat.AB_TEST),
    Command(
        "A/B the new adapter",
        "The last run's adapter against the one before it, blind, on held-out prompts",
        Chat.AB_NEW,
    ),
    Command("Export", f"Judged data as {' / '.join(EXPORT_FORMATS)} JSONL or Parquet", action="app.export"),
    Command("Train now", "Train an adapter on your judgements with train.method", Chat.TRAIN),
    Command("Train with options…", "Pick the method, epochs, max steps, lr", Chat.TRAIN_OPTIONS),
    Command(
        "Cancel training", "Stop the run in progress; nothing is saved", Chat.TRAIN, "cancel_training", "while training"
    ),
    Command("Training panel", "Show or hide the training panel", Chat.TRAINING_PANEL),
    Command("Before / after", "The last run's answers before and after the swap", action="before_after"),
    Command("Adapters", "Switch, roll back, use the base, delete", Chat.ADAPTERS),
    Command("Keys", "Every key binding", Chat.HELP),
)


def palette(app: App, chat: Screen) -> Iterator[SystemCommand]:
    """The palette's entries for the chat screen; each runs its action as its key would."""
    for command in COMMANDS:
        action = command.action or (command.key.action if command.key else "")
        run = partial(app.run_action, action, chat, {"screen": chat})
        yield SystemCommand(command.title, command.told(in_a_browser=app.is_web), run)


if __name__ == "__main__":
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m tuitune.tui.keys --markdown  (prints the README's keys table)")
    print(markdown())
