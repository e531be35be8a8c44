"""The prompt of a turn is one thing: what chat sends is what the training rows, the held-out prompts and the
before/after check's prompts pair with an answer."""

from __future__ import annotations

from data_stores import TOPICS, turn

from tuitune.chat import Chat
from tuitune.data import prompts, rows, sets


def _multi_turn(store, system: str | None) -> tuple[int, int, int]:
    """(conversation, second user turn, its good answer): a two-turn path with a system message row in it."""
    conversation = store.new_conversation("multi", system_prompt=system)
    lead = store.add_message(conversation, "system", "a system row, never sent")
    first = store.add_message(conversation, "user", "first question", lead)
    answer = store.add_message(conversation, "assistant", "first answer", first)
    second = store.add_message(conversation, "user", "second question", answer)
    good = store.add_message(conversation, "assistant", "second answer", second)
    store.judge(good, "good")
    return conversation, second, good


def test_chat_and_the_training_rows_send_the_same_prompt(store, settings):
    chat = Chat(settings, store, engine=None)  # building a prompt asks nothing of the model
    cases = [_multi_turn(store, system) for system in ("concise", "Answer in French.", None, "")]
    by_answer = {row["message_ids"][0]: row["prompt"] for row in rows.sft_rows(store, settings)}
    for conversation, user, good in cases:
        sent = chat.prompt_messages(conversation, user)
        assert by_answer[good] == sent == prompts.turn_prompt(store, settings, conversation, user)
        assert [m["content"] for m in sent if m["role"] != "system"] == [
            "first question", "first answer", "second question",
        ]  # fmt: skip
    concise = (settings.prompts_dir / "system" / "concise.txt").read_text().strip()
    firsts = [chat.prompt_messages(c, u)[0] for c, u, _ in cases]
    assert firsts[0] == {"role": "system", "content": concise}  # a name stands for its file
    assert firsts[1] == {"role": "system", "content": "Answer in French."}
    default = prompts.system_prompt_text(settings.generation.system_prompt, settings.prompts_dir)
    assert firsts[2] == {"role": "system", "content": default}  # none of its own: the settings' default
    assert firsts[3]["role"] == "user"  # an empty system prompt: none sent, none trained on


def test_held_out_and_trained_prompts_are_chat_prompts(store, settings):
    settings = settings.with_overrides({"train.holdout": 0.3, "train.holdout_from": 4})
    chat = Chat(settings, store, engine=None)
    for topic in TOPICS:
        turn(
            store,
            f"Tell me about {topic}.",
            [(f"TL;DR: {topic}.", "good"), (f"{topic}, at length.", "bad")],
            system="concise",
        )
    plan = sets.build(store, settings, "dpo")
    assert len(plan.holdout_ids) == 2
    for user, held in zip(plan.holdout_ids, plan.holdout, strict=True):
        assert held == chat.prompt_messages(store.message(user).conversation_id, user)
    for row in plan.rows:
        user = store.message(row["message_ids"][0]).parent_id
        assert row["prompt"] == chat.prompt_messages(store.message(user).conversation_id, user)

    run = store.create_run("dpo", params={}, example_ids=plan.example_ids, base_model="b")
    trained = prompts.trained_prompts(store, settings, run, count=3)
    newest_first = sorted({store.message(i).parent_id for i in plan.example_ids}, reverse=True)[:3]
    assert trained == [chat.prompt_messages(store.message(u).conversation_id, u) for u in newest_first]
