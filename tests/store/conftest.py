from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tuitune.store import Store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "home" / "tuitune.db") as opened:
        yield opened


@pytest.fixture
def chat(store: Store) -> tuple[Store, int]:
    return store, store.new_conversation("test chat")


def _python(code: str, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=cwd or REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def python() -> Callable[..., subprocess.Popen[str]]:
    """Start a fresh interpreter that can import tuitune, whatever the test runner's sys.path."""
    return _python


def start_together(procs: list[subprocess.Popen[str]]) -> list[str]:
    """Each child prints 'ready' once imported, then waits for a line on stdin: release them at once."""
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == "ready", proc.communicate()[1]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outputs.append(out)
    return outputs


@pytest.fixture
def together() -> Callable[[list[subprocess.Popen[str]]], list[str]]:
    return start_together
