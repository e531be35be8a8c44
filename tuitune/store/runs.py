"""Training runs: what was trained, on which examples, how it went, and what it produced."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .adapters import Adapters
from .db import NotFound, utc_now
from .records import (
    LIVE_RUN_STATUSES,
    PROMOTIONS,
    RUN_STATUSES,
    Run,
    check_choice,
    check_text,
    run_from_row,
    to_json,
)

_JSON_FIELDS = frozenset({"params", "example_ids", "metrics"})
_UPDATABLE = frozenset(
    {
        "status", "method", "reason", "params", "example_ids", "base_model", "template_fingerprint",
        "started_at", "finished_at", "pid", "error", "log_path", "run_dir", "metrics", "adapter_id", "job_id",
    }
)  # fmt: skip
_ENDED = frozenset({"done", "failed", "cancelled"})
DEAD_TRAINER = "the trainer process died"


class Runs(Adapters):
    def create_run(
        self,
        method: str,
        *,
        params: Mapping[str, Any],
        example_ids: Iterable[int],
        base_model: str,
        template_fingerprint: str | None = None,
        reason: str | None = None,
        run_dir: str | None = None,
        log_path: str | None = None,
        status: str = "queued",
    ) -> int:
        check_choice(status, RUN_STATUSES, "run status")
        now = utc_now()
        with self.transaction():
            cursor = self._execute(
                """INSERT INTO runs (status, method, reason, params, example_ids, base_model,
                                     template_fingerprint, created_at, started_at, run_dir, log_path)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    status,
                    method,
                    reason,
                    to_json(dict(params)),
                    to_json([int(i) for i in example_ids]),
                    base_model,
                    template_fingerprint,
                    now,
                    now if status == "running" else None,
                    None if run_dir is None else str(run_dir),
                    None if log_path is None else str(log_path),
                ),
            )
        return int(cursor.lastrowid)  # type: ignore[arg-type]

    def update_run(self, run_id: int, **fields: Any) -> None:
        """Set columns by name. Moving to 'running' stamps started_at, and to an end state finished_at,
        unless they are given or already set."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"runs have no updatable column {sorted(unknown)}")
        if "status" in fields:
            check_choice(fields["status"], RUN_STATUSES, "run status")
        assignments, params = [], []
        for name, value in fields.items():
            if name in _JSON_FIELDS and value is not None:
                value = to_json(value)
            elif isinstance(value, os.PathLike):
                value = str(value)
            assignments.append(f"{name} = ?")
            params.append(value)
        now = utc_now()
        status = fields.get("status")
        if status == "running" and "started_at" not in fields:
            assignments.append("started_at = COALESCE(started_at, ?)")
            params.append(now)
        if status in _ENDED and "finished_at" not in fields:
            assignments.append("finished_at = COALESCE(finished_at, ?)")
            params.append(now)
        if not assignments:
            return
        with self.transaction():
            cursor = self._execute(f"UPDATE runs SET {', '.join(assignments)} WHERE id = ?", (*params, run_id))
            if cursor.rowcount == 0:
                raise NotFound(f"no run {run_id}")

    def run(self, run_id: int) -> Run:
        row = self._row("SELECT * FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise NotFound(f"no run {run_id}")
        return run_from_row(row)

    def runs(self) -> list[Run]:
        """Newest first."""
        return [run_from_row(row) for row in self._rows("SELECT * FROM runs ORDER BY id DESC")]

    def judgements_since_last_run(self) -> int:
        """Judgements given (not cleared) since the newest run was created, or ever when there is none: what
        train.auto_after counts."""
        row = self._row(
            """SELECT COUNT(*) AS n FROM judgements
               WHERE value IS NOT NULL AND created_at > COALESCE((SELECT MAX(created_at) FROM runs), '')"""
        )
        return int(row["n"]) if row is not None else 0

    def active_runs(self) -> list[Run]:
        rows = self._rows("SELECT * FROM runs WHERE status IN (?, ?) ORDER BY id", LIVE_RUN_STATUSES)
        return [run_from_row(row) for row in rows]

    def fail_dead_runs(self, is_alive: Callable[[int], bool]) -> list[int]:
        """Runs still queued or running whose trainer has no pid or a dead one are failed; returns ids.
        The check and the update share one write transaction, so a trainer that reports in meanwhile
        waits for it rather than being overwritten. Nearly always no run needs failing: that is found by reading
        alone, so listing runs works while another process writes and on a full disk."""

        alive: dict[int, bool] = {}  # each pid is asked about once

        def dead_ids() -> list[int]:
            rows = self._rows(  # a server's job is followed through the server, not by a local pid
                "SELECT id, pid FROM runs WHERE status IN (?, ?) AND job_id IS NULL ORDER BY id", LIVE_RUN_STATUSES
            )
            for row in rows:
                if row["pid"] is not None and row["pid"] not in alive:
                    alive[row["pid"]] = is_alive(row["pid"])
            return [row["id"] for row in rows if row["pid"] is None or not alive[row["pid"]]]

        if not dead_ids():
            return []
        with self.transaction():
            dead = dead_ids()
            now = utc_now()
            for run_id in dead:
                self._execute(
                    "UPDATE runs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?",
                    (DEAD_TRAINER, now, run_id),
                )
        return dead

    def finish_run(self, run_id: int, *, adapter: Mapping[str, Any], promotion: tuple[str, str] | None = None) -> int:
        """Register the run's adapter and mark the run done, together or not at all. `adapter` holds
        add_adapter's arguments; base model, method, fingerprint and metrics default to the run's. `promotion`:
        (promoted | held_back, the one-line reason), written with them."""
        with self.transaction():
            run = self.run(run_id)
            if run.status == "done":
                raise ValueError(f"run {run_id} is already done")
            if adapter.get("run_id", run_id) != run_id:
                raise ValueError("the adapter's run_id must be the run it finishes")
            arguments = {
                "base_model": run.base_model,
                "method": run.method,
                "template_fingerprint": run.template_fingerprint,
                "metrics": run.metrics,
                **adapter,
                "run_id": run_id,
            }
            adapter_id = self.add_adapter(**arguments)
            self._execute(
                "UPDATE runs SET status = 'done', adapter_id = ?, finished_at = ?, error = NULL WHERE id = ?",
                (adapter_id, utc_now(), run_id),
            )
            if promotion is not None:
                self.set_promotion(run_id, *promotion)
        return adapter_id

    def set_promotion(self, run_id: int, promotion: str, reason: str) -> None:
        """Record whether the run's adapter went live and why, on the run and on its adapter, together."""
        check_choice(promotion, PROMOTIONS, "promotion")
        check_text(reason, "reason")
        with self.transaction():
            run = self.run(run_id)
            self._execute(
                "UPDATE runs SET promotion = ?, promotion_reason = ? WHERE id = ?", (promotion, reason, run_id)
            )
            if run.adapter_id is not None:
                self._execute(
                    "UPDATE adapters SET promotion = ?, promotion_reason = ? WHERE id = ?",
                    (promotion, reason, run.adapter_id),
                )
