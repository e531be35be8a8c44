"""Judgements: an append-only history per message; the newest row is the current judgement."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import NamedTuple

from .db import utc_now
from .messages import MESSAGE_SELECT, Messages
from .records import JUDGEMENTS, Judgement, Message, check_choice, check_text, message_from_row

# Every character Python's str.strip() removes (none lies above U+3000), so the store's "blank" and Python's agree.
BLANK = "".join(chr(code) for code in range(0x3001) if chr(code).isspace())
_BLANK_SQL = f"char({', '.join(str(ord(c)) for c in BLANK)})"


def usable(m: str) -> str:
    """The store's half of tuitune.data's rule for an answer that can train: not excluded, answering a user turn,
    with some text. `tuitune.data.rows.usable` is the same test for records that are not in the store yet."""
    return f"({m}.excluded = 0 AND {m}.parent_id IS NOT NULL AND trim({m}.content, {_BLANK_SQL}) <> '')"


def _answers(*, include_excluded: bool = False) -> str:
    """Assistant answers that may become training data: live, in a live conversation, not excluded."""
    excluded = "" if include_excluded else "AND m.excluded = 0"
    return f"""
        m.role = 'assistant' AND m.deleted_at IS NULL {excluded}
        AND m.conversation_id IN (SELECT id FROM conversations WHERE deleted_at IS NULL)
    """


class Judged(NamedTuple):
    """A judged answer that can train, without its text: enough to count sets and choose what to keep out."""

    id: int
    parent_id: int
    judgement: Judgement


class Judgements(Messages):
    def judge(self, message_id: int, value: str | None, note: str | None = None) -> None:
        """Record a judgement ('good', 'bad', or None to clear it); earlier ones stay in the history."""
        if value is not None:
            check_choice(value, JUDGEMENTS, "judgement")
        check_text(note, "note", optional=True)
        with self.transaction():
            self.message(message_id)
            self._add_judgement(message_id, value, note)

    def judgement_history(self, message_id: int) -> list[tuple[str | None, str | None, str]]:
        """Oldest first, as (value, note, created_at)."""
        rows = self._rows(
            "SELECT value, note, created_at FROM judgements WHERE message_id = ? ORDER BY id",
            (message_id,),
        )
        return [(row["value"], row["note"], row["created_at"]) for row in rows]

    def record_edit(self, original_id: int, new_content: str) -> int:
        """The user rewrote a message: the rewrite becomes a sibling and the active leaf. For an answer,
        the rewrite is judged good and the original bad (unless the user had judged it good), which
        makes a DPO pair; user and system messages are rewritten without judgements."""
        with self.transaction():
            original = self.message(original_id)
            new_id = self.add_message(
                original.conversation_id,
                original.role,
                new_content,
                original.parent_id,
                source="edit",
            )
            if original.role == "assistant":
                self._add_judgement(new_id, "good", None)
                if original.judgement is None:
                    self._add_judgement(original_id, "bad", None)
        return new_id

    def judged_messages(self, *, include_excluded: bool = False) -> list[Message]:
        """Assistant answers whose current judgement is good or bad, oldest first: training material."""
        where = _answers(include_excluded=include_excluded)
        rows = self._rows(f"{MESSAGE_SELECT} WHERE {where} AND j.value IS NOT NULL ORDER BY m.id")
        return [message_from_row(row) for row in rows]

    def trainable_judgements(self) -> list[Judged]:
        """Every judged answer that can train (live, in a live conversation, `usable`), oldest first, without text:
        what tuitune.data counts. Read from the judgements side, each message's newest judgement found by SQLite's
        MAX() bare-column rule, so the status bar can ask after every judgement."""
        rows = self._rows(
            f"""WITH current AS (SELECT message_id, value, MAX(id) FROM judgements GROUP BY message_id)
                SELECT m.id, m.parent_id, c.value
                FROM current c JOIN messages m ON m.id = c.message_id
                WHERE c.value IS NOT NULL AND m.role = 'assistant' AND m.deleted_at IS NULL AND {usable("m")}
                  AND (SELECT deleted_at FROM conversations WHERE id = m.conversation_id) IS NULL
                ORDER BY m.id"""
        )
        return [Judged(row["id"], row["parent_id"], row["value"]) for row in rows]

    def trainable_answers(self) -> list[Message]:
        """The answers of `trainable_judgements`, whole, oldest first: what tuitune.data builds rows from."""
        rows = self._rows(
            f"{MESSAGE_SELECT} WHERE {_answers()} AND {usable('m')} AND j.value IS NOT NULL ORDER BY m.id"
        )
        return [message_from_row(row) for row in rows]

    def message_texts(self, message_ids: Iterable[int]) -> dict[int, str]:
        """{id: text} of these messages, in one read however many there are."""
        ids = json.dumps(sorted({int(i) for i in message_ids}))
        rows = self._rows("SELECT id, content FROM messages WHERE id IN (SELECT value FROM json_each(?))", (ids,))
        return {row["id"]: row["content"] for row in rows}

    def _add_judgement(self, message_id: int, value: str | None, note: str | None) -> None:
        self._execute(
            "INSERT INTO judgements (message_id, value, note, created_at) VALUES (?, ?, ?, ?)",
            (message_id, value, note, utc_now()),
        )
