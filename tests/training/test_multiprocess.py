"""`train.launcher` with accelerate, for real: two trainer processes on this CPU (torch.distributed over gloo) on the
embedded model in nf4. One adapter, saved once by rank 0; the run records the world size; events come from rank 0
only; a cancel stops every rank; a rank that dies fails the run with its reason.

`accelerate launch --cpu --num_processes 2` starts ONE process (accelerate runs several CPU processes only through
mpirun), so tuitune refuses it; `--multi_gpu --num_processes 2` runs torch.distributed's launcher, which on a
machine without a GPU gives each rank the CPU and gloo. About 40 s per run on a 2-core machine."""

from __future__ import annotations

import os
import time

import pytest

from training_stores import tldr_store
from tuitune.training import start_run
from tuitune.training.config import FAIL_AT_STEP_ENV, FAIL_RANK_ENV
from tuitune.training.launcher import LauncherError

TWO_PROCESSES = "accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no"


@pytest.fixture
def two_processes(fast_settings, store):
    fast_settings = fast_settings.with_overrides({
        "train.launcher": TWO_PROCESSES,
        "train.batch_size": 2,  # per process: 4 rows a step, as the one-process default
    })
    tldr_store(store, pairs=False, count=8)
    return fast_settings


def _descendants(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                    if int(handle.read().rsplit(")", 1)[-1].split()[1]) == pid:
                        children += [int(entry), *_descendants(int(entry))]
            except OSError:
                continue
    return children


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_two_processes_train_one_adapter_saved_once_by_rank_0(two_processes, store):
    two_processes = two_processes.with_overrides({"train.max_steps": 3})
    handle = start_run(two_processes, store, "sft")
    events = list(handle.events())
    assert events[-1]["event"] == "done", events[-1]
    starts = [e for e in events if e["event"] == "start"]
    assert len(starts) == 1 and starts[0]["world_size"] == 2  # rank 0 alone speaks
    assert [e["step"] for e in events if e["event"] == "progress"] == [1, 2, 3]
    run = store.run(handle.run_id)
    assert run.status == "done" and run.metrics["world_size"] == 2
    assert [a.name for a in store.adapters()] == [handle.adapter_name]
    assert sorted(p.name for p in two_processes.adapters_dir.iterdir()) == [handle.adapter_name]
    assert "DistributedDataParallel on 2 process(es)" in handle.log_path.read_text()


@pytest.mark.slow
def test_cancel_stops_every_rank(two_processes, store):
    two_processes = two_processes.with_overrides({"train.max_steps": 200})
    handle = start_run(two_processes, store, "sft")
    ranks: list[int] = []
    for event in handle.events():
        if event["event"] == "progress" and not ranks:
            ranks = _descendants(handle.process.pid)
            handle.cancel()
    assert event["event"] == "cancelled", event
    assert len(ranks) >= 2  # the launcher's two workers
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(p) for p in [handle.process.pid, *ranks]):
        time.sleep(0.1)
    assert not [p for p in [handle.process.pid, *ranks] if _running(p)], "a rank outlived the cancel"
    assert store.run(handle.run_id).status == "cancelled" and store.adapters() == []


@pytest.mark.slow
def test_a_rank_that_dies_fails_the_run_with_its_reason(two_processes, store):
    two_processes = two_processes.with_overrides({"train.max_steps": 200})
    handle = start_run(two_processes, store, "sft", env={FAIL_AT_STEP_ENV: "1", FAIL_RANK_ENV: "1"})
    event = handle.wait()
    assert event["event"] == "error", event
    assert event["message"].startswith("rank 1 of the run failed") and "fail at step 1" in event["message"]
    run = store.run(handle.run_id)
    assert run.status == "failed" and run.error == event["message"]
    assert store.adapters() == []


def test_accelerate_cpu_with_several_processes_is_refused_before_anything_starts(fast_settings, store):
    fast_settings = fast_settings.with_overrides({"train.launcher": "accelerate launch --cpu --num_processes 2"})
    tldr_store(store, pairs=False, count=2)
    with pytest.raises(LauncherError, match="starts one process, not 2"):
        start_run(fast_settings, store, "sft", template_fingerprint="f" * 16, base_model="x")
    assert store.runs() == []
