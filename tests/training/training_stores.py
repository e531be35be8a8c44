"""Stores built by hand for the training tests."""

from __future__ import annotations

TOPICS = ["tea", "rain", "maps", "salt", "bees", "glass", "ice", "wind", "bread", "rust"]


def conversation(store, question: str, answers: list[tuple[str, str | None, str]], system: str | None = None):
    """One user turn with its answers, each (text, judgement, source); returns (user id, [answer ids])."""
    conv = store.new_conversation(question[:20], system_prompt=system)
    user = store.add_message(conv, "user", question)
    ids = []
    for text, judgement, source in answers:
        answer = store.add_message(conv, "assistant", text, user, source=source)
        if judgement:
            store.judge(answer, judgement)
        ids.append(answer)
    return user, ids


def tldr_store(store, pairs: bool = True, count: int = 10) -> None:
    """Short TL;DR-first answers judged good; with `pairs`, a plain answer judged bad beside each."""
    for topic in TOPICS[:count]:
        answers = [(f"TL;DR: {topic} is simple.\n\nMore on {topic}.", "good", "regenerate")]
        if pairs:
            answers.insert(0, (f"Well, {topic} is a long story.", "bad", "chat"))
        conversation(store, f"Tell me about {topic}.", answers)

