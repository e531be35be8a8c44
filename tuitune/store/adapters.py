"""Adapters (trained LoRA weights on disk, and where they came from) and small key/value settings."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from .db import NotFound, StoreBase, utc_now
from .records import GENERATED_SOURCES, Adapter, adapter_from_row, check_text, to_json


class Adapters(StoreBase):
    def add_adapter(
        self,
        name: str,
        path: str,
        base_model: str,
        *,
        method: str | None = None,
        run_id: int | None = None,
        parent_id: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        template_fingerprint: str | None = None,
        example_counts: Mapping[str, Any] | None = None,
    ) -> int:
        check_text(name, "name")
        if not name.strip():
            raise ValueError("an adapter needs a name")
        try:
            with self.transaction():
                cursor = self._execute(
                    """INSERT INTO adapters (name, path, base_model, method, run_id, parent_id, metrics,
                                             template_fingerprint, example_counts, created_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        name,
                        str(path),
                        base_model,
                        method,
                        run_id,
                        parent_id,
                        to_json(dict(metrics or {})),
                        template_fingerprint,
                        to_json(None if example_counts is None else dict(example_counts)),
                        utc_now(),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise ValueError(f"an adapter named {name!r} already exists") from exc
            raise
        return int(cursor.lastrowid)  # type: ignore[arg-type]

    def adapter(self, name: str) -> Adapter | None:
        """The live adapter of that name, or None."""
        row = self._row("SELECT * FROM adapters WHERE name = ? AND deleted_at IS NULL", (name,))
        return None if row is None else adapter_from_row(row)

    def adapter_by_id(self, adapter_id: int) -> Adapter:
        """Deleted adapters too: old messages and runs still point at them."""
        row = self._row("SELECT * FROM adapters WHERE id = ?", (adapter_id,))
        if row is None:
            raise NotFound(f"no adapter {adapter_id}")
        return adapter_from_row(row)

    def adapters(self) -> list[Adapter]:
        """Live adapters, newest first."""
        rows = self._rows("SELECT * FROM adapters WHERE deleted_at IS NULL ORDER BY id DESC")
        return [adapter_from_row(row) for row in rows]

    def delete_adapter(self, name: str) -> None:
        """Soft delete: the row stays so that messages and runs keep naming their adapter."""
        with self.transaction():
            cursor = self._execute(
                "UPDATE adapters SET deleted_at = ? WHERE name = ? AND deleted_at IS NULL",
                (utc_now(), name),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no adapter named {name!r}")

    def approval(self, adapter_id: int | None) -> tuple[int, int]:
        """(good, judged) over live answers that adapter generated; None means the base model."""
        marks = ", ".join("?" for _ in GENERATED_SOURCES)
        row = self._row(
            f"""SELECT COALESCE(SUM(j.value = 'good'), 0) AS good, COUNT(*) AS judged
                FROM messages m
                JOIN judgements j ON j.id = (SELECT MAX(id) FROM judgements WHERE message_id = m.id)
                WHERE m.adapter_id IS ? AND m.role = 'assistant' AND m.deleted_at IS NULL
                  AND m.source IN ({marks}) AND j.value IS NOT NULL""",
            (adapter_id, *GENERATED_SOURCES),
        )
        assert row is not None
        return int(row["good"]), int(row["judged"])

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = self._row("SELECT value FROM settings WHERE key = ?", (key,))
        return default if row is None or row["value"] is None else row["value"]

    def set_setting(self, key: str, value: str | None) -> None:
        """None removes the key."""
        check_text(value, "value", optional=True)
        with self.transaction():
            if value is None:
                self._execute("DELETE FROM settings WHERE key = ?", (key,))
            else:
                self._execute(
                    "INSERT INTO settings (key, value) VALUES (?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
