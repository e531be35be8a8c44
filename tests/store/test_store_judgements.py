"""Judgements: history, current value, training counts, edits, approval per adapter."""

from __future__ import annotations

import pytest

from tuitune.data.rows import judgement_counts
from tuitune.store import NotFound, Store


def _question(store: Store, c: int, text: str = "q") -> int:
    return store.add_message(c, "user", text)


def test_judge_toggles_and_keeps_history(chat: tuple[Store, int]) -> None:
    store, c = chat
    answer = store.add_message(c, "assistant", "a", _question(store, c))
    store.judge(answer, "good")
    assert store.message(answer).judgement == "good"
    store.judge(answer, None)
    assert store.message(answer).judgement is None
    store.judge(answer, "bad", note="wrong year")
    m = store.message(answer)
    assert (m.judgement, m.judgement_note) == ("bad", "wrong year")
    history = store.judgement_history(answer)
    assert [(value, note) for value, note, _ in history] == [
        ("good", None), (None, None), ("bad", "wrong year"),
    ]  # fmt: skip
    times = [at for _, _, at in history]
    assert times == sorted(times) and all(at.endswith("+00:00") for at in times)
    with pytest.raises(ValueError):
        store.judge(answer, "meh")
    with pytest.raises(NotFound):
        store.judge(999, "good")
    assert len(store.judgement_history(answer)) == 3


def test_counts_and_pairs(chat: tuple[Store, int]) -> None:
    store, c = chat
    assert judgement_counts(store) == {"good": 0, "bad": 0, "pairs": 0}
    q1 = _question(store, c, "q1")
    g1, b1, b2 = (store.add_message(c, "assistant", t, q1) for t in ("g1", "b1", "b2"))
    q2 = store.add_message(c, "user", "q2", g1)
    g2 = store.add_message(c, "assistant", "g2", q2)
    lone_bad = store.add_message(c, "assistant", "lone", _question(store, c, "q3"))
    for mid, value in [(g1, "good"), (b1, "bad"), (b2, "bad"), (g2, "good"), (lone_bad, "bad")]:
        store.judge(mid, value)
    store.judge(q1, "good")  # a judged user message is no training answer
    # q1 has one good and two bad answers: two pairs; q2 and q3 have none
    assert judgement_counts(store) == {"good": 2, "bad": 3, "pairs": 2}

    store.set_excluded(b2, True)
    assert judgement_counts(store) == {"good": 2, "bad": 2, "pairs": 1}
    store.judge(b1, None)
    assert judgement_counts(store) == {"good": 2, "bad": 1, "pairs": 0}
    store.judge(b1, "bad")
    store.delete_message(g1)  # takes q2 and g2 with it
    assert judgement_counts(store) == {"good": 0, "bad": 2, "pairs": 0}

    other = store.new_conversation()
    oq = _question(store, other)
    for t, value in (("og", "good"), ("ob", "bad")):
        store.judge(store.add_message(other, "assistant", t, oq), value)
    assert judgement_counts(store) == {"good": 1, "bad": 3, "pairs": 1}
    store.delete_conversation(other)
    assert judgement_counts(store) == {"good": 0, "bad": 2, "pairs": 0}


def test_judged_messages_are_training_material(chat: tuple[Store, int]) -> None:
    store, c = chat
    q = _question(store, c)
    good, bad, unjudged, cleared, excluded = (
        store.add_message(c, "assistant", t, q) for t in ("good", "bad", "none", "cleared", "excl")
    )
    store.judge(good, "good")
    store.judge(bad, "bad")
    store.judge(cleared, "good")
    store.judge(cleared, None)
    store.judge(excluded, "good")
    store.set_excluded(excluded, True)
    judged = store.judged_messages()
    assert [(m.content, m.judgement) for m in judged] == [("good", "good"), ("bad", "bad")]
    assert judged[0].parent_id == q
    assert [m.id for m in store.judged_messages(include_excluded=True)] == [good, bad, excluded]
    assert unjudged not in [m.id for m in judged]


def test_record_edit_makes_a_pair(chat: tuple[Store, int]) -> None:
    store, c = chat
    q = _question(store, c)
    adapter = store.add_adapter("a1", "/a1", "llama")
    original = store.add_message(c, "assistant", "Paris is in Italy.", q, adapter_id=adapter)
    edited = store.record_edit(original, "Paris is in France.")
    e = store.message(edited)
    assert (e.role, e.parent_id, e.source, e.content) == ("assistant", q, "edit", "Paris is in France.")
    assert e.judgement == "good" and e.adapter_id is None
    assert store.message(original).judgement == "bad"
    assert store.conversation(c).active_leaf_id == edited
    assert [m.id for m in store.siblings(original)] == [original, edited]
    assert judgement_counts(store) == {"good": 1, "bad": 1, "pairs": 1}
    # an edit is the user's text: it says nothing about the adapter or the base model
    assert store.approval(None) == (0, 0)
    assert store.approval(adapter) == (0, 1)


def test_record_edit_keeps_a_good_original_good(chat: tuple[Store, int]) -> None:
    store, c = chat
    original = store.add_message(c, "assistant", "fine", _question(store, c))
    store.judge(original, "good")
    edited = store.record_edit(original, "finer")
    assert store.message(original).judgement == "good"
    assert store.message(edited).judgement == "good"
    assert len(store.judgement_history(original)) == 1


def test_record_edit_of_a_prompt_judges_nothing(chat: tuple[Store, int]) -> None:
    store, c = chat
    q = _question(store, c, "waht is 2+2")
    edited = store.record_edit(q, "what is 2+2")
    assert store.message(edited).parent_id is None and store.message(edited).role == "user"
    assert store.judgement_history(q) == [] and store.judgement_history(edited) == []
    assert [m.content for m in store.children(c, None)] == ["waht is 2+2", "what is 2+2"]


def test_record_edit_is_one_transaction(chat: tuple[Store, int]) -> None:
    store, c = chat
    original = store.add_message(c, "assistant", "x", _question(store, c))
    with pytest.raises(TypeError):
        store.record_edit(original, None)  # type: ignore[arg-type]
    assert len(store.siblings(original)) == 1
    assert store.judgement_history(original) == []


def test_approval_per_adapter(chat: tuple[Store, int]) -> None:
    store, c = chat
    q = _question(store, c)
    a1 = store.add_adapter("a1", "/a1", "llama")
    a2 = store.add_adapter("a2", "/a2", "llama")
    plan = [(None, "good"), (None, "bad"), (None, None), (a1, "good"), (a1, "good"), (a1, "bad")]
    for adapter_id, value in plan:
        m = store.add_message(c, "assistant", "x", q, adapter_id=adapter_id, source="ab")
        if value:
            store.judge(m, value)
    assert store.approval(None) == (1, 2)
    assert store.approval(a1) == (2, 3)
    assert store.approval(a2) == (0, 0)
