"""The whole loop on the real embedded model, only through keys: chat → judge → train (F5) → swap → the same
question gets a different answer (greedy both times)."""

from __future__ import annotations

from textual.widgets import DataTable

from tuitune.data.rows import judgement_counts
from tuitune.tui.screens.dialogs import EditScreen
from tuitune.tui.training.adapters_screen import AdaptersScreen
from tuitune.tui.training.dialogs import BeforeAfterScreen
from tuitune.tui.training.panel import TrainingPanel

from ..helpers import SIZE, screen_text, send, settle, widget_text
from .conftest import wait_until

QUESTION = "What is the capital of Peru?"  # not a check question: those are never trained on
BETTER = "TL;DR: Lima.\n\nLima has been the capital of Peru since 1535."


def last_answer(store):
    conversation = store.conversations()[0]  # newest first
    return [m for m in store.branch(conversation.id) if m.role == "assistant"][-1]


async def test_chat_judge_train_swap_and_the_answer_changes(app_for, clean_engine, store, tiny_settings,
                                                            tiny_eval_sets):
    clean_engine.settings = clean_engine.settings.with_overrides({"generation.max_new_tokens": 12})
    # One short example: a few steps are quick; measured on the tiny eval sets in the home.
    # Two judged answers are too few to hold any out, so nothing could show the adapter better: promote it anyway
    # (tests/training/test_promotion.py and test_panel_gate below show the gate itself).
    tiny_settings = tiny_settings.with_overrides(
        {"train.max_steps": 8, "train.measure": True, "train.promote": "always"}
    )
    assert clean_engine.settings.generation.temperature == 0  # greedy: a changed answer is the adapter's doing
    app = app_for(clean_engine, tiny_settings)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, QUESTION)
        before = last_answer(store)
        assert before.content.strip() and before.adapter_id is None

        await pilot.press("f3")  # judge it bad…
        assert store.message(before.id).judgement == "bad"
        await pilot.press("tab", "e")  # …and write the answer it should have given (a good sibling: a pair)
        assert isinstance(app.screen, EditScreen)
        app.screen.query_one("#editor").load_text(BETTER)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert judgement_counts(store)["good"] == 1 and judgement_counts(store)["pairs"] == 1

        panel = app.chat_screen.query_one(TrainingPanel)
        await pilot.press("f5")  # train.method = sft
        await wait_until(pilot, lambda: panel.state == "running", 30, "the run starting")
        assert "SFT" in widget_text(app, panel)
        await wait_until(pilot, lambda: panel.state == "done", 200, "training and the swap")
        assert panel.losses, "the panel showed no progress"
        name = store.adapters()[0].name
        effect = store.adapters()[0].metrics["effect"]  # measured on the tiny sets in the home
        assert clean_engine.active_adapter == name == store.get_setting("active_adapter")
        assert isinstance(app.screen, BeforeAfterScreen)
        shown = screen_text(app)
        assert "trained on: " + QUESTION in shown  # two judged answers: too few to hold a prompt out
        await pilot.press("escape")
        shown = widget_text(app, panel)  # the panel, under the before/after dialog until now
        assert (f"behaviour {effect['base_rate']:.2f}→{effect['adapter_rate']:.2f} · "
                f"checks {effect['base_accuracy']:.2f}→{effect['adapter_accuracy']:.2f}") in shown
        assert "agreement: no held-out judgements yet" in shown
        assert "promoted: train.promote = always" in shown

        await pilot.press("ctrl+n")
        await send(pilot, QUESTION)
        after = last_answer(store)
        assert after.id != before.id and after.adapter_id == store.adapter(name).id
        assert after.content.strip() != before.content.strip()

        await pilot.press("f7")  # the adapters screen: behaviour and checks, base→adapter, beside the adapter
        await settle(pilot)
        assert isinstance(app.screen, AdaptersScreen)
        table = app.screen.query_one(DataTable)
        columns = [str(column.label) for column in table.columns.values()]
        row = dict(zip(columns, (str(cell) for cell in table.get_row(name)), strict=True))
        assert row["behaviour"] == f"{effect['base_rate']:.2f}→{effect['adapter_rate']:.2f}"
        assert row["checks"].startswith(f"{effect['base_accuracy']:.2f}→{effect['adapter_accuracy']:.2f}")
