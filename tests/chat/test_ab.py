"""Blind A/B with two real LoRA adapters on the embedded model in nf4: both answers land as 'ab' siblings with their
adapters, the order is random across runs, the pick becomes judgements, a pair and ratings, and the chosen answer
continues the conversation."""

from __future__ import annotations

import random
import threading

import pytest

from tuitune.chat import ABTest, Chat, ChatError
from tuitune.data import rows as data


@pytest.fixture
def ab_chat(store, clean_engine, make_adapter, services_for):
    clean_engine.settings = clean_engine.settings.with_overrides({"generation.max_new_tokens": 3})
    for name, seed in (("ab-x", 1), ("ab-y", 2)):
        store.add_adapter(name, str(make_adapter(name, seed)), clean_engine.info.name)
    return services_for(clean_engine).chat


def _turn(chat: Chat, text: str = "Name a colour.") -> tuple[int, int]:
    c = chat.new_conversation()
    return c, chat.send(c, text)


def _run(round_) -> dict[str, str]:
    texts = {}
    for label, answer in round_.stream():
        texts[label] = "".join(answer)
    return texts


def test_a_round_stores_both_answers_and_the_pick_lands(ab_chat: Chat, settings) -> None:
    store, engine = ab_chat.store, ab_chat.engine
    c, user = _turn(ab_chat)
    engine.load_adapter("ab-y", store.adapter("ab-y").path)  # the user's live adapter, before and after
    round_ = ABTest(ab_chat, random.Random(0)).start(user, "ab-x", None)
    assert "ab-x" in engine.loaded_adapters and engine.active_adapter == "ab-y"
    with pytest.raises(ChatError):
        round_.pick("A")  # nothing written yet
    assert "ab-x" not in repr(round_)
    labels = [label for label, _ in round_.stream()]
    assert labels == ["A", "B"] and engine.active_adapter == "ab-y"
    a, b = store.message(round_.a_message_id), store.message(round_.b_message_id)
    assert (a.parent_id, b.parent_id, a.source, b.source) == (user, user, "ab", "ab")
    assert (a.status, b.status) == ("complete", "complete")  # A was finished though the caller never read it
    assert {a.adapter, b.adapter} == {"ab-x", None}
    assert {a.adapter_id, b.adapter_id} == {store.adapter("ab-x").id, None}
    reveal = round_.pick("B")
    assert (reveal.a, reveal.b) == (a.adapter or "base", b.adapter or "base") and reveal.winner == reveal.b
    assert (store.message(a.id).judgement, store.message(b.id).judgement) == ("bad", "good")
    assert store.conversation(c).active_leaf_id == b.id == reveal.continue_id
    assert [m.id for m in store.branch(c)][-1] == b.id
    pairs = [row["message_ids"] for row in data.dpo_rows(store, settings)]
    assert pairs == [[b.id, a.id]]
    kto = {row["message_ids"][0]: row["label"] for row in data.kto_rows(store, settings)}
    assert kto == {b.id: True, a.id: False}
    ratings = {r.name: r for r in store.adapter_ratings()}
    assert (ratings[reveal.b].wins, ratings[reveal.a].losses) == (1, 1)
    assert ratings[reveal.b].elo > 1000 > ratings[reveal.a].elo
    with pytest.raises(ChatError):
        round_.pick("A")  # decided already


def test_the_order_is_random_across_runs_and_seeded(ab_chat: Chat) -> None:
    def first_contender(seed: int) -> str:
        _, user = _turn(ab_chat)
        round_ = ABTest(ab_chat, random.Random(seed)).start(user, "ab-x", "ab-y")
        _run(round_)
        return round_.pick("tie").a

    orders = [first_contender(seed) for seed in range(6)]
    assert set(orders) == {"ab-x", "ab-y"}
    assert first_contender(3) == orders[3]


def test_win_rates_and_elo_move_with_picks(ab_chat: Chat) -> None:
    store = ab_chat.store
    ab = ABTest(ab_chat, random.Random(7))
    for _ in range(2):
        _, user = _turn(ab_chat)
        round_ = ab.start(user, "ab-x", "ab-y")
        _run(round_)
        choice = "A" if store.message(round_.a_message_id).adapter == "ab-x" else "B"  # the store knows
        assert round_.pick(choice).winner == "ab-x"
    ratings = {r.name: r for r in store.adapter_ratings()}
    assert (ratings["ab-x"].wins, ratings["ab-x"].win_rate, ratings["ab-y"].win_rate) == (2, 1.0, 0.0)
    assert ratings["ab-x"].elo > 1030 and ratings["ab-y"].elo < 970
    _, user = _turn(ab_chat)
    round_ = ab.start(user, "ab-x", "ab-y")
    _run(round_)
    reveal = round_.pick("both_bad")
    assert store.message(reveal.a_message_id).judgement == store.message(reveal.b_message_id).judgement == "bad"
    ratings = {r.name: r for r in store.adapter_ratings()}
    assert ratings["ab-x"].ties == 1 and ratings["ab-x"].win_rate == pytest.approx(2 / 3)


def test_refusals_and_cancel(ab_chat: Chat) -> None:
    ab = ABTest(ab_chat, random.Random(0))
    _, user = _turn(ab_chat)
    with pytest.raises(ChatError):
        ab.start(user, "ab-x", "ab-x")
    with pytest.raises(ChatError):
        ab.start(user, "no-such", None)
    round_ = ab.start(user, "ab-x", None)
    with pytest.raises(ChatError):
        round_.pick("C")
    cancel = threading.Event()
    round_ = ab.start(user, "ab-x", None, cancel=cancel)
    for label, answer in round_.stream():
        cancel.set()
        "".join(answer)
    assert list(round_.answers) == ["A"] and round_.answers["A"].status == "stopped"
    with pytest.raises(ChatError):
        round_.pick("A")
    assert ab_chat.engine.active_adapter is None
