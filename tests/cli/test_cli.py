"""The CLI end to end, as a user runs it: real subprocesses, the real embedded model, one-line errors."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest


def tuitune(home: Path, *args: str, stdin: str | None = None, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "tuitune", "--home", str(home), *args],
        input=stdin, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})},
    )


def test_ask_answers_paris_and_stores_the_exchange(home):
    result = tuitune(home, "ask", "What is the capital of France?", "--max-new-tokens", "24")
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    assert "Traceback" not in result.stderr
    db = home / "tuitune.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = conn.execute("SELECT role, content, status, prompt_tokens, new_tokens FROM messages ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["user", "assistant"]
    assert rows[0][1] == "What is the capital of France?"
    assert "Paris" in rows[1][1] and rows[1][1].strip() in result.stdout
    assert rows[1][2] in ("complete",) and rows[1][3] > 0 and rows[1][4] > 0


def test_ask_reads_stdin_and_keeps_control_characters_verbatim(home):
    prompt = "Say hi \x1b[31mred\x1b[0m [bold]x[/]"
    result = tuitune(home, "ask", "-", "--max-new-tokens", "4", stdin=prompt)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(home / "tuitune.db") as conn:
        (stored,) = conn.execute("SELECT content FROM messages WHERE role='user'").fetchone()
    assert stored == prompt


@pytest.mark.parametrize(
    "args, message",
    [
        (["ask", ""], "empty"),
        (["--model", "/nonexistent/model", "ask", "hi"], "no model at"),
        (["--model", "missing.gguf", "ask", "hi"], "no such GGUF"),
        (["adapters", "use", "nope"], "no adapter named"),
        (["adapters", "rm", "nope"], "no adapter named"),
    ],
)
def test_user_mistakes_give_one_line_and_nonzero_exit(home, args, message):
    result = tuitune(home, *args)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and message in lines[-1] and lines[-1].startswith("tuitune: error:"), result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_file_is_one_line(home):
    home.mkdir(parents=True)
    (home / "config.toml").write_text("[model]\nquant = 'fp3'\n")
    result = tuitune(home, "adapters")
    assert result.returncode == 2 and "model.quant must be one of" in result.stderr
    assert "Traceback" not in result.stderr


def test_adapters_add_use_list_rm(home, make_adapter, tmp_path):
    folder = make_adapter("cli", seed=7)
    added = tuitune(home, "adapters", "add", str(folder), "--name", "mine")
    assert added.returncode == 0, added.stderr
    assert (home / "adapters" / "mine" / "adapter_model.safetensors").is_file()
    used = tuitune(home, "adapters", "use", "mine")
    assert used.returncode == 0 and "active: mine" in used.stdout
    listing = tuitune(home, "adapters")
    assert "* mine" in listing.stdout and "  base" in listing.stdout
    asked = tuitune(home, "ask", "Name a colour.", "--max-new-tokens", "4")
    assert asked.returncode == 0 and "mine" in asked.stderr
    with sqlite3.connect(home / "tuitune.db") as conn:
        (adapter,) = conn.execute(
            "SELECT a.name FROM messages m JOIN adapters a ON a.id = m.adapter_id WHERE m.role='assistant'"
        ).fetchone()
    assert adapter == "mine"
    assert tuitune(home, "adapters", "use", "base").returncode == 0
    assert "* base" in tuitune(home, "adapters").stdout
    removed = tuitune(home, "adapters", "rm", "mine")
    assert removed.returncode == 0 and "mine" not in tuitune(home, "adapters").stdout


def test_adapters_add_refuses_a_broken_adapter_and_registers_nothing(home, make_adapter, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(make_adapter("cli", seed=7), broken)
    data = (broken / "adapter_model.safetensors").read_bytes()
    (broken / "adapter_model.safetensors").write_bytes(data[:100])
    result = tuitune(home, "adapters", "add", str(broken))
    assert result.returncode == 2 and "corrupt or truncated" in result.stderr
    assert "Traceback" not in result.stderr
    assert "broken" not in tuitune(home, "adapters").stdout
    assert not (home / "adapters" / "broken").exists()


def test_doctor_reports_versions_and_4bit(home):
    result = tuitune(home, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("torch", "bitsandbytes", "transformers", "peft", "trl", "embedded model", "nf4 works on cpu"):
        assert name in result.stdout
