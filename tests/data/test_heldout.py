"""The user's held-out judgements: a stable seeded share of judged turns, never trained on, growing with the store;
and the arithmetic that turns their scores into agreement and a promotion decision."""

from __future__ import annotations

import pytest
from data_stores import turn

from tuitune.data import sets
from tuitune.data.heldout import count_units
from tuitune.training.verdict import MIN_N, agreement, decide, sign_test, wilson


def _turns(store, start: int, stop: int, *, both: bool = True) -> list[int]:
    users = []
    for i in range(start, stop):
        answers = [(f"Answer {i}, good.", "good")] + ([(f"Answer {i}, bad.", "bad")] if both else [])
        users.append(turn(store, f"Question number {i}?", answers)[0])
    return users


def _trained_turns(store, settings) -> set[int]:
    trained = set()
    for method in ("sft", "kto", "dpo"):
        plan = sets.build(store, settings, method)
        trained |= {store.message(i).parent_id for i in plan.example_ids}
    return trained


def test_the_split_is_stable_as_the_store_grows_and_never_trains(store, settings):
    assert settings.train.holdout == 0.2 and settings.train.holdout_from == 10
    _turns(store, 0, 9)
    assert sets.heldout_turn_ids(store, settings) == []  # below train.holdout_from: everything trains

    _turns(store, 9, 20)
    first = sets.heldout_turn_ids(store, settings)
    assert first
    assert not set(first) & _trained_turns(store, settings)

    _turns(store, 20, 100, both=False)
    grown = sets.heldout_turn_ids(store, settings)
    assert set(first) <= set(grown)  # held out once, held out for good
    assert 0.1 <= len(grown) / 100 <= 0.3  # about a fifth
    assert not set(grown) & _trained_turns(store, settings)
    plan = sets.build(store, settings, "kto")
    held_answers = {i for u in plan.heldout_units for i in u["message_ids"]}
    # Whole turns: every judged answer of a held-out turn measures, none of them trains.
    for user in grown:
        conversation = store.message(user).conversation_id
        assert {a.id for a in store.children(conversation, user)} <= held_answers
    assert not held_answers & set(plan.example_ids)
    assert plan.counts["heldout"] == len(plan.heldout_units) == count_units(store.trainable_judgements(), grown)["n"]


def test_the_same_question_falls_on_the_same_side_everywhere(store, settings):
    _turns(store, 0, 30)
    held = sets.heldout_turn_ids(store, settings)
    text = store.message(held[0]).content
    again, _ = turn(store, "  " + text.upper() + " ", [("Another answer.", "good")])
    assert again in sets.heldout_turn_ids(store, settings)


def test_pairs_where_a_turn_has_both_labels_thumbs_otherwise(store, settings):
    settings = settings.with_overrides({"train.holdout": 0.5, "train.holdout_from": 1})
    _turns(store, 0, 12)
    _turns(store, 12, 24, both=False)
    plan = sets.build(store, settings, "sft")
    kinds = {store.message(u["turn_id"]).content: u["kind"] for u in plan.heldout_units}
    for question, kind in kinds.items():
        number = int(question.split()[2].rstrip("?"))
        assert kind == ("pair" if number < 12 else "thumb")
    pair = next(u for u in plan.heldout_units if u["kind"] == "pair")
    assert pair["better"].endswith("good.") and pair["worse"].endswith("bad.")
    assert pair["prompt"][-1] == {"role": "user", "content": store.message(pair["turn_id"]).content}


# ---- the arithmetic ----------------------------------------------------------------------------------------------
def test_wilson_and_the_sign_test():
    lo, hi = wilson(10, 12)
    assert 0.55 < lo < 0.56 and 0.95 < hi < 0.96
    assert wilson(0, 0) == (0.0, 1.0)
    assert sign_test(5, 0) == pytest.approx(1 / 32)
    assert sign_test(0, 0) == 1.0 and sign_test(3, 3) > 0.5


