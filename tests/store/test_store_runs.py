"""Training runs, the adapters they produce, and settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuitune.store import DEAD_TRAINER, NotFound, Store


def _run(store: Store, **overrides) -> int:
    arguments = dict(
        params={"lr": 2e-4, "epochs": 1},
        example_ids=[3, 1, 2],
        base_model="llama-2-7b",
        template_fingerprint="tpl-1",
        reason="7 pairs: enough for DPO",
    )
    arguments.update(overrides)
    return store.create_run("dpo", **arguments)


def test_run_lifecycle(store: Store, tmp_path: Path) -> None:
    run_id = _run(store, run_dir=tmp_path / "run1")
    run = store.run(run_id)
    assert (run.status, run.method, run.reason) == ("queued", "dpo", "7 pairs: enough for DPO")
    assert run.params == {"lr": 2e-4, "epochs": 1} and run.example_ids == [3, 1, 2]
    assert (run.base_model, run.template_fingerprint) == ("llama-2-7b", "tpl-1")
    assert run.run_dir == str(tmp_path / "run1") and run.metrics == {}
    assert run.started_at is None and run.finished_at is None
    assert [r.id for r in store.active_runs()] == [run_id]

    store.update_run(run_id, status="running", pid=4242, log_path=tmp_path / "log.jsonl")
    run = store.run(run_id)
    assert (run.status, run.pid, run.log_path) == ("running", 4242, str(tmp_path / "log.jsonl"))
    assert run.started_at is not None and run.started_at >= run.created_at
    store.update_run(run_id, metrics={"loss": [0.9, 0.5]})
    assert store.run(run_id).metrics == {"loss": [0.9, 0.5]}

    store.update_run(run_id, status="cancelled")
    run = store.run(run_id)
    assert run.status == "cancelled" and run.finished_at is not None
    assert store.active_runs() == []

    with pytest.raises(ValueError):
        store.update_run(run_id, colour="blue")
    with pytest.raises(ValueError):
        store.update_run(run_id, status="paused")
    with pytest.raises(NotFound):
        store.update_run(999, status="running")


def test_runs_newest_first(store: Store) -> None:
    ids = [_run(store) for _ in range(3)]
    assert [r.id for r in store.runs()] == ids[::-1]


def test_fail_dead_runs(store: Store) -> None:
    queued_no_pid = _run(store)
    running_dead = _run(store, status="running")
    store.update_run(running_dead, pid=111)
    running_alive = _run(store, status="running")
    store.update_run(running_alive, pid=222)
    finished = _run(store)
    store.update_run(finished, status="failed", pid=111, error="out of memory")

    asked: list[int] = []

    def is_alive(pid: int) -> bool:
        asked.append(pid)
        return pid == 222

    assert store.fail_dead_runs(is_alive) == [queued_no_pid, running_dead]
    assert sorted(asked) == [111, 222]
    for run_id in (queued_no_pid, running_dead):
        run = store.run(run_id)
        assert (run.status, run.error) == ("failed", DEAD_TRAINER)
        assert run.finished_at is not None
    assert store.run(running_alive).status == "running"
    assert store.run(finished).error == "out of memory"
    assert store.fail_dead_runs(is_alive) == []


def test_finish_run_registers_the_adapter(store: Store) -> None:
    parent = store.add_adapter("first", "/adapters/first", "llama-2-7b")
    run_id = _run(store, status="running")
    store.update_run(run_id, metrics={"loss": 0.3})
    adapter_id = store.finish_run(
        run_id,
        adapter={"name": "second", "path": "/adapters/second", "parent_id": parent,
                 "example_counts": {"pairs": 7}},
    )  # fmt: skip
    run = store.run(run_id)
    assert (run.status, run.adapter_id) == ("done", adapter_id)
    assert run.finished_at is not None
    adapter = store.adapter("second")
    assert adapter is not None and adapter.id == adapter_id
    assert (adapter.run_id, adapter.parent_id, adapter.method) == (run_id, parent, "dpo")
    assert (adapter.base_model, adapter.template_fingerprint) == ("llama-2-7b", "tpl-1")
    assert adapter.metrics == {"loss": 0.3} and adapter.example_counts == {"pairs": 7}
    with pytest.raises(ValueError):
        store.finish_run(run_id, adapter={"name": "third", "path": "/x"})


def test_finish_run_is_atomic(store: Store) -> None:
    store.add_adapter("taken", "/adapters/taken", "llama-2-7b")
    run_id = _run(store, status="running")
    with pytest.raises(ValueError, match="already exists"):
        store.finish_run(run_id, adapter={"name": "taken", "path": "/adapters/other"})
    run = store.run(run_id)
    assert (run.status, run.adapter_id, run.finished_at) == ("running", None, None)
    assert [a.name for a in store.adapters()] == ["taken"]
    # a missing parent breaks a foreign key inside the transaction: nothing half-done either
    with pytest.raises(Exception):
        store.finish_run(run_id, adapter={"name": "new", "path": "/p", "parent_id": 999})
    assert store.run(run_id).status == "running"
    assert store.adapter("new") is None


def test_adapters_soft_delete_and_reuse_of_names(store: Store) -> None:
    first = store.add_adapter("a", "/a", "llama", metrics={"reward": 0.5}, method="sft")
    store.add_adapter("b", "/b", "llama")
    assert [a.name for a in store.adapters()] == ["b", "a"]
    with pytest.raises(ValueError):
        store.add_adapter("a", "/a2", "llama")
    c = store.new_conversation()
    answer = store.add_message(c, "assistant", "x", adapter_id=first)
    store.delete_adapter("a")
    assert store.adapter("a") is None
    assert [a.name for a in store.adapters()] == ["b"]
    assert store.adapter_by_id(first).deleted_at is not None
    assert store.message(answer).adapter == "a"  # history still names what produced it
    second = store.add_adapter("a", "/a3", "llama")
    assert store.adapter("a").id == second != first  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        store.delete_adapter("nope")
    with pytest.raises(NotFound):
        store.adapter_by_id(999)


def test_settings(store: Store) -> None:
    assert store.get_setting("active_adapter") is None
    assert store.get_setting("active_adapter", "base") == "base"
    store.set_setting("active_adapter", "a1")
    store.set_setting("active_adapter", "a2")
    assert store.get_setting("active_adapter") == "a2"
    store.set_setting("active_adapter", None)
    assert store.get_setting("active_adapter", "base") == "base"
