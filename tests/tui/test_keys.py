"""The key map is written once (tuitune.tui.keys): the bindings, the help screen, the command palette and the
README's table are all made from it, and each of them is checked here against it."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from tuitune.exchange.names import EXPORT_FORMATS
from tuitune.tui import keys
from tuitune.tui.app import TuituneApp, make_app
from tuitune.tui.curate.ab import ABScreen, ContendersScreen
from tuitune.tui.curate.dialogs import ExportScreen
from tuitune.tui.curate.screen import CurateScreen
from tuitune.tui.screens.chat import ChatScreen
from tuitune.tui.screens.dialogs import EditScreen
from tuitune.tui.screens.help import HelpScreen, keys_table
from tuitune.tui.training.adapters_screen import AdaptersScreen
from tuitune.tui.widgets.conversation_list import ConversationList
from tuitune.tui.widgets.message_list import MessageList
from tuitune.tui.widgets.prompt_input import PromptInput

from .helpers import SIZE
from .scripted import ScriptedEngine

README = Path(__file__).resolve().parents[2] / "README.md"
BOUND_BY = {
    keys.Application: TuituneApp,
    keys.Chat: ChatScreen,
    keys.Input: PromptInput,
    keys.Messages: MessageList,
    keys.Conversations: ConversationList,
    keys.Curate: CurateScreen,
    keys.Contenders: ContendersScreen,
    keys.BlindRound: ABScreen,
    keys.Adapters: AdaptersScreen,
    keys.Editor: EditScreen,
}


def named(name: str, text: str) -> bool:
    """`name` stands as a key of its own in `text`: 'e' is named in 'e / u', not in 'Delete'."""
    return re.search(rf"(?<![\w+]){re.escape(name)}(?![\w+])", text) is not None


def help_text() -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(keys_table())
    return console.export_text()


def test_the_readme_holds_the_table_the_source_makes():
    table = keys.markdown()
    assert table.startswith("| where | key | does |") and len(table.splitlines()) > 40
    assert table in README.read_text(encoding="utf-8"), "run `python -m tuitune.tui.keys --markdown` into the README"


def test_the_module_prints_the_readme_table():
    out = subprocess.run([sys.executable, "-m", "tuitune.tui.keys", "--markdown"], capture_output=True, text=True,
                         check=True)
    assert out.stdout == keys.markdown() + "\n"


def test_every_screen_and_widget_binds_the_keys_of_the_source():
    assert set(BOUND_BY) == set(keys.ALL)
    for source, bound in BOUND_BY.items():
        assert source.bindings() == bound.BINDINGS, bound.__name__
    assert [binding.key for binding in ChatScreen.BINDINGS][:3] == ["f1,question_mark", "f2", "f3"]  # footer order


def test_every_row_of_the_help_names_its_keys():
    for section in keys.SECTIONS:
        for row in section.rows:
            for key in row.keys:
                assert named(key.name, row.key_text), (row.key_text, key.keys)


def test_the_help_screen_shows_every_key_of_the_source():
    table = keys_table()
    expected = [(f"[u]{section.title}[/u]", "") for section in keys.SECTIONS]
    rows = list(zip(table.columns[0].cells, table.columns[1].cells, strict=True))
    assert [row for row in rows if row[0].startswith("[u]")] == expected
    assert [row for row in rows if not row[0].startswith("[u]")] == [
        (row.key_text, row.does) for section in keys.SECTIONS for row in section.rows]
    # The table's own text: the screen cuts a long section title (shift+tab lives in one) to the key column.
    text = "\n".join(" ".join(row) for row in rows)
    assert "ctrl+q" in help_text() and "judge the selected answer good / bad" in help_text()
    unnamed = [f"{source.__name__}.{key.keys}" for source in keys.ALL for key in source.all()
               if not named(key.name, text)]
    assert unnamed == []


def test_a_key_is_spoken_as_the_help_writes_it():
    assert [keys.spoken(k) for k in ("f5", "shift+f5", "escape", "question_mark", "ctrl+f", "slash")] == [
        "F5", "shift+F5", "Esc", "?", "ctrl+f", "/"]
    assert keys.either(keys.Messages.GOOD) == "g or +" and keys.also(keys.Input.NEWLINE) == "shift+enter / alt+enter"


async def test_the_palette_is_made_from_the_source_and_runs_the_keys_actions(settings, store):
    app = make_app(settings, store=store, engine=ScriptedEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        offered = {command.title: command for command in app.get_system_commands(app.chat_screen)}
        for command in keys.COMMANDS:
            assert offered[command.title].help == command.text
            if command.key is not None:  # the help names the key that does the same
                assert f"({command.key.name}" in offered[command.title].help
        assert offered["Judge good"].help == "Mark the selected answer good (F2)"
        assert all(fmt in offered["Export"].help for fmt in EXPORT_FORMATS)

        await offered["Keys"].callback()  # the action F1 runs
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await offered["Export"].callback()  # an action of the app's, no key
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        options = app.screen.query_one("#export-formats").options
        assert [option.id for option in options] == list(EXPORT_FORMATS)
