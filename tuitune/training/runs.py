"""A run's last event, written to the store once. The trainer and every watching parent call `settle` with the
terminal event they saw; whoever comes first writes it, the others find it written (idempotent)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tuitune.store import Store
from tuitune.training.config import RunConfig

TERMINAL = ("done", "error", "cancelled")
_LIVE = ("queued", "running")


def settle(store: Store, run_id: int, event: dict[str, Any], config: RunConfig | None = None) -> None:
    kind = event.get("event")
    run = store.run(run_id)
    if kind == "done":
        if run.status == "done":
            return
        if config is None and run.run_dir and Path(run.run_dir, "run.json").is_file():
            config = RunConfig.read(run.run_dir)
        metrics = event.get("metrics") or {}
        store.update_run(run_id, metrics=metrics)
        try:
            store.finish_run(run_id, adapter={
                "name": event["adapter_name"],
                "path": event["adapter_path"],
                "method": run.method,
                "parent_id": config.parent_adapter_id if config else None,
                "metrics": metrics,
                "template_fingerprint": run.template_fingerprint,
                "example_counts": config.counts if config else None,
            })
        except ValueError:
            if store.run(run_id).status != "done":  # not a lost race: a real problem
                raise
    elif kind in ("error", "cancelled") and run.status in _LIVE:
        if kind == "cancelled":
            store.update_run(run_id, status="cancelled", error=event.get("message"))
        else:
            store.update_run(run_id, status="failed", error=event.get("message") or "the trainer failed")


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited; only its parent has not collected it yet
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def reap_dead_runs(store: Store) -> list[int]:
    """Runs left queued or running by a trainer that is gone are failed; call at every start."""
    return store.fail_dead_runs(pid_alive)
