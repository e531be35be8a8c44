"""The training panel obeys train.promote: a held-back adapter is kept, not swapped in, and says why; ctrl+b then
compares it blind with the live model on held-out prompts and shows the user's verdict; a run that ended held back
while the app was closed stays held back; train.auto_after starts a run after that many new judgements."""

from __future__ import annotations

from tuitune.store.records import Message
from tuitune.tui.curate.ab import ABScreen
from tuitune.tui.training.panel import PENDING, TrainingPanel

from ..helpers import send, settle, widget_text
from .conftest import wait_until
from .test_train_keys import record_notices, sample_data


async def test_a_held_back_run_is_kept_not_swapped_in_and_ctrl_b_asks_the_user(
    app_for, short_engine, store, tiny_settings
):
    sample_data(store)  # enough judged turns for held-out prompts
    settings = tiny_settings.with_overrides({"train.promote": "never"})
    app = app_for(short_engine, settings)
    shown = record_notices(app)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        panel = app.chat_screen.query_one(TrainingPanel)
        await pilot.press("f5")
        await wait_until(pilot, lambda: panel.state == "done", 200, "the run finishing")
        name = store.adapters()[0].name
        assert store.adapters()[0].promotion == "held_back"
        assert short_engine.active_adapter is None and not store.get_setting("active_adapter")  # the base stays
        text = widget_text(app, panel)
        assert f"{name} held back; the live model stays" in text and "ctrl+b A/B it" in text
        assert "held back: not measured (train.measure = false); train.promote = never" in text
        assert any("held back, the live model stays" in notice for notice in shown)

        await pilot.press("ctrl+b")  # blind: the held-back adapter against the base, on held-out prompts
        for _ in range(3):
            await wait_until(pilot, lambda: isinstance(app.screen, ABScreen), 60, "the A/B round opening")
            round_screen = app.screen
            await wait_until(pilot, lambda: round_screen.done, 120, "both answers written")
            await pilot.press("1")  # A is better
            await wait_until(pilot, lambda: round_screen.reveal is not None, 10, "the pick recorded")
            await pilot.press("enter")
            await pilot.pause()
        await wait_until(pilot, lambda: "your A/B:" in panel.ab_line, 30, "the verdict")
        assert f"your A/B: {name} won" in panel.ab_line and "of 3 against base" in panel.ab_line
        assert "your A/B:" in widget_text(app, panel)
        picks = store.comparisons()
        assert len(picks) == 3
        held = {u for u in app.chat_screen.query_one(TrainingPanel).ab_plan()[2]}
        assert {c.user_message_id for c in picks} <= held  # asked on held-out prompts: their pairs measure


async def test_a_run_held_back_while_the_app_was_closed_stays_held_back(
    app_for, clean_engine, store, tiny_settings, make_adapter
):
    folder = make_adapter("closed", seed=3)
    run_dir = tiny_settings.runs_dir / "run-0001"
    run_dir.mkdir(parents=True)
    run_id = store.create_run("sft", params={}, example_ids=[], base_model=clean_engine.info.name)
    adapter_id = store.add_adapter("closed", str(folder), clean_engine.info.name, method="sft", run_id=run_id)
    store.update_run(run_id, status="done", adapter_id=adapter_id, run_dir=str(run_dir))
    store.set_promotion(run_id, "held_back", "not better than the live model: agreement 0.50 vs live 0.55")
    store.set_setting(PENDING, str(run_id))
    app = app_for(clean_engine, tiny_settings)
    async with app.run_test(size=(120, 30)) as pilot:
        panel = app.chat_screen.query_one(TrainingPanel)
        await wait_until(pilot, lambda: panel.state == "done", 60, "the pending run shown")
        assert clean_engine.active_adapter is None and not store.get_setting("active_adapter")
        text = widget_text(app, panel)
        assert "closed held back" in text and "held back: not better than the live model" in text
        assert store.get_setting(PENDING) is None


async def test_auto_after_starts_a_run_after_that_many_new_judgements(app_for, short_engine, store, tiny_settings):
    settings = tiny_settings.with_overrides({"train.auto_after": 2})
    app = app_for(short_engine, settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, "Name a colour.")
        panel = app.chat_screen.query_one(TrainingPanel)
        status = app.chat_screen.status
        await wait_until(pilot, lambda: "next run in 2" in widget_text(app, status), 30, "the countdown")
        await pilot.press("f2")
        await wait_until(pilot, lambda: "next run in 1" in widget_text(app, status), 30, "the countdown moving")
        assert panel.state == "idle" and store.runs() == []
        await send(pilot, "Name a fruit.")
        await pilot.press("f2")  # the second judgement since the last (no) run: a run starts by itself
        await wait_until(pilot, lambda: panel.state in ("running", "done"), 60, "the run starting by itself")
        assert len(store.runs()) == 1
        await wait_until(pilot, lambda: panel.state == "done", 200, "the run finishing")
        answers = [m for m in store.judged_messages() if isinstance(m, Message)]
        assert len(answers) == 2
        await wait_until(pilot, lambda: status.auto == "next run in 2", 30, "the countdown anew")
