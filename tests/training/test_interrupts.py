"""Interrupts are prompt: a cancel (F5 in the TUI, `handle.cancel()`) and Ctrl-C on `tuitune train` stop the trainer
within a few seconds even in the middle of a long step or while the model loads, not at the next step's end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from training_stores import tldr_store
from tuitune.training import start_run

STOPPED_WITHIN_S = 5.0


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


def _long_steps(settings):
    """One optimizer step over 32 micro-batches of 4 rows: about 30 s on a 2-core CPU."""
    return settings.with_overrides({"train.max_steps": 2, "train.batch_size": 4, "train.grad_accum": 32})


def test_cancel_in_the_middle_of_a_long_step_stops_within_seconds(fast_settings, store):
    fast_settings = _long_steps(fast_settings)
    tldr_store(store, pairs=False, count=8)
    handle = start_run(fast_settings, store, "sft")
    asked = None
    for event in handle.events():
        if event["event"] == "phase" and event["name"] == "train":
            time.sleep(1.0)  # well inside the first step
            asked = time.monotonic()
            handle.cancel()
    assert asked is not None, event
    stopped = time.monotonic() - asked
    assert event["event"] == "cancelled", event
    assert stopped < STOPPED_WITHIN_S, f"the trainer took {stopped:.1f} s to stop"
    assert not any(e["event"] == "progress" for e in handle.events())  # it did not finish the step first
    assert store.run(handle.run_id).status == "cancelled" and store.adapters() == []
    assert "Traceback" not in handle.log_path.read_text()  # a cancel, not a crash


def test_cancel_while_the_model_loads_stops_within_seconds(fast_settings, store):
    tldr_store(store, pairs=False, count=4)
    handle = start_run(fast_settings, store, "sft")
    asked = None
    for event in handle.events(poll_s=0.05):
        if event["event"] == "phase" and event["name"] == "load":
            asked = time.monotonic()
            handle.cancel()
    assert asked is not None, event
    stopped = time.monotonic() - asked
    assert event["event"] == "cancelled", event
    assert stopped < STOPPED_WITHIN_S, f"the trainer took {stopped:.1f} s to stop"
    assert [e["name"] for e in handle.events() if e["event"] == "phase"] == ["load"]  # never got past loading
    assert store.run(handle.run_id).status == "cancelled"


def test_ctrl_c_on_tuitune_train_stops_the_trainer_within_seconds(home, store, fast_settings):
    tldr_store(store, pairs=False, count=8)
    env = {**os.environ, "TUITUNE_TRAIN_MAX_STEPS": "2", "TUITUNE_TRAIN_BATCH_SIZE": "4",
           "TUITUNE_TRAIN_GRAD_ACCUM": "32", "TUITUNE_TRAIN_MAX_LENGTH": "128", "TUITUNE_TRAIN_HOLDOUT": "0"}
    # As from a terminal: SIGINT at its default, whatever this test process inherited (an ignored SIGINT survives
    # exec, and Python then never raises KeyboardInterrupt).
    cli = subprocess.Popen([sys.executable, "-m", "tuitune", "--home", str(home), "train", "--method", "sft"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while True:  # the run trains as a job of the home's engine server, which `tuitune train` started
        found = list(Path(home, "jobs").glob("ftjob-*/run/events.jsonl"))
        if found and '"name": "train"' in found[0].read_text() or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    (events,) = found
    trainer_pid = json.loads(events.read_text().splitlines()[0])["pid"]
    time.sleep(1.0)  # inside the first (long) step
    asked = time.monotonic()
    cli.send_signal(signal.SIGINT)
    out, err = cli.communicate(timeout=60)
    while not _gone(trainer_pid) and time.monotonic() - asked < 30:
        time.sleep(0.05)
    stopped = time.monotonic() - asked
    assert cli.returncode == 1, err
    assert "cancelled" in err and "Traceback" not in err
    assert stopped < STOPPED_WITHIN_S, f"the trainer took {stopped:.1f} s to stop after ctrl+c on `tuitune train`"
    assert store.run(1).status == "cancelled"
