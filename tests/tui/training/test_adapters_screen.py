"""The adapters screen (F7) with real LoRA adapters on the embedded model: each key changes the engine and the
store alike, and the table says what is live."""

from __future__ import annotations

import threading

from tuitune.chat.adapters import PREVIOUS
from tuitune.tui.screens.dialogs import ConfirmScreen
from tuitune.tui.training.adapters_screen import AdaptersScreen

from ..helpers import SIZE, screen_text, settle, widget_text
from .conftest import wait_until


async def _select(pilot, screen: AdaptersScreen, name: str) -> None:
    table = screen.query_one("#adapters-table")
    keys = [row.value for row in table.rows]
    table.move_cursor(row=keys.index(name))
    await pilot.pause()


async def test_switch_base_rollback_and_delete(app_for, clean_engine, store, make_adapter):
    app = app_for(clean_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.services.adapters.add(make_adapter("one", seed=1), "one")
        app.services.adapters.add(make_adapter("two", seed=2), "two")
        await pilot.press("f7")
        screen = app.screen
        assert isinstance(screen, AdaptersScreen)
        table = widget_text(app, screen.query_one("#adapters-table"))
        assert "base" in table and "one" in table and "two" in table
        assert "live: base" in screen_text(app)

        await _select(pilot, screen, "one")
        await pilot.press("enter")
        await wait_until(pilot, lambda: clean_engine.active_adapter == "one", 60, "switching to one")
        await wait_until(pilot, lambda: not screen.busy, 10, "the swap to settle")
        assert store.get_setting("active_adapter") == "one" and store.get_setting(PREVIOUS) == ""
        assert "live: one" in screen_text(app)
        assert "one" in widget_text(app, app.chat_screen.status)

        await pilot.press("b")
        await wait_until(pilot, lambda: clean_engine.active_adapter is None and not screen.busy, 30, "base")
        assert store.get_setting("active_adapter") == "" and store.get_setting(PREVIOUS) == "one"

        await pilot.press("r")  # roll back: to the one live before the last switch
        await wait_until(pilot, lambda: clean_engine.active_adapter == "one" and not screen.busy, 30, "roll back")
        assert store.get_setting("active_adapter") == "one"

        await _select(pilot, screen, "two")
        await pilot.press("s")
        await wait_until(pilot, lambda: clean_engine.active_adapter == "two" and not screen.busy, 60, "switch two")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: store.adapter("two") is None and not screen.busy, 30, "deleting two")
        assert "two" not in clean_engine.loaded_adapters and clean_engine.active_adapter is None
        assert store.get_setting("active_adapter") == ""
        assert "two" not in widget_text(app, screen.query_one("#adapters-table"))
        assert "base" in widget_text(app, app.chat_screen.status)

        await pilot.press("escape")
        assert app.screen is app.chat_screen


async def test_the_table_never_renders_markup_from_a_name(app_for, clean_engine, store, make_adapter):
    app = app_for(clean_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.services.adapters.add(make_adapter("one", seed=1), "one")
        adapter = store.adapter("one")
        # a run's reason or a parent's name is data; a name that looks like markup shows as typed
        store.add_adapter("x[b]y", adapter.path, adapter.base_model, method="[red]sft",
                          parent_id=adapter.id, metrics={"final_loss": 1.25}, example_counts={"rows": 7, "good": 7})
        await pilot.press("f7")
        table = widget_text(app, app.screen.query_one("#adapters-table"))
        assert "x[b]y" in table and "[red]sft" in table and "1.250" in table and "7 " in table


async def test_a_swap_made_elsewhere_reaches_the_status_bar_and_the_open_adapters_screen(app_for, clean_engine,
                                                                                          make_adapter):
    """The adapters service announces every change of the live adapter; the app's `adapter_changed` signal carries
    it to the chat screen's status bar and to an open adapters screen, whoever swapped (here a thread, as the
    training panel's worker swaps a finished run in)."""
    app = app_for(clean_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        adapters = app.services.adapters
        adapters.add(make_adapter("one", seed=1), "one")
        await pilot.press("f7")
        assert isinstance(app.screen, AdaptersScreen) and "live: base" in screen_text(app)
        assert app.chat_screen.status.adapter == "base"
        swap = threading.Thread(target=adapters.use, args=("one",))
        swap.start()
        await wait_until(pilot, lambda: not swap.is_alive() and "live: one" in screen_text(app), 60, "the swap")
        await wait_until(pilot, lambda: app.chat_screen.status.adapter == "one", 10, "the status bar hearing it")
        assert "roll back goes to: base" in screen_text(app)
