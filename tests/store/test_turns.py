"""The tree of turns under many clients: a question always follows an answer (or starts the conversation), and
stores written before that held repair themselves when opened."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from tuitune.store import Store
from tuitune.store.migrations import MIGRATIONS


def edges(store: Store, conversation_id: int) -> list[tuple[str, str | None]]:
    """(role, parent's role) of every message."""
    rows = store._rows(
        "SELECT m.role, p.role AS parent FROM messages m LEFT JOIN messages p ON p.id = m.parent_id"
        " WHERE m.conversation_id = ? ORDER BY m.id",
        (conversation_id,),
    )
    return [(row["role"], row["parent"]) for row in rows]


def test_a_question_given_a_question_as_parent_starts_a_sibling_branch(chat) -> None:
    store, conversation = chat
    first = store.add_message(conversation, "user", "hello")
    answer = store.add_message(conversation, "assistant", "hi", parent_id=first)
    mine = store.add_message(conversation, "user", "from this screen", parent_id=answer)
    theirs = store.add_message(conversation, "user", "from another screen, which showed mine", parent_id=mine)
    assert store.message(theirs).parent_id == answer  # a sibling of `mine`, not its child
    assert [m.id for m in store.siblings(mine)] == [mine, theirs]
    assert ("user", "user") not in edges(store, conversation)


def test_a_question_never_follows_an_answer_still_streaming(chat) -> None:
    store, conversation = chat
    question = store.add_message(conversation, "user", "q1")
    streaming = store.add_message(conversation, "assistant", "half an ans", parent_id=question, status="streaming")
    second = store.add_message(conversation, "user", "q2", parent_id=streaming)
    assert store.message(second).parent_id is None  # the root: q1 had no finished answer above it
    store.update_message(streaming, content="half an answer", status="complete")
    third = store.add_message(conversation, "user", "q3", parent_id=streaming)
    assert store.message(third).parent_id == streaming


def test_opening_an_old_store_moves_questions_from_under_questions(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    MIGRATIONS.apply(db, stop_before="0008_turns_and_clients")
    db["conversations"].insert({"id": 1, "title": "t", "created_at": "x", "updated_at": "x"})
    rows = [  # (id, parent, role, source): 3 and 4 went in under a question; 6 is an imported chain, left alone
        (1, None, "user", "chat"), (2, 1, "assistant", "chat"), (3, 1, "user", "chat"), (4, 3, "user", "chat"),
        (5, None, "user", "import"), (6, 5, "user", "import"),
    ]  # fmt: skip
    for message_id, parent, role, source in rows:
        db["messages"].insert(
            {"id": message_id, "conversation_id": 1, "parent_id": parent, "role": role, "content": f"m{message_id}",
             "source": source, "created_at": "x"}
        )  # fmt: skip
    db.close()
    with Store.open(path) as store:
        parents = {m: store.message(m).parent_id for m in range(1, 7)}
    assert parents == {1: None, 2: 1, 3: None, 4: None, 5: None, 6: 5}
