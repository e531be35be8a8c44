"""A run's last event, written to the store once. The trainer and every watching parent call `settle` with the
terminal event they saw; whoever comes first writes it, the others find it written (idempotent). And what a dead
trainer leaves behind: its run row, still 'running', and a half-saved adapter folder."""

from __future__ import annotations

import os
import re
import shutil
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
        decision = metrics.get("decision") or {}
        promotion = None
        if isinstance(decision.get("promote"), bool):
            promotion = ("promoted" if decision["promote"] else "held_back", str(decision.get("reason", "")))
        store.update_run(run_id, metrics=metrics)
        try:
            store.finish_run(
                run_id,
                promotion=promotion,
                adapter={
                    "name": event["adapter_name"],
                    "path": event["adapter_path"],
                    "method": run.method,
                    "parent_id": config.parent_adapter_id if config else None,
                    "metrics": metrics,
                    "template_fingerprint": run.template_fingerprint,
                    "example_counts": config.counts if config else None,
                },
            )
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


# The trainer saves into `.{adapter name}-XXXXXX` beside the adapters and renames it when complete; a trainer
# killed in between leaves it. Adapter names are `{method}-run{id}-{time}`.
_PARTIAL_SAVE = re.compile(r"^\.(?:sft|dpo|kto)-run(\d+)-")


def remove_stale_saves(store: Store, adapters_dir: Path) -> list[Path]:
    """Remove the half-saved adapter folders of runs that are over (or unknown); returns what went."""
    try:
        entries = list(adapters_dir.iterdir()) if adapters_dir.is_dir() else []
    except OSError:  # unreadable: nothing to tidy, and no reason to stop a start
        return []
    removed = []
    for path in entries:
        match = _PARTIAL_SAVE.match(path.name)
        if not match or not path.is_dir() or path.is_symlink():
            continue
        try:
            run = store.run(int(match.group(1)))
        except LookupError:
            run = None
        if run is not None and run.status in _LIVE and pid_alive(run.pid):
            continue  # its trainer may be saving right now
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
