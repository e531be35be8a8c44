"""The curate screen driven by keys: filters, search, re-judge, exclude, delete and undo, the exchange view and
export; each test checks the store and what the table shows. The screen never runs the model, so a scripted
engine stands in for it."""

from __future__ import annotations

import json

from textual.widgets import DataTable, Input

from tuitune.tui.app import make_app
from tuitune.tui.curate.ab import ContendersScreen
from tuitune.tui.curate.dialogs import ExchangeScreen, ExportScreen
from tuitune.tui.curate.screen import PAGE, CurateScreen
from tuitune.tui.screens.dialogs import ConfirmScreen

from ..helpers import screen_text, settle, widget_text
from ..scripted import ScriptedEngine
from .conftest import ADVERSARIAL

SIZE = (120, 30)


async def open_curate(pilot) -> CurateScreen:
    await settle(pilot)
    await pilot.press("f8")
    await settled(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, CurateScreen)
    return screen


async def settled(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def shown_ids(screen: CurateScreen) -> list[int]:
    table = screen.query_one(DataTable)
    return [int(table.coordinate_to_cell_key((row, 0)).row_key.value) for row in range(table.row_count)]


def row_texts(screen: CurateScreen) -> dict[int, str]:
    table = screen.query_one(DataTable)
    return {mid: " | ".join(str(cell) for cell in table.get_row(str(mid))) for mid in shown_ids(screen)}


async def move_to(pilot, screen: CurateScreen, message_id: int) -> None:
    screen.query_one(DataTable).move_cursor(row=shown_ids(screen).index(message_id))
    await pilot.pause()


def app_with(settings, store):
    return make_app(settings, store=store, engine=ScriptedEngine(), continue_latest=True)


async def test_table_lists_every_judged_answer_with_what_it_feeds_and_the_counts(settings, store, judged):
    app = app_with(settings, store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_curate(pilot)
        assert shown_ids(screen) == [judged["adversarial"], judged["volcano"], judged["pair_bad"], judged["pair_good"]]
        rows = row_texts(screen)
        conversation, prompt, answer, judgement, writer, date, feeds, used = rows[judged["pair_good"]].split(" | ")
        assert (conversation, judgement, writer, feeds, used) == ("Printing", "good", "base", "SDK", "")
        assert prompt.startswith("Who invented the") and answer == "Johannes Gutenberg, around 1440."
        assert date == store.message(judged["pair_good"]).created_at[5:10]
        assert " | bad | base | " in rows[judged["pair_bad"]] and "| ·DK |" in rows[judged["pair_bad"]]
        assert " | good | tldr-1 | " in rows[judged["volcano"]] and "| S·K |" in rows[judged["volcano"]]
        counts = widget_text(app, screen.query_one("#curate-counts"))
        assert "4 judged" in counts and "SFT 2" in counts and "DPO 1 pairs (2 answers)" in counts
        assert "KTO 4: 2 good / 2 bad (50% good)" in counts


async def test_filters_cycle_by_key_and_show_in_the_filter_bar(settings, store, judged):
    app = app_with(settings, store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_curate(pilot)
        await pilot.press("j")  # judgement: good
        await settled(pilot)
        assert set(shown_ids(screen)) == {judged["pair_good"], judged["volcano"]}
        assert "judgement: good" in widget_text(app, screen.query_one("#curate-filters"))
        await pilot.press("j", "m")  # judgement: bad, method: sft
        await settled(pilot)
        assert shown_ids(screen) == []
        await pilot.press("j", "m")  # judgement: all, method: dpo
        await settled(pilot)
        assert set(shown_ids(screen)) == {judged["pair_good"], judged["pair_bad"]}
        await pilot.press("m", "m", "w")  # method: all; writer: base
        await settled(pilot)
        assert judged["volcano"] not in shown_ids(screen) and len(shown_ids(screen)) == 3
        await pilot.press("w")  # writer: tldr-1
        await settled(pilot)
        assert shown_ids(screen) == [judged["volcano"]]
        assert "writer: tldr-1" in widget_text(app, screen.query_one("#curate-filters"))
        await pilot.press("w", "n")  # writer: all; used: used (no run has trained yet)
        await settled(pilot)
        assert shown_ids(screen) == []
        await pilot.press("n")  # used: not used
        await settled(pilot)
        assert len(shown_ids(screen)) == 4


async def test_search_is_debounced_and_matches_prompts_and_answers(settings, store, judged):
    app = app_with(settings, store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_curate(pilot)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"printing")  # words of the prompt find both of its answers
        assert len(shown_ids(screen)) == 4  # not yet: the query waits until typing pauses
        await pilot.pause(0.4)
        await settled(pilot)
        assert set(shown_ids(screen)) == {judged["pair_good"], judged["pair_bad"]}
        screen.query_one(Input).value = "magma"
        await pilot.press("enter")  # Enter searches at once and goes back to the table
        await settled(pilot)
        assert shown_ids(screen) == [judged["volcano"]]
        assert isinstance(app.focused, DataTable)
        await pilot.press("escape")  # back in the chat; the chat still works
        assert app.screen is app.chat_screen


async def test_rejudge_and_exclude_write_the_store_and_update_the_row(settings, store, judged):
    app = app_with(settings, store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_curate(pilot)
        pair_good = judged["pair_good"]
        await move_to(pilot, screen, pair_good)
        await pilot.press("b")
        await settled(pilot)
        assert store.message(pair_good).judgement == "bad"
        assert " | bad | " in row_texts(screen)[pair_good] and "| ·· K |" not in row_texts(screen)[pair_good]
        assert "| ··K |" in row_texts(screen)[pair_good]  # no longer in a pair, no longer SFT
        assert screen.current_id() == pair_good  # the cursor stays on the row
        assert "DPO 0 pairs" in widget_text(app, screen.query_one("#curate-counts"))
        await pilot.press("g")
        await settled(pilot)
        assert store.message(pair_good).judgement == "good" and "| SDK |" in row_texts(screen)[pair_good]
        await pilot.press("x")
        await settled(pilot)
        assert store.message(pair_good).excluded
        assert "| excl |" in row_texts(screen)[pair_good]
        assert "1 excluded" in widget_text(app, screen.query_one("#curate-counts"))
        assert "SFT 1" in widget_text(app, screen.query_one("#curate-counts"))
        await pilot.press("x")
        await settled(pilot)
        assert not store.message(pair_good).excluded and "| SDK |" in row_texts(screen)[pair_good]


async def test_delete_asks_then_undo_brings_it_back_until_the_screen_closes(settings, store, judged):
    app = app_with(settings, store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_curate(pilot)
        volcano = judged["volcano"]
        await move_to(pilot, screen, volcano)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # kept
        await settled(pilot)
        assert store.message(volcano).deleted_at is None and volcano in shown_ids(screen)
        await pilot.press("d", "y")
        await settled(pilot)
        assert store.message(volcano).deleted_at is not None and volcano not in shown_ids(screen)
        assert "3 judged" in widget_text(app, screen.query_one("#curate-counts"))
        await pilot.press("u")
        await settled(pilot)
        assert store.message(volcano).deleted_at is None and volcano in shown_ids(screen)
        assert screen.current_id() == volcano
        await pilot.press("d", "y")
        await settled(pilot)
        await pilot.press("escape")  # closing the screen forgets the undo
        await settle(pilot)
        screen = await open_curate(pilot)
        await pilot.press("u")
        await settled(pilot)
        assert store.message(volcano).deleted_at is not None and volcano not in shown_ids(screen)


async def test_enter_opens_the_full_exchange(settings, store, judged):
    app = app_with(settings, store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_curate(pilot)
        await move_to(pilot, screen, judged["pair_bad"])
        await pilot.press("enter")
        assert isinstance(app.screen, ExchangeScreen)
        text = screen_text(app)
        assert "Who invented the printing press?" in text and "Thomas Edison invented it." in text
        assert "Gutenberg" not in text  # only the path to this answer, not its sibling
        await pilot.press("escape")
        assert app.screen is screen


async def test_adversarial_answer_shows_literally_in_the_table_and_the_exchange(settings, store, judged):
    app = app_with(settings, store)
    async with app.run_test(size=(200, 30)) as pilot:
        screen = await open_curate(pilot)
        text = screen_text(app)
        assert "[@click=app.quit]x[/] \\x1b[31mred\\x1b[0m \\x1b]0;pwned\\x07 [bold]loud[/bold]" in text
        assert "\x1b" not in text
        await move_to(pilot, screen, judged["adversarial"])
        await pilot.press("enter")
        text = screen_text(app)
        assert "[@click=app.quit]x[/]" in text and "\\x1b]0;pwned\\x07" in text and "\x1b" not in text
        assert store.message(judged["adversarial"]).content == ADVERSARIAL
        await pilot.press("escape")
        assert app.is_running


async def test_export_from_the_curate_screen_writes_a_file_datasets_loads(settings, store, judged, tmp_path):
    app = app_with(settings, store)
    out = tmp_path / "out" / "pairs.jsonl"
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_curate(pilot)
        await pilot.press("e")
        assert isinstance(app.screen, ExportScreen)
        await pilot.press("down")  # sft -> dpo
        path = app.screen.query_one(Input)
        assert path.value.endswith("tuitune-export-dpo.jsonl")
        path.value = str(out)
        path.focus()
        await pilot.press("enter")
        await settled(pilot)
        assert isinstance(app.screen, CurateScreen)
        assert "exported 1 dpo records to" in screen_text(app)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["chosen"][-1]["content"] == "Johannes Gutenberg, around 1440."
    from datasets import load_dataset

    dataset = load_dataset("json", data_files=str(out), split="train")
    assert dataset.num_rows == 1 and set(dataset.column_names) >= {"prompt", "chosen", "rejected"}


async def test_pages_load_as_the_cursor_reaches_the_end(settings, store):
    c = store.new_conversation("Many")
    for number in range(PAGE + 5):
        q = store.add_message(c, "user", f"question {number}")
        store.judge(store.add_message(c, "assistant", f"answer {number}", q), "good")
    app = app_with(settings, store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_curate(pilot)
        assert len(shown_ids(screen)) == PAGE
        assert f"{PAGE}+ shown" in widget_text(app, screen.query_one("#curate-filters"))
        await pilot.press("ctrl+end")
        await settled(pilot)
        assert len(shown_ids(screen)) == PAGE + 5 and len(set(shown_ids(screen))) == PAGE + 5
        assert f"{PAGE + 5} judged" in widget_text(app, screen.query_one("#curate-counts"))


async def test_the_new_keys_are_in_the_help_and_the_palette_not_the_crowded_footer(settings, store, judged):
    app = app_with(settings, store)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.chat_screen)]
        assert {"Curate judged answers", "Blind A/B", "Export"} <= set(titles)
        footer = screen_text(app).splitlines()[-1]
        assert "f5 Train" in footer and "f8" not in footer  # the footer keeps to the keys of the loop
        await pilot.press("f1")
        text = screen_text(app)
        assert "curate: every judged answer" in text and "blind A/B" in text and "u undoes" in text
        await pilot.press("escape", "f9")  # with one adapter: it against the base
        await pilot.pause()
        assert isinstance(app.screen, ContendersScreen)
        assert "picked: base vs tldr-1" in screen_text(app)
        await pilot.press("escape")
        assert app.screen is app.chat_screen


async def test_ab_without_an_adapter_says_what_it_needs(settings, store):
    app = app_with(settings, store)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("f9")  # nothing sent yet
        await pilot.pause()
        assert "send a message first" in screen_text(app)
        c = app.chat_screen.conversation_id
        store.add_message(c, "user", "Hello?")
        await pilot.press("f9")
        await pilot.pause()
        assert app.screen is app.chat_screen and "A/B needs an adapter" in screen_text(app)
