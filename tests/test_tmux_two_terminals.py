"""Two terminals on one conversation, as a person with two SSH sessions has them: tmux runs `tuitune --continue`
twice on one home, a question is sent from each at the same moment, and each terminal shows its own question
answered while the store keeps a tree of turns (the two questions are sibling branches)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from test_tmux_smoke import tmux  # noqa: F401  (the fixture: a tmux server of this test's own)

pytestmark = pytest.mark.tmux


def test_two_terminals_send_into_one_conversation_at_once(tmux, tmp_path, model_cache):  # noqa: F811
    home = tmp_path / "home"
    tuitune = Path(sys.executable).parent / "tuitune"
    env = {
        "HF_HUB_OFFLINE": "1",
        "TUITUNE_MODEL_CACHE": str(model_cache),
        "TUITUNE_GENERATION_MAX_NEW_TOKENS": "12",
        "TERM": "xterm-256color",
    }
    base = [str(tuitune), "--home", str(home), "--quant", "none"]
    seeded = subprocess.run([*base, "ask", "Say hello."], env=env, capture_output=True, text=True, timeout=600)
    assert seeded.returncode == 0, seeded.stderr
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    command = f"env {exports} {shlex.join([*base, '--continue'])}; sleep 60"
    for name in ("one", "two"):
        tmux("new-session", "-d", "-s", name, "-x", "100", "-y", "30", command)
    try:
        for name in ("one", "two"):
            tmux.wait_for("Say hello.", timeout=60, target=name)
            tmux.wait_for("none cpu", timeout=120, target=name)
        for name in ("one", "two"):
            tmux("send-keys", "-t", name, "-l", f"Question from {name}")
        for name in ("one", "two"):
            tmux.wait_for(f"Question from {name}", timeout=10, target=name)
        for name in ("one", "two"):
            tmux("send-keys", "-t", name, "Enter")
        for name, other in (("one", "two"), ("two", "one")):
            screen = tmux.wait_for("tok/s", timeout=120, target=name)
            assert f"Question from {name}" in screen and f"Question from {other}" not in screen, screen
            assert "◀ " in screen  # the question is one of two siblings: the other terminal's is the other
            assert "● Say hello." in screen  # the list marks the conversation the other terminal has open
        for name in ("one", "two"):
            tmux("send-keys", "-t", name, "C-q")
    finally:
        from tuitune.server import lifecycle

        lifecycle.stop(lifecycle.EnginePaths(home))

    from tuitune.store import Store

    with Store.open(home / "tuitune.db") as store:
        rows = store._rows(
            "SELECT m.id, m.role, m.conversation_id, p.role AS parent FROM messages m"
            " LEFT JOIN messages p ON p.id = m.parent_id"
        )
        assert len(store.conversations()) == 1
        questions = [row for row in rows if row["role"] == "user"]
        assert len(questions) == 3 and all(row["parent"] != "user" for row in questions)
        for question in questions:
            answers = store.children(question["conversation_id"], question["id"])
            assert [(m.role, m.status) for m in answers] == [("assistant", "complete")]
