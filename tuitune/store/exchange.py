"""Whole conversation trees in and out, for `tuitune import` and `tuitune export`.

An import writes many trees in the caller's one transaction and records a key per imported conversation, so
importing the same file again adds nothing. The trees keep their timestamps, statuses, stats, adapters' names and
judgement histories, so an export imported into an empty home reproduces the store it came from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .db import utc_now
from .judgements import Judgements
from .messages import MESSAGE_SELECT
from .records import (
    JUDGEMENTS,
    MESSAGE_STATUSES,
    ROLES,
    SOURCES,
    STAT_FIELDS,
    Conversation,
    Message,
    check_choice,
    check_text,
    conversation_from_row,
    message_from_row,
)


@dataclass(frozen=True)
class JudgementRecord:
    value: str | None
    note: str | None = None
    created_at: str | None = None  # None: now


@dataclass(frozen=True)
class MessageRecord:
    parent: int | None  # index of the parent in the tree's `messages`; parents come before children
    role: str
    content: str
    judgements: tuple[JudgementRecord, ...] = ()  # oldest first; the last one is the current judgement
    status: str = "complete"
    source: str = "import"
    adapter: str | None = None  # an adapter's name; None: the base model (or no model) wrote it
    model: str | None = None
    stats: tuple[tuple[str, Any], ...] = ()
    excluded: bool = False
    created_at: str | None = None


@dataclass(frozen=True)
class ConversationRecord:
    title: str
    system_prompt: str | None
    messages: tuple[MessageRecord, ...]
    created_at: str | None = None
    updated_at: str | None = None
    active_leaf: int | None = None  # index into `messages`; None: the last message

    def check(self) -> None:
        """Raise ValueError for anything the tables would refuse, before a transaction starts."""
        check_text(self.title, "title")
        check_text(self.system_prompt, "system_prompt", optional=True)
        for index, m in enumerate(self.messages):
            check_choice(m.role, ROLES, "role")
            check_choice(m.status, MESSAGE_STATUSES, "status")
            check_choice(m.source, SOURCES, "source")
            check_text(m.content, "content")
            if m.parent is not None and not 0 <= m.parent < index:
                raise ValueError(f"message {index}: its parent must come before it")
            unknown = {name for name, _ in m.stats} - set(STAT_FIELDS)
            if unknown:
                raise ValueError(f"unknown stats {sorted(unknown)}")
            for j in m.judgements:
                if j.value is not None:
                    check_choice(j.value, JUDGEMENTS, "judgement")
        if self.active_leaf is not None and not 0 <= self.active_leaf < len(self.messages):
            raise ValueError("active leaf is not one of the messages")


@dataclass(frozen=True)
class ConversationTree:
    conversation: Conversation
    messages: list[Message]  # live messages, oldest first (parents before children)
    judgements: dict[int, list[tuple[str | None, str | None, str]]]  # per message: (value, note, created_at)


class Exchange(Judgements):
    def imported_keys(self, keys: Iterable[str]) -> set[str]:
        """Those of `keys` already imported into a conversation that is still live."""
        wanted = list(dict.fromkeys(keys))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = self._rows(
                f"""SELECT DISTINCT i.key FROM imports i JOIN conversations c ON c.id = i.conversation_id
                    WHERE c.deleted_at IS NULL AND i.key IN ({marks})""",
                chunk,
            )
            found.update(row["key"] for row in rows)
        return found

    def conversation_created_times(self) -> set[str]:
        """When each live conversation was created: a lossless export carries these, so re-importing an export
        into the home it came from recognises its conversations."""
        rows = self._rows("SELECT created_at FROM conversations WHERE deleted_at IS NULL")
        return {row["created_at"] for row in rows}

    def insert_conversation(
        self, record: ConversationRecord, *, key: str | None = None, source: str | None = None
    ) -> list[int]:
        """Write one whole tree (and its import key) and return its message ids, in `record.messages` order.
        Joins the caller's transaction, so many trees can be written all or nothing."""
        record.check()
        now = utc_now()
        with self.transaction():
            cursor = self._execute(
                "INSERT INTO conversations (title, system_prompt, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (
                    record.title,
                    record.system_prompt,
                    record.created_at or now,
                    record.updated_at or record.created_at or now,
                ),
            )
            conversation_id = int(cursor.lastrowid)  # type: ignore[arg-type]
            ids: list[int] = []
            for m in record.messages:
                values = {
                    "conversation_id": conversation_id,
                    "parent_id": None if m.parent is None else ids[m.parent],
                    "role": m.role,
                    "content": m.content,
                    "status": m.status,
                    "adapter_id": None if m.adapter is None else self._adapter_id_for_import(m.adapter, m.model),
                    "source": m.source,
                    "model": m.model,
                    "created_at": m.created_at or now,
                    "excluded": int(m.excluded),
                    **dict(m.stats),
                }
                columns = ", ".join(values)
                marks = ", ".join("?" for _ in values)
                cursor = self._execute(f"INSERT INTO messages ({columns}) VALUES ({marks})", tuple(values.values()))
                message_id = int(cursor.lastrowid)  # type: ignore[arg-type]
                ids.append(message_id)
                for j in m.judgements:
                    self._execute(
                        "INSERT INTO judgements (message_id, value, note, created_at) VALUES (?, ?, ?, ?)",
                        (message_id, j.value, j.note, j.created_at or now),
                    )
            if ids:
                leaf = ids[-1] if record.active_leaf is None else ids[record.active_leaf]
                self._execute("UPDATE conversations SET active_leaf_id = ? WHERE id = ?", (leaf, conversation_id))
            if key is not None:
                self._execute(
                    "INSERT INTO imports (key, conversation_id, source, created_at) VALUES (?, ?, ?, ?)",
                    (key, conversation_id, source, now),
                )
        return ids

    def conversation_trees(self) -> list[ConversationTree]:
        """Every live conversation with its live messages and their judgement histories, oldest first."""
        conversations = [
            conversation_from_row(row)
            for row in self._rows("SELECT * FROM conversations WHERE deleted_at IS NULL ORDER BY id")
        ]
        messages: dict[int, list[Message]] = defaultdict(list)
        for row in self._rows(
            f"""{MESSAGE_SELECT} WHERE m.deleted_at IS NULL AND m.conversation_id IN
                (SELECT id FROM conversations WHERE deleted_at IS NULL) ORDER BY m.conversation_id, m.id"""
        ):
            messages[row["conversation_id"]].append(message_from_row(row))
        history: dict[int, list[tuple[str | None, str | None, str]]] = defaultdict(list)
        for row in self._rows(
            """SELECT j.message_id, j.value, j.note, j.created_at FROM judgements j
               JOIN messages m ON m.id = j.message_id
               WHERE m.deleted_at IS NULL ORDER BY j.message_id, j.id"""
        ):
            history[row["message_id"]].append((row["value"], row["note"], row["created_at"]))
        return [
            ConversationTree(c, messages[c.id], {m.id: history[m.id] for m in messages[c.id] if m.id in history})
            for c in conversations
        ]

    def _adapter_id_for_import(self, name: str, model: str | None) -> int:
        """The adapter of that name (live first, else the newest deleted one). An adapter known only from an
        imported file gets a deleted placeholder row: its messages keep its name, the adapters list stays
        truthful (there are no weights to load)."""
        found = self._scalar(
            "SELECT id FROM adapters WHERE name = ? ORDER BY deleted_at IS NOT NULL, id DESC LIMIT 1", (name,)
        )
        if found is not None:
            return int(found)
        now = utc_now()
        cursor = self._execute(
            """INSERT INTO adapters (name, path, base_model, metrics, created_at, deleted_at)
               VALUES (?, '', ?, '{}', ?, ?)""",
            (name, model or "", now, now),
        )
        return int(cursor.lastrowid)  # type: ignore[arg-type]
