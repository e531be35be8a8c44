"""A store holding every case the training set leaves out, for the tests of tuitune.data."""

from __future__ import annotations

from dataclasses import dataclass, field

TOPICS = ["tea", "rain", "maps", "salt", "bees", "glass", "ice", "wind", "bread", "rust"]
# A check question of sample_data/check_questions.jsonl, typed in another case and spacing: it never trains.
EVAL_TURN = "  what is the CAPITAL of   France? "


def turn(store, question: str, answers: list[tuple[str, str | None]], system: str | None = None):
    """One conversation: a user turn and its answers (text, judgement); returns (user id, [answer ids])."""
    conversation = store.new_conversation(question.strip()[:20], system_prompt=system)
    user = store.add_message(conversation, "user", question)
    ids = []
    for text, judgement in answers:
        answer = store.add_message(conversation, "assistant", text, user)
        if judgement:
            store.judge(answer, judgement)
        ids.append(answer)
    return user, ids


@dataclass
class Judged:
    topic_turns: list[int] = field(default_factory=list)  # one good and one bad answer each: one pair
    eval_turn: int = 0  # a good and a bad answer too, but it repeats a check question
    unjudged: int = 0  # an answer to the eval turn nobody has judged yet


def judged_store(store) -> Judged:
    """Ten topic turns with a pair each, the eval turn with a pair, and what never counts: a blank answer judged
    good, an excluded answer, an answer with no user turn."""
    made = Judged()
    for topic in TOPICS:
        user, (_, _, blank, excluded) = turn(store, f"Tell me about {topic}.", [
            (f"TL;DR: {topic} is simple.", "good"), (f"Well, {topic} is a long story.", "bad"),
            (" \n\u3000", "good"), (f"{topic}? No idea.", "bad"),
        ])  # fmt: skip
        store.set_excluded(excluded, True)
        made.topic_turns.append(user)
    root = store.new_conversation("no question")
    store.judge(store.add_message(root, "assistant", "An answer to nothing.", None), "good")
    # Last, so the app opens it.
    answers = [("Paris.", "good"), ("Lyon.", "bad"), ("Paris!", None)]
    made.eval_turn, (_, _, made.unjudged) = turn(store, EVAL_TURN, answers)
    return made