def _units(n_pairs: int, n_good: int, n_bad: int) -> list[dict]:
    return (
        [{"kind": "pair"}] * n_pairs
        + [{"kind": "thumb", "good": True}] * n_good
        + [{"kind": "thumb", "good": False}] * n_bad
    )


def test_agreement_counts_pairs_by_order_and_thumbs_by_their_move_from_the_base():
    units = _units(4, 3, 3)
    base = [[0.0, 1.0]] * 4 + [[-1.0]] * 6  # the base prefers every worse answer
    adapter = [[2.0, 1.0]] * 4 + [[-0.5]] * 3 + [[-2.0]] * 3  # better first; good up, bad down
    figures = agreement(units, {"base": base, "live": base, "adapter": adapter})
    assert figures["base"] == pytest.approx((0 * 4 + 0.5 * 6) / 10)  # a thumb says nothing about the base
    assert figures["adapter"] == 1.0 and figures["n"] == 10 and figures["enough"]
    assert (figures["wins"], figures["losses"]) == (10, 0) and figures["p"] <= 0.001
    backwards = [[0.0, 1.0]] * 4 + [[-2.0]] * 3 + [[-0.5]] * 3
    assert agreement(units, {"base": base, "live": base, "adapter": backwards})["adapter"] == 0.0


def test_the_gate_promotes_only_what_is_better_by_evidence_without_harm():
    units = _units(6, 2, 2)
    base = [[0.0, 1.0]] * 6 + [[-1.0]] * 4
    better = agreement(units, {"base": base, "live": base, "adapter": [[2.0, 1.0]] * 6 + [[1.5]] * 2 + [[-2.0]] * 2})
    checks = {"base_accuracy": 0.53, "adapter_accuracy": 0.57}
    assert decide("better", better, checks)["promote"]
    assert "agreement 1.00 vs live 0.20 on 10 held-out judgements" in decide("better", better, checks)["reason"]
    harmful = decide("better", better, {"base_accuracy": 0.53, "adapter_accuracy": 0.40})
    assert not harmful["promote"] and "checks 0.53→0.40" in harmful["reason"]
    # As good as the live model is not better: held back, with the figures in the reason.
    same = agreement(units, {"base": base, "live": base, "adapter": base})
    held = decide("better", same, checks)
    assert not held["promote"] and "not better than the live model" in held["reason"]
    few = agreement(units[: MIN_N - 1], {k: v[: MIN_N - 1] for k, v in {"base": base, "live": base}.items()} | {
        "adapter": ([[2.0, 1.0]] * 6 + [[-0.5]])[: MIN_N - 1]})  # fmt: skip
    assert not decide("better", few, checks)["promote"]
    assert "too few held-out judgements to tell" in decide("better", few, checks)["reason"]
    assert decide("always", same, checks)["promote"] and not decide("never", better, checks)["promote"]


def test_a_shift_of_everything_is_not_agreement_with_the_thumbs():
    """Training that makes all of the user's kind of text likelier moves bad answers up too: a thumb counts from the
    midpoint of the good and the bad answers' moves, not from zero."""
    units = _units(2, 2, 2)
    base = [[-2.0, -2.0]] * 2 + [[-2.0]] * 4
    lifted = [[-1.4, -1.8]] * 2 + [[-1.4]] * 2 + [[-1.9]] * 2  # good +0.6, bad +0.1: both up, good far more
    figures = agreement(units, {"base": base, "live": base, "adapter": lifted})
    assert figures["adapter"] == 1.0  # the bad thumbs moved up, but far less than the good answers
    flat = [[-1.5, -1.5]] * 2 + [[-1.5]] * 4  # everything up alike: the labels are not told apart
    assert agreement(units, {"base": base, "live": base, "adapter": flat})["adapter"] == 0.5  # all ties: ½ each
    only_good = [{"kind": "thumb", "good": True}] * 3  # one label only: no midpoint, a move up is a move the right way
    assert agreement(only_good, {"base": [[-2.0]] * 3, "live": [[-2.0]] * 3, "adapter": [[-1.0]] * 3})["adapter"] == 1
