"""F5's face in the footer: "Train" while something was judged since the last run (or a run is live, when F5
cancels), "Train (0 new)" dimmed while nothing was, and F5 still acts either way (it trains, or says why it cannot)."""

from __future__ import annotations

from tuitune.tui import keys
from tuitune.tui.training.panel import TrainingPanel

from .helpers import record_notices, screen_lines, send, settle


def face(app) -> tuple[str, bool]:
    """F5's label in the footer and whether it is lit."""
    shown = app.chat_screen.active_bindings["f5"]
    return shown.binding.description, shown.enabled


async def recount(pilot) -> None:
    pilot.app.chat_screen.query_one(TrainingPanel).recount()
    await settle(pilot)


async def test_f5_is_dimmed_with_nothing_new_and_lit_after_a_judgement(app_for, short_engine, store):
    app = app_for(short_engine)
    shown = record_notices(app)
    async with app.run_test(size=(120, 24)) as pilot:
        await settle(pilot)
        assert face(app) == (keys.Chat.TRAIN_NOTHING_NEW.label, False)
        assert "f5 Train (0 new)" in screen_lines(app)[-1]
        await pilot.press("f5")  # dimmed, and still F5: it says why nothing trains
        await settle(pilot)
        assert any("nothing to train on" in text for text in shown)

        await send(pilot, "What is the capital of Peru?")
        await pilot.press("f2")
        await settle(pilot)
        assert face(app) == (keys.Chat.TRAIN.label, True)

        run = store.create_run("sft", params={}, example_ids=[], base_model="test", status="failed")
        await recount(pilot)
        assert face(app) == (keys.Chat.TRAIN.label, True)  # after a failed run, F5 tries again
        store.update_run(run, status="done")
        await recount(pilot)
        assert face(app) == (keys.Chat.TRAIN_NOTHING_NEW.label, False)  # that run had this judgement
