"""F4 gives another answer: regenerate samples with its own temperature and a fresh seed even when chat decodes
greedily, and a regeneration that still repeats an answer word for word is not kept (a pair of equal answers
teaches nothing)."""

from __future__ import annotations


def drain(answer) -> str:
    for _ in answer:
        pass
    return answer.text


def test_regenerate_samples_another_answer_while_chat_stays_greedy(settings, store, engine_client, services_for):
    engine_client.settings = settings.with_overrides({"generation.max_new_tokens": 16})
    chat = services_for(engine_client).chat
    conversation = chat.new_conversation()
    question = chat.send(conversation, "Tell me something about the sea.")
    first = chat.answer(question)
    drain(first)
    again = chat.answer(question)  # chat itself is greedy: the same question, the same answer
    assert drain(again) == first.text
    texts = set()
    for _ in range(2):
        regenerated = chat.regenerate(first.message_id)
        texts.add(drain(regenerated))
        assert regenerated.status == "complete"
    assert texts - {first.text}, "both regenerations repeated the greedy answer"
    siblings = store.siblings(first.message_id)
    assert {m.source for m in siblings} == {"chat", "regenerate"}
    assert len({m.content for m in siblings if m.source == "regenerate"}) == len(
        [m for m in siblings if m.source == "regenerate"]
    )  # no regeneration kept that repeats another answer


def test_a_regeneration_that_repeats_an_answer_is_not_kept(settings, store, engine_client, services_for):
    greedy = settings.with_overrides({"generation.max_new_tokens": 12, "generation.regenerate_temperature": 0})
    engine_client.settings = greedy
    chat = services_for(engine_client, greedy).chat
    conversation = chat.new_conversation()
    question = chat.send(conversation, "Name a colour.")
    first = chat.answer(question)
    drain(first)
    regenerated = chat.regenerate(first.message_id)
    assert drain(regenerated) == first.text
    assert regenerated.same_as == first.message_id
    assert [m.id for m in store.siblings(first.message_id)] == [first.message_id]
    assert store.message(regenerated.message_id).deleted_at is not None
