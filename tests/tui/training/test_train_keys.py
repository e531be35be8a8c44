"""F5 and the training panel against the real trainer process and the embedded model: nothing to train, the train
dialog, cancel, and a run started outside the app that the app reattaches to and swaps in."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from tuitune.exchange import import_files
from tuitune.training import start_run
from tuitune.tui.screens.dialogs import ConfirmScreen
from tuitune.tui.training.dialogs import (
    BeforeAfterScreen,
    TrainOptionsScreen,
    TrainRequest,
)
from tuitune.tui.training.panel import TrainingPanel

from ..helpers import SIZE, record_notices, screen_text, settle, widget_text
from .conftest import wait_until

REPO = Path(__file__).resolve().parents[3]



def sample_data(store) -> None:
    import_files(store, [str(REPO / "sample_data" / "tldr_conversations.jsonl")])


async def test_f5_with_nothing_to_train_says_so_and_starts_nothing(app_for, short_engine, store):
    app = app_for(short_engine)
    shown = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        assert any("nothing to train on" in text for text in shown)
        assert store.runs() == [] and store.adapters() == []
        panel = app.chat_screen.query_one(TrainingPanel)
        assert panel.state == "idle" and not panel.display


class DialogHost(App):
    """The train dialog alone, in a host app with the real stylesheet; it collects what the dialog returns."""

    CSS_PATH = REPO / "tuitune" / "tui" / "app.tcss"

    def __init__(self, train) -> None:
        super().__init__()
        self.train, self.results = train, []

    def on_mount(self) -> None:
        self.push_screen(TrainOptionsScreen(self.train, "auto would pick sft: only good answers"), self.results.append)


async def test_the_train_dialog_returns_method_and_settings_and_refuses_bad_numbers(tiny_settings):
    app = DialogHost(tiny_settings.train)
    async with app.run_test(size=SIZE) as pilot:
        assert "auto would pick sft" in screen_text(app)
        await pilot.click("#method-dpo")
        app.screen.query_one("#epochs").value = "3"
        app.screen.query_one("#max_steps").value = "abc"
        await pilot.press("ctrl+s")
        assert app.results == [] and "max steps" in screen_text(app)
        app.screen.query_one("#max_steps").value = "5"
        app.screen.query_one("#lr").value = "2e-4"
        await pilot.press("ctrl+s")
        assert app.results == [TrainRequest("dpo", {"epochs": 3.0, "max_steps": 5, "lr": 2e-4})]


async def test_cancel_key_stops_the_run_and_registers_nothing(app_for, short_engine, store, tiny_settings):
    sample_data(store)
    tiny_settings = tiny_settings.with_overrides({"train.max_steps": 50})  # long enough that it cannot finish first
    app = app_for(short_engine, tiny_settings)
    shown = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        panel = app.chat_screen.query_one(TrainingPanel)
        await pilot.press("f5")
        await wait_until(pilot, lambda: panel.state == "running", 30, "the run starting")
        assert panel.display and "SFT" in widget_text(app, panel)
        await wait_until(pilot, lambda: panel.started_seen, 60, "the trainer starting")
        await pilot.press("f5")  # while training, F5 offers to cancel
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: panel.state == "cancelled", 90, "the run being cancelled")
        run = store.runs()[0]
        assert run.status == "cancelled" and run.adapter_id is None
        assert store.adapters() == [] and short_engine.active_adapter is None
        assert "cancelled" in widget_text(app, panel) and any("cancelled" in text for text in shown)


async def test_a_run_started_outside_is_followed_and_swapped_in(app_for, clean_engine, store, tiny_settings):
    sample_data(store)
    handle = start_run(tiny_settings, store, "sft", template_fingerprint=clean_engine.template_fingerprint,
                       base_model=clean_engine.info.name)
    clean_engine.settings = clean_engine.settings.with_overrides({"generation.max_new_tokens": 8})
    app = app_for(clean_engine, tiny_settings)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.chat_screen.query_one(TrainingPanel)
        await pilot.pause()
        assert panel.state == "running" and panel.handle.run_id == handle.run_id
        assert f"reattached to run {handle.run_id}" in widget_text(app, panel)
        await wait_until(pilot, lambda: panel.losses, 150, "progress from the trainer")
        shown = widget_text(app, panel)
        assert "step 1/2" in shown and "ETA" in shown and "tok/s" in shown and "loss " in shown
        await wait_until(pilot, lambda: panel.state == "done", 150, "the run finishing and swapping in")
        name = store.adapter_by_id(store.run(handle.run_id).adapter_id).name
        assert clean_engine.active_adapter == name == store.get_setting("active_adapter")
        assert isinstance(app.screen, BeforeAfterScreen)
        await settle(pilot)  # painted
        assert "Before / after" in screen_text(app)
        await pilot.press("escape")
        assert name[:20] in widget_text(app, app.chat_screen.status)
        assert "swapped in" in widget_text(app, app.chat_screen.status)
    handle.process.wait(timeout=30)


async def test_quitting_the_app_leaves_the_run_training(app_for, short_engine, store, tiny_settings):
    sample_data(store)
    app = app_for(short_engine, tiny_settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        panel = app.chat_screen.query_one(TrainingPanel)
        await pilot.press("f5")
        await wait_until(pilot, lambda: panel.state == "running", 30, "the run starting")
        handle = panel.handle
        await pilot.press("ctrl+q")
    assert handle.alive() and store.run(handle.run_id).status in ("queued", "running")
    handle.cancel()  # clean up: the test's own run
    handle.process.wait(timeout=60)


async def test_a_run_that_ended_while_the_app_was_closed_is_swapped_in_at_start(
    app_for, clean_engine, store, tiny_settings, make_adapter
):
    from tuitune.tui.training.panel import PENDING

    sample_data(store)
    folder = make_adapter("closed", seed=3)
    run_dir = tiny_settings.runs_dir / "run-0001"
    run_dir.mkdir(parents=True)
    run_id = store.create_run("sft", params={}, example_ids=[], base_model=clean_engine.info.name)
    adapter_id = store.add_adapter("closed", str(folder), clean_engine.info.name, method="sft", run_id=run_id)
    store.update_run(run_id, status="done", adapter_id=adapter_id, run_dir=str(run_dir))
    store.set_setting(PENDING, str(run_id))  # the app that followed it quit before it ended
    clean_engine.settings = clean_engine.settings.with_overrides({"generation.max_new_tokens": 4})
    app = app_for(clean_engine, tiny_settings)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.chat_screen.query_one(TrainingPanel)
        await wait_until(pilot, lambda: panel.state == "done", 60, "the swap at start")
        assert clean_engine.active_adapter == "closed" == store.get_setting("active_adapter")
        assert store.get_setting(PENDING) is None
