"""The status bar's good/bad/pairs are what a run trains on: held-out prompts, turns that repeat an eval prompt, blank,
excluded and unanswerable answers are left out of both, by the same code."""

from __future__ import annotations

from data_stores import judged_store

from tuitune.data import rows, sets
from tuitune.tui.app import make_app
from tuitune.tui.widgets.status_bar import StatusBar


def test_trainable_counts_are_what_build_trains_on(store, settings):
    settings = settings.with_overrides({"train.holdout": 0.3, "train.holdout_from": 4})
    made = judged_store(store)
    counts = sets.trainable_counts(store, settings)
    plan = sets.build(store, settings, "auto")
    held = plan.holdout_ids
    assert held and made.eval_turn not in held and set(held) <= set(made.topic_turns)
    assert plan.counts["measured"] == 1 and plan.counts["holdout"] == len(held)
    kept = len(made.topic_turns) - len(held)
    assert counts == {"good": kept, "bad": kept, "pairs": kept, "heldout": len(held)}  # a held-out pair per turn
    assert counts == {k: plan.counts[k] for k in ("good", "bad", "pairs")} | {"heldout": len(plan.heldout_units)}
    assert sets.choose_method(store, settings) == (plan.method, plan.reason)
    # Before anything is kept out, the eval turn and the held-out turns count; blank, excluded and root answers never.
    everything = len(made.topic_turns) + 1
    assert rows.judgement_counts(store) == {"good": everything, "bad": everything, "pairs": everything}

    sft, kto, dpo = (sets.build(store, settings, method) for method in ("sft", "kto", "dpo"))
    assert len(sft.rows) == counts["good"]
    assert len(kto.rows) == counts["good"] + counts["bad"]
    assert len(dpo.rows) == counts["pairs"]
    trained_turns = {store.message(i).parent_id for i in kto.example_ids}
    assert trained_turns == set(made.topic_turns) - set(held)


async def test_the_status_bar_shows_the_training_sets_counts(store, settings, engine_client):
    settings = settings.with_overrides({"train.holdout": 0.3, "train.holdout_from": 4})
    made = judged_store(store)
    app = make_app(settings, store=store, engine=engine_client, continue_latest=True)  # the judged store's latest
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        bar = app.chat_screen.query_one(StatusBar)
        plan = sets.build(store, settings, "auto")
        shown = {k: plan.counts[k] for k in ("good", "bad", "pairs")} | {"heldout": len(plan.heldout_units)}
        assert bar.counts == shown and shown["heldout"]
        assert f"▲{shown['good']} ▼{shown['bad']} pairs {shown['pairs']} · {shown['heldout']} held out" in str(
            bar.render()
        )

        before = rows.judgement_counts(store)
        await pilot.press("f2")  # the open conversation is the eval turn: its newest answer is judged good…
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert store.message(made.unjudged).judgement == "good"
        assert rows.judgement_counts(store)["good"] == before["good"] + 1
        assert bar.counts == shown  # …which a run would never train on, so the bar does not move
