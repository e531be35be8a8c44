"""Judgements -> rows: each kind of judgement lands in the right format, exclusions hold, auto says why."""

from __future__ import annotations

import pytest

from training_stores import conversation, tldr_store
from tuitune.training import NothingToTrain, build, choose_method, dpo_rows, kto_rows, sft_rows


def test_good_answer_is_sft_and_kto_true_with_the_chat_system_prompt(store, settings):
    _, (good,) = conversation(store, "Why?", [("Because.", "good", "chat")], system="concise")
    (row,) = sft_rows(store, settings)
    assert row["prompt"][0] == {"role": "system", "content": (settings.prompts_dir / "system" / "concise.txt").read_text().strip()}
    assert row["prompt"][1:] == [{"role": "user", "content": "Why?"}]
    assert row["completion"] == [{"role": "assistant", "content": "Because."}]
    assert row["message_ids"] == [good]
    (kto,) = kto_rows(store, settings)
    assert kto["label"] is True and kto["completion"] == row["completion"]
    assert dpo_rows(store, settings) == []


def test_default_system_prompt_comes_from_settings(store, settings):
    conversation(store, "Hi", [("Hello.", "good", "chat")])
    (row,) = sft_rows(store, settings)
    assert row["prompt"][0] == {"role": "system", "content": "You are a helpful assistant. Answer the question accurately and clearly."}


def test_bad_answer_is_kto_false_only(store, settings):
    conversation(store, "Why?", [("No idea.", "bad", "chat")])
    assert sft_rows(store, settings) == []
    (row,) = kto_rows(store, settings)
    assert row["label"] is False


def test_regenerate_and_edit_make_dpo_pairs(store, settings):
    _, (bad, good) = conversation(store, "Q1", [("plain", "bad", "chat"), ("TL;DR: x", "good", "regenerate")])
    user, (original,) = conversation(store, "Q2", [("long answer", None, "chat")])
    edited = store.record_edit(original, "TL;DR: short")
    rows = dpo_rows(store, settings)
    assert [r["message_ids"] for r in rows] == [[good, bad], [edited, original]]
    assert rows[1]["chosen"][0]["content"] == "TL;DR: short" and rows[1]["rejected"][0]["content"] == "long answer"
    assert rows[1]["prompt"][-1] == {"role": "user", "content": "Q2"}


def test_multi_turn_prompt_is_the_path_to_the_answer(store, settings):
    conv = store.new_conversation("multi")
    u1 = store.add_message(conv, "user", "first")
    a1 = store.add_message(conv, "assistant", "first answer", u1)
    u2 = store.add_message(conv, "user", "second", a1)
    a2 = store.add_message(conv, "assistant", "second answer", u2)
    store.judge(a2, "good")
    (row,) = sft_rows(store, settings)
    assert [m["content"] for m in row["prompt"][1:]] == ["first", "first answer", "second"]


def test_excluded_and_deleted_answers_stay_out(store, settings):
    _, (a,) = conversation(store, "Q1", [("one", "good", "chat")])
    _, (b,) = conversation(store, "Q2", [("two", "good", "chat")])
    _, (c,) = conversation(store, "Q3", [("three", "good", "chat")])
    store.set_excluded(a, True)
    store.delete_message(b)
    assert [r["message_ids"] for r in sft_rows(store, settings)] == [[c]]


def test_auto_picks_dpo_then_kto_then_sft_and_says_why(store, settings):
    settings = settings.with_overrides({"train.holdout": 0, "train.min_pairs": 3, "train.min_per_label": 2})
    conversation(store, "g1", [("a", "good", "chat")])
    assert choose_method(store, settings)[0] == "sft"
    assert "SFT on 1 good" in choose_method(store, settings)[1]
    conversation(store, "g2", [("b", "good", "chat")])
    conversation(store, "b1", [("c", "bad", "chat")])
    conversation(store, "b2", [("d", "bad", "chat")])
    method, reason = choose_method(store, settings)
    assert method == "kto" and "2 good and 2 bad" in reason
    tldr_store(store, count=3)
    method, reason = choose_method(store, settings)
    assert method == "dpo" and "3 pairs" in reason


def test_nothing_to_train_is_a_clear_error(store, settings):
    with pytest.raises(NothingToTrain, match="nothing to train on"):
        build(store, settings, "auto")
    conversation(store, "Q", [("meh", "bad", "chat")])
    with pytest.raises(NothingToTrain, match="no good answers"):
        build(store, settings, "auto")
    with pytest.raises(NothingToTrain, match="DPO needs"):
        build(store, settings, "dpo")


def test_holdout_is_deterministic_and_kept_out_of_training(store, settings):
    settings = settings.with_overrides({"train.holdout": 0.3, "train.holdout_from": 4})
    tldr_store(store, count=10)
    first, second = build(store, settings, "sft"), build(store, settings, "sft")
    assert first.holdout_ids == second.holdout_ids and first.holdout_ids
    assert first.counts["rows"] == 10 - len(first.holdout_ids) and len(first.holdout) == len(first.holdout_ids)
    trained_prompts = {r["prompt"][-1]["content"] for r in first.rows}
    assert not trained_prompts & {h[-1]["content"] for h in first.holdout}
    assert first.holdout[0][-1]["role"] == "user"
    assert set(first.example_ids) == {i for r in first.rows for i in r["message_ids"]}
    # Each held-out turn has a good and a bad answer: one held-out pair each, none of them trained on.
    assert [u["kind"] for u in first.heldout_units] == ["pair"] * len(first.holdout_ids)
    assert not {i for u in first.heldout_units for i in u["message_ids"]} & set(first.example_ids)


def test_dataset_has_trl_columns_only(store, settings):
    settings = settings.with_overrides({"train.holdout": 0})
    tldr_store(store, count=2)
    dataset = build(store, settings, "dpo").dataset
    assert set(dataset.column_names) == {"prompt", "chosen", "rejected"}
