"""Conversations: the containers of message trees."""

from __future__ import annotations

import contextlib
import os

from . import writers
from .db import NotFound, StoreBase, StoreError, utc_now
from .records import Conversation, check_text, conversation_from_row


class Conversations(StoreBase):
    def new_conversation(self, title: str = "New chat", system_prompt: str | None = None) -> int:
        check_text(title, "title")
        check_text(system_prompt, "system_prompt", optional=True)
        now = utc_now()
        with self.transaction():
            cursor = self._execute(
                "INSERT INTO conversations (title, system_prompt, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (title, system_prompt, now, now),
            )
        return int(cursor.lastrowid)  # type: ignore[arg-type]

    def conversation(self, conversation_id: int) -> Conversation:
        row = self._row("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if row is None:
            raise NotFound(f"no conversation {conversation_id}")
        return conversation_from_row(row)

    def conversations(self) -> list[Conversation]:
        rows = self._rows("SELECT * FROM conversations WHERE deleted_at IS NULL ORDER BY updated_at DESC, id DESC")
        return [conversation_from_row(row) for row in rows]

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        check_text(title, "title")
        self._update_conversation(conversation_id, "title = ?, updated_at = ?", (title, utc_now()))

    def set_system_prompt(self, conversation_id: int, text: str | None) -> None:
        check_text(text, "system_prompt", optional=True)
        self._update_conversation(conversation_id, "system_prompt = ?, updated_at = ?", (text, utc_now()))

    def delete_conversation(self, conversation_id: int) -> None:
        """Soft delete: the conversation leaves every list, its rows stay on disk."""
        now = utc_now()
        self._update_conversation(conversation_id, "deleted_at = COALESCE(deleted_at, ?)", (now,))

    def set_active_leaf(self, conversation_id: int, message_id: int | None) -> None:
        """Choose the message the visible branch ends at (None: follow the newest answers)."""
        with self.transaction():
            if message_id is not None:
                owner = self._scalar("SELECT conversation_id FROM messages WHERE id = ?", (message_id,))
                if owner != conversation_id:
                    raise ValueError(f"message {message_id} is not in conversation {conversation_id}")
            self._update_conversation(conversation_id, "active_leaf_id = ?", (message_id,))

    # ---- which conversation each app process shows ----------------------------------------------------------
    def show_conversation(self, conversation_id: int | None) -> bool:
        """Record the conversation this process shows (None: none, as it closes). Bookkeeping, so it never waits
        and never fails: False when a busy or full store kept the old row (it only marks a list entry), for the
        caller to try again later."""
        pid, started = writers.this_process()

        def write() -> None:
            if conversation_id is None:
                self._execute("DELETE FROM open_conversations WHERE pid = ?", (pid,))
            else:
                self._execute(
                    "INSERT OR REPLACE INTO open_conversations (pid, pid_started, conversation_id, opened_at)"
                    " VALUES (?, ?, ?, ?)",
                    (pid, started, conversation_id, utc_now()),
                )

        with contextlib.suppress(StoreError):
            return self._write_now(write)
        return False

    def open_elsewhere(self) -> dict[int, int]:
        """{conversation id: how many other live app processes show it}."""
        shown: dict[int, int] = {}
        for row in self._rows("SELECT pid, pid_started, conversation_id FROM open_conversations"):
            if row["pid"] != os.getpid() and writers.process_alive(row["pid"], row["pid_started"]):
                shown[row["conversation_id"]] = shown.get(row["conversation_id"], 0) + 1
        return shown

    def _update_conversation(self, conversation_id: int, assignments: str, params: tuple) -> None:
        cursor = self._execute(f"UPDATE conversations SET {assignments} WHERE id = ?", (*params, conversation_id))
        if cursor.rowcount == 0:
            raise NotFound(f"no conversation {conversation_id}")
