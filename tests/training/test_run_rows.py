"""Several processes on one home: a new run's row is never taken for a dead one, two starts never both get in, a
finished trainer never stays a zombie, and a trainer killed while saving leaves nothing behind for long. These use
a stand-in launcher (a shell that sleeps or exits), so no model loads."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from training_stores import tldr_store
from tuitune.store import Store
from tuitune.training import launcher, reap_dead_runs, start_run
from tuitune.training.launcher import RunBusy
from tuitune.training.runs import remove_stale_saves

IDENTITY = {"template_fingerprint": "f" * 16, "base_model": "SmolLM2-135M-Instruct"}


@pytest.fixture
def sleeping_trainer(fast_settings):
    """A 'trainer' that lives 60 s and does nothing; killed at the end of the test."""
    fast_settings = fast_settings.with_overrides({"train.launcher": "sh -c 'sleep 60' --"})
    started: list[int] = []
    yield fast_settings, started
    for pid in started:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_run_listed_before_its_trainer_is_known_is_not_taken_for_dead(sleeping_trainer, store, monkeypatch):
    settings, started = sleeping_trainer
    tldr_store(store, pairs=False, count=2)
    spawn = launcher.spawn_trainer

    def spawn_after_someone_lists_the_runs(*args, **kwargs):
        other = Store.open(settings.db_path)  # `tuitune runs`, or a TUI opening, in that window
        try:
            reap_dead_runs(other)
        finally:
            other.close()
        process = spawn(*args, **kwargs)
        started.append(process.pid)
        return process

    monkeypatch.setattr(launcher, "spawn_trainer", spawn_after_someone_lists_the_runs)
    handle = start_run(settings, store, "sft", **IDENTITY)
    run = store.run(handle.run_id)
    assert run.status == "queued" and run.error is None
    assert run.pid == handle.process.pid


def test_two_starts_at_once_start_one_run(sleeping_trainer, store, monkeypatch):
    settings, started = sleeping_trainer
    tldr_store(store, pairs=False, count=2)
    both_planned = threading.Barrier(2, timeout=30)
    build = launcher.data.build

    def build_then_wait(*args, **kwargs):  # both have passed the first "is a run going?" look
        plan = build(*args, **kwargs)
        both_planned.wait()
        return plan

    monkeypatch.setattr(launcher.data, "build", build_then_wait)
    results: list[object] = []

    def start() -> None:
        own = Store.open(settings.db_path)  # a process of its own, as far as SQLite can tell
        try:
            handle = start_run(settings, own, "sft", **IDENTITY)
            started.append(handle.process.pid)
            results.append(handle.run_id)
        except RunBusy as exc:
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(type(r).__name__ for r in results) == ["RunBusy", "int"], results
    assert len(store.active_runs()) == 1


def test_a_trainer_that_ends_is_reaped_though_nobody_follows_it(fast_settings, store):
    # A trainer that exits at once; the TUI would keep running, never asking.
    fast_settings = fast_settings.with_overrides({"train.launcher": "true"})
    tldr_store(store, pairs=False, count=2)
    handle = start_run(fast_settings, store, "sft", **IDENTITY)
    pid = handle.process.pid
    deadline = time.monotonic() + 10
    state = "R"
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                state = stat.read().rsplit(")", 1)[-1].split()[0]
        except FileNotFoundError:
            state = "gone"
            break
        time.sleep(0.1)
    assert state == "gone", f"the trainer process is left in state {state} (Z: a zombie)"


def test_a_half_saved_adapter_folder_is_removed_at_the_next_start(fast_settings, store):
    fast_settings = fast_settings.with_overrides({"train.launcher": "true"})
    tldr_store(store, pairs=False, count=2)
    dead = store.create_run("sft", params={}, example_ids=[], base_model="x", status="running")
    store.update_run(dead, pid=2**22 + 1)  # no such process
    live = store.create_run("sft", params={}, example_ids=[], base_model="x", status="done")
    fast_settings.adapters_dir.mkdir(parents=True)
    partial = fast_settings.adapters_dir / f".sft-run{dead}-20260101-000000-k2j4h1"
    partial.mkdir()
    (partial / "adapter_model.safetensors").write_bytes(b"half")
    finished = fast_settings.adapters_dir / f".dpo-run{live}-20260101-000000-x9"
    finished.mkdir()
    kept = fast_settings.adapters_dir / "sft-run1-20260101-000000"  # a complete adapter
    kept.mkdir()
    start_run(fast_settings, store, "sft", **IDENTITY)
    assert not partial.exists() and not finished.exists()
    assert kept.is_dir()


def test_the_half_saved_folder_of_a_run_still_saving_is_left_alone(settings, store):
    saving = store.create_run("sft", params={}, example_ids=[], base_model="x", status="running")
    store.update_run(saving, pid=os.getpid())
    settings.adapters_dir.mkdir(parents=True)
    partial = settings.adapters_dir / f".sft-run{saving}-20260101-000000-abc"
    partial.mkdir()
    assert remove_stale_saves(store, settings.adapters_dir) == []
    assert partial.is_dir()
