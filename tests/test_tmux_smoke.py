"""The app in a real terminal, as a person uses it: tmux runs `tuitune`, we type a question, wait for the answer,
judge it with F2, quit, and read the store."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.tmux


class Tmux:
    def __init__(self, name: str) -> None:
        self.socket = name

    def __call__(self, *args: str) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        if args[0] == "new-session":  # a failed start would read later as a blank pane
            assert result.returncode == 0, f"tmux {args[0]}: {result.stderr.strip()}"
        return result.stdout

    def screen(self, target: str = "app") -> str:
        return self("capture-pane", "-p", "-t", target)

    def wait_for(self, text: str, timeout: float, target: str = "app") -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen(target)
            if text in screen:
                return screen
            time.sleep(0.25)
        raise AssertionError(f"{text!r} did not appear within {timeout}s; {target} shows:\n{self.screen(target)}")


@pytest.fixture
def tmux():
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    session = Tmux(f"tuitune-smoke-{os.getpid()}-{uuid.uuid4().hex[:8]}")  # never the server a test just killed
    yield session
    session("kill-server")


def test_chat_judge_quit_in_a_real_terminal(tmux, tmp_path, model_cache):
    home = tmp_path / "home"
    tuitune = Path(sys.executable).parent / "tuitune"
    env = {
        "HF_HUB_OFFLINE": "1",
        "TUITUNE_MODEL_CACHE": str(model_cache),
        "TUITUNE_GENERATION_MAX_NEW_TOKENS": "24",
        "TERM": "xterm-256color",
    }
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    command = f"env {exports} {shlex.quote(str(tuitune))} --home {shlex.quote(str(home))}; echo EXITED $?; sleep 60"
    tmux("new-session", "-d", "-s", "app", "-x", "100", "-y", "30", command)
    title = tmux("display-message", "-p", "-t", "app", "#{pane_title}")

    tmux.wait_for("Ask something", timeout=60)  # the window paints long before the model is in
    tmux.wait_for("4bit cpu", timeout=300)  # the first run converts the embedded GGUF
    tmux("send-keys", "-t", "app", "-l", "What is the capital of Peru?")
    tmux.wait_for("capital of Peru?", timeout=10)
    tmux("send-keys", "-t", "app", "Enter")
    tmux.wait_for("tok/s", timeout=120)
    tmux("send-keys", "-t", "app", "F2")
    screen = tmux.wait_for("▲1", timeout=10)  # the status bar counts what training will use (not a check question)
    assert "▲ good" in screen
    tmux("send-keys", "-t", "app", "C-q")
    exited = tmux.wait_for("EXITED 0", timeout=15)
    assert "keeps the model loaded" in exited  # quitting says, in one line, that the engine server stays
    assert tmux("display-message", "-p", "-t", "app", "#{pane_title}") == title

    from tuitune.data.rows import judgement_counts
    from tuitune.store import Store

    with Store.open(home / "tuitune.db") as store:
        (conversation,) = store.conversations()
        user, answer = store.branch(conversation.id)
        assert user.content == "What is the capital of Peru?"
        assert answer.role == "assistant" and answer.status == "complete" and answer.content.strip()
        assert answer.judgement == "good"
        assert judgement_counts(store)["good"] == 1
    from tuitune.server import lifecycle

    paths = lifecycle.EnginePaths(home)
    assert lifecycle.running(paths), "quitting the app must leave the engine server running"
    assert lifecycle.stop(paths) is not None


def test_quitting_while_the_engine_server_loads_exits_at_once(tmux, tmp_path, model_cache):
    """The app never waits for the model: ctrl+q while the server it started is still loading ends the app at
    once (a thread still waiting on the server would keep the interpreter alive), and the server loads on."""
    from tuitune.server import lifecycle

    home = tmp_path / "home"
    tuitune = Path(sys.executable).parent / "tuitune"
    stamp = tmp_path / "exited"
    env = {"HF_HUB_OFFLINE": "1", "TUITUNE_MODEL_CACHE": str(model_cache), "TERM": "xterm-256color"}
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    command = (f"env {exports} {shlex.quote(str(tuitune))} --home {shlex.quote(str(home))}; "
               f"touch {shlex.quote(str(stamp))}; sleep 60")
    tmux("new-session", "-d", "-s", "app", "-x", "100", "-y", "30", command)
    paths = lifecycle.EnginePaths(home)
    try:
        tmux.wait_for("Ask something", timeout=60)
        deadline = time.monotonic() + 30
        while not lifecycle.running(paths):
            assert time.monotonic() < deadline, "the app did not start the engine server"
            time.sleep(0.05)
        assert "loading" in tmux.screen() or "starting" in tmux.screen()
        quit_at = time.monotonic()
        tmux("send-keys", "-t", "app", "C-q")
        while not stamp.exists():
            assert time.monotonic() - quit_at < 5, f"the app did not exit:\n{tmux.screen()}"
            time.sleep(0.05)
        assert lifecycle.running(paths)
    finally:
        lifecycle.stop(paths)
