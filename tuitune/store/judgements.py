"""Judgements: an append-only history per message; the newest row is the current judgement."""

from __future__ import annotations

from .db import utc_now
from .messages import MESSAGE_SELECT, Messages
from .records import JUDGEMENTS, Message, check_choice, check_text, message_from_row


def _answers(*, include_excluded: bool = False) -> str:
    """Assistant answers that may become training data: live, in a live conversation, not excluded."""
    excluded = "" if include_excluded else "AND m.excluded = 0"
    return f"""
        m.role = 'assistant' AND m.deleted_at IS NULL {excluded}
        AND m.conversation_id IN (SELECT id FROM conversations WHERE deleted_at IS NULL)
    """


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

    def judgement_counts(self) -> dict[str, int]:
        """Judged trainable answers, and `pairs`: good x bad answers that share a parent (DPO pairs)."""
        row = self._row(
            f"""WITH current AS (
                    SELECT m.conversation_id, m.parent_id, j.value
                    FROM messages m
                    JOIN judgements j ON j.id = (SELECT MAX(id) FROM judgements WHERE message_id = m.id)
                    WHERE {_answers()} AND j.value IS NOT NULL
                ),
                per_parent AS (
                    SELECT SUM(value = 'good') AS good, SUM(value = 'bad') AS bad
                    FROM current GROUP BY conversation_id, parent_id
                )
                SELECT
                    (SELECT COUNT(*) FROM current WHERE value = 'good') AS good,
                    (SELECT COUNT(*) FROM current WHERE value = 'bad') AS bad,
                    (SELECT COALESCE(SUM(good * bad), 0) FROM per_parent) AS pairs"""
        )
        assert row is not None
        return {"good": row["good"], "bad": row["bad"], "pairs": row["pairs"]}

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

    def _add_judgement(self, message_id: int, value: str | None, note: str | None) -> None:
        self._execute(
            "INSERT INTO judgements (message_id, value, note, created_at) VALUES (?, ?, ?, ?)",
            (message_id, value, note, utc_now()),
        )
