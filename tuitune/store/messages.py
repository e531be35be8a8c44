"""Messages and the conversation tree: a regenerated or edited message is a sibling (same parent)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from . import writers
from .conversations import Conversations
from .db import NotFound, StoreError, utc_now
from .records import (
    MESSAGE_STATUSES,
    ROLES,
    SOURCES,
    STAT_FIELDS,
    Message,
    check_choice,
    check_text,
    message_from_row,
)

log = logging.getLogger(__name__)

# Every Message read goes through this, so `.adapter` and `.judgement` are always filled the same way.
MESSAGE_SELECT = """
    SELECT m.*, a.name AS adapter, j.value AS judgement, j.note AS judgement_note
    FROM messages m
    LEFT JOIN adapters a ON a.id = m.adapter_id
    LEFT JOIN judgements j ON j.id = (SELECT MAX(id) FROM judgements WHERE message_id = m.id)
"""

_PATH_IDS = """
    WITH RECURSIVE up(id, parent_id, depth) AS (
        SELECT id, parent_id, 0 FROM messages WHERE id = ?
        UNION ALL
        SELECT m.id, m.parent_id, up.depth + 1 FROM messages m JOIN up ON m.id = up.parent_id
    )
"""


def _stat_values(stats: Mapping[str, Any] | None) -> dict[str, Any]:
    if not stats:
        return {}
    unknown = set(stats) - set(STAT_FIELDS)
    if unknown:
        raise ValueError(f"unknown stats {sorted(unknown)}; known: {list(STAT_FIELDS)}")
    return dict(stats)


class Messages(Conversations):
    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        parent_id: int | None = None,
        *,
        status: str = "complete",
        adapter_id: int | None = None,
        source: str = "chat",
        model: str | None = None,
        stats: Mapping[str, Any] | None = None,
    ) -> int:
        """Add a message and make it the conversation's active leaf. A question (role 'user') follows an answer:
        given a question or an answer still streaming as its parent, it goes up to the nearest finished answer (or
        the root) in the same transaction, so clients sending into one conversation at once start sibling branches,
        never a question under a question."""
        check_choice(role, ROLES, "role")
        check_choice(status, MESSAGE_STATUSES, "status")
        check_choice(source, SOURCES, "source")
        check_text(content, "content")
        values = {
            "conversation_id": conversation_id,
            "parent_id": parent_id,
            "role": role,
            "content": content,
            "status": status,
            "adapter_id": adapter_id,
            "source": source,
            "model": model,
            "created_at": utc_now(),
            **_stat_values(stats),
        }
        if status == "streaming":
            values["writer_pid"], values["writer_started"] = writers.this_process()
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.transaction():
            self.conversation(conversation_id)
            if parent_id is not None:
                owner = self._scalar("SELECT conversation_id FROM messages WHERE id = ?", (parent_id,))
                if owner != conversation_id:
                    raise ValueError(f"parent {parent_id} is not in conversation {conversation_id}")
            if role == "user":
                values["parent_id"] = self._answer_above(parent_id)
            cursor = self._execute(f"INSERT INTO messages ({columns}) VALUES ({marks})", tuple(values.values()))
            message_id = int(cursor.lastrowid)  # type: ignore[arg-type]
            self._execute(
                "UPDATE conversations SET updated_at = ?, active_leaf_id = ? WHERE id = ?",
                (values["created_at"], message_id, conversation_id),
            )
        if status == "streaming":
            self._streaming.add(message_id)
            writers.STREAMING_HERE.add((self._file_key, message_id))
        return message_id

    def _answer_above(self, message_id: int | None) -> int | None:
        """`message_id` if it is a finished answer (or a system turn), else the nearest such message above it."""
        while message_id is not None:
            row = self._row("SELECT role, status, parent_id FROM messages WHERE id = ?", (message_id,))
            if row is None:
                raise NotFound(f"no message {message_id}")
            if row["role"] != "user" and row["status"] != "streaming":
                return message_id
            message_id = row["parent_id"]
        return None

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        status: str | None = None,
        stats: Mapping[str, Any] | None = None,
    ) -> None:
        """Called for every streamed chunk, so it is one UPDATE on the primary key and nothing else. Waits for
        another process's write lock (see Store.open); a streaming caller that must not wait uses
        `try_update_message`."""
        assignments, params = self._message_update(content, status, stats)
        if not assignments:
            return
        with self.transaction():
            self._update_message_row(message_id, assignments, params)
        self._stream_ended(message_id, status)

    def try_update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        status: str | None = None,
        stats: Mapping[str, Any] | None = None,
    ) -> bool:
        """`update_message` if the write lock is free this instant, never waiting: False when another process
        (or thread) holds it, and nothing was written, so the caller keeps the text and tries again later (the
        row keeps its last saved text and stays 'streaming', which no other process marks stopped while this one
        lives). Raises StoreFull when the disk is full (nothing written), NotFound for an unknown id."""
        assignments, params = self._message_update(content, status, stats)
        if not assignments:
            return True
        saved = self._write_now(lambda: self._update_message_row(message_id, assignments, params))
        if saved:
            self._stream_ended(message_id, status)
        return saved

    @staticmethod
    def _message_update(
        content: str | None, status: str | None, stats: Mapping[str, Any] | None
    ) -> tuple[str, tuple[Any, ...]]:
        values: dict[str, Any] = _stat_values(stats)
        if content is not None:
            check_text(content, "content")
            values["content"] = content
        if status is not None:
            check_choice(status, MESSAGE_STATUSES, "status")
            values["status"] = status
        return ", ".join(f"{name} = ?" for name in values), tuple(values.values())

    def _update_message_row(self, message_id: int, assignments: str, params: tuple[Any, ...]) -> None:
        cursor = self._execute(f"UPDATE messages SET {assignments} WHERE id = ?", (*params, message_id))
        if cursor.rowcount == 0:
            raise NotFound(f"no message {message_id}")

    def _stream_ended(self, message_id: int, status: str | None) -> None:
        if status is not None and status != "streaming":
            self._streaming.discard(message_id)
            writers.STREAMING_HERE.discard((self._file_key, message_id))

    def _forget_streaming(self) -> None:
        """This Store is closing: what it was still writing is now left to the next start to mark stopped."""
        for message_id in self._streaming:
            writers.STREAMING_HERE.discard((self._file_key, message_id))
        self._streaming.clear()

    def message(self, message_id: int) -> Message:
        row = self._row(f"{MESSAGE_SELECT} WHERE m.id = ?", (message_id,))
        if row is None:
            raise NotFound(f"no message {message_id}")
        return message_from_row(row)

    def children(self, conversation_id: int, parent_id: int | None) -> list[Message]:
        return self._messages(
            "WHERE m.conversation_id = ? AND m.parent_id IS ? AND m.deleted_at IS NULL ORDER BY m.id",
            (conversation_id, parent_id),
        )

    def siblings(self, message_id: int) -> list[Message]:
        """The alternatives to a message (itself included): same conversation, parent and role."""
        this = self.message(message_id)
        return self._messages(
            "WHERE m.conversation_id = ? AND m.parent_id IS ? AND m.role = ?"
            " AND (m.deleted_at IS NULL OR m.id = ?) ORDER BY m.id",
            (this.conversation_id, this.parent_id, this.role, message_id),
        )

    def path_to(self, message_id: int) -> list[Message]:
        """Root first, `message_id` last."""
        path = self._messages("JOIN up ON up.id = m.id ORDER BY up.depth DESC", (message_id,), prefix=_PATH_IDS)
        if not path:
            raise NotFound(f"no message {message_id}")
        return path

    def newest_leaf(self, message_id: int | None, conversation_id: int | None = None) -> int | None:
        """Walk down from `message_id` (or from the roots of `conversation_id`) taking the newest live
        child each step; the UI uses it to show a sibling's whole branch when the user switches to it."""
        if message_id is None:
            start = (
                "SELECT MAX(id) FROM messages WHERE conversation_id = ? AND parent_id IS NULL AND deleted_at IS NULL"
            )
            params: tuple = (conversation_id,)
        else:
            start, params = "SELECT ?", (message_id,)
        return self._scalar(
            f"""WITH RECURSIVE down(id) AS (
                    {start}
                    UNION ALL
                    SELECT (SELECT MAX(m.id) FROM messages m
                            WHERE m.parent_id = down.id AND m.deleted_at IS NULL)
                    FROM down WHERE down.id IS NOT NULL
                )
                SELECT MAX(id) FROM down""",
            params,
        )

    def branch(self, conversation_id: int) -> list[Message]:
        """The visible branch, root to active leaf; without a usable active leaf, the newest answers."""
        with self._lock:
            leaf = self.conversation(conversation_id).active_leaf_id
            if leaf is not None:
                row = self._row("SELECT conversation_id, deleted_at FROM messages WHERE id = ?", (leaf,))
                if row is None or row["conversation_id"] != conversation_id or row["deleted_at"]:
                    leaf = None
            if leaf is None:
                leaf = self.newest_leaf(None, conversation_id)
            return [] if leaf is None else self.path_to(leaf)

    def changed_elsewhere(self) -> int:
        """A number that changes whenever another connection (another client, the trainer) commits to the store:
        one cheap read a screen can poll before it looks at what changed."""
        return int(self._scalar("PRAGMA data_version"))

    def conversation_state(self, conversation_id: int) -> tuple:
        """A cheap fingerprint of a conversation's messages and judgements: equal while nothing in it changed
        (new messages, streamed text saved, statuses, deletions, judgements)."""
        row = self._row(
            """SELECT COUNT(*) AS n, MAX(id) AS newest, TOTAL(LENGTH(content)) AS chars,
                      SUM(status = 'streaming') AS streaming, COUNT(deleted_at) AS deleted,
                      (SELECT MAX(j.id) FROM judgements j JOIN messages jm ON jm.id = j.message_id
                       WHERE jm.conversation_id = ?) AS judged
               FROM messages WHERE conversation_id = ?""",
            (conversation_id, conversation_id),
        )
        return tuple(row.values()) if row else ()

    def mark_streaming_stopped(self) -> int:
        """Answers left 'streaming' by a writer that is gone (a killed process, or a Store closed mid-answer)
        become 'stopped'; returns how many. Answers another live process is still streaming are left alone.
        Bookkeeping for a start, so it never waits and never fails: when nothing needs marking it only reads;
        when the write lock is taken or the disk is full it marks nothing now and leaves it to a later start."""
        rows = self._rows("SELECT id, writer_pid, writer_started FROM messages WHERE status = 'streaming'")
        gone = [
            row["id"]
            for row in rows
            if not writers.is_alive(row["writer_pid"], row["writer_started"], self._file_key, row["id"])
        ]
        if not gone:
            return 0
        marked = 0

        def mark() -> None:
            nonlocal marked
            for start in range(0, len(gone), 500):
                chunk = gone[start : start + 500]
                marks = ", ".join("?" for _ in chunk)
                marked += self._execute(
                    f"UPDATE messages SET status = 'stopped' WHERE status = 'streaming' AND id IN ({marks})",
                    chunk,
                ).rowcount

        try:
            if not self._write_now(mark):
                return 0
        except StoreError:
            log.warning("could not mark %d interrupted answers stopped now", len(gone), exc_info=True)
            return 0
        return marked

    def set_excluded(self, message_id: int, excluded: bool) -> None:
        with self.transaction():
            cursor = self._execute("UPDATE messages SET excluded = ? WHERE id = ?", (int(bool(excluded)), message_id))
            if cursor.rowcount == 0:
                raise NotFound(f"no message {message_id}")

    def delete_message(self, message_id: int) -> None:
        """Soft-delete a message and everything below it; the view moves to the newest survivor."""
        with self.transaction():
            this = self.message(message_id)
            self._execute(
                """WITH RECURSIVE below(id) AS (
                       SELECT ? UNION ALL SELECT m.id FROM messages m JOIN below ON m.parent_id = below.id
                   )
                   UPDATE messages SET deleted_at = ?
                   WHERE id IN (SELECT id FROM below) AND deleted_at IS NULL""",
                (message_id, utc_now()),
            )
            leaf = self.conversation(this.conversation_id).active_leaf_id
            if leaf is not None and self._scalar("SELECT deleted_at FROM messages WHERE id = ?", (leaf,)):
                new_leaf = self.newest_leaf(this.parent_id, this.conversation_id)
                self._execute(
                    "UPDATE conversations SET active_leaf_id = ? WHERE id = ?",
                    (new_leaf, this.conversation_id),
                )

    def _messages(self, where: str, params: tuple, *, prefix: str = "") -> list[Message]:
        return [message_from_row(row) for row in self._rows(f"{prefix}{MESSAGE_SELECT} {where}", params)]
