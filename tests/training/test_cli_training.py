"""`tuitune train` and `tuitune runs` as a user runs them: real subprocesses, one-line errors, exit status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from training_stores import tldr_store


def tuitune(home: Path, *args: str):
    return subprocess.run([sys.executable, "-m", "tuitune", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))


def test_train_with_nothing_to_train_says_so_and_starts_no_run(home, store):
    result = tuitune(home, "train")
    assert result.returncode == 2
    assert "nothing to train on" in result.stderr and "Traceback" not in result.stderr
    assert store.runs() == []
    assert "no runs yet" in tuitune(home, "runs").stdout


def test_train_prints_the_method_then_the_adapter_name_last_and_runs_lists_it(home, store, tiny_eval_sets):
    tldr_store(store, pairs=False, count=4)
    result = tuitune(home, "train", "--method", "auto", "--max-steps", "1", "--lr", "1e-3")
    assert result.returncode == 0, result.stderr
    assert "SFT on 4 good answers" in result.stderr
    assert "measured: behaviour " in result.stderr and "first line ~ 2 patterns on 2 held-out prompts" in result.stderr
    name = result.stdout.strip().splitlines()[-1]
    assert store.adapter(name) is not None
    effect = store.adapter(name).metrics["effect"]
    listing = tuitune(home, "runs").stdout
    assert "done" in listing and "sft" in listing and name in listing
    assert "behaviour" in listing and f"{effect['base_rate']:.2f}→{effect['adapter_rate']:.2f}" in listing


def test_runs_fails_a_dead_run_and_shows_why(home, store):
    dead = subprocess.Popen(["true"])
    dead.wait()
    run_id = store.create_run("dpo", params={}, example_ids=[1, 2], base_model="x", status="running")
    store.update_run(run_id, pid=dead.pid)
    listing = tuitune(home, "runs").stdout
    assert "failed" in listing and "the trainer process died" in listing
