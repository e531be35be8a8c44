"""The core never imports Textual; the CLI's help never imports torch; nothing touches the disk at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _modules_after(code: str, env: dict | None = None) -> set[str]:
    script = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})})
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("core", ["tuitune.store", "tuitune.model", "tuitune.chat", "tuitune.training",
                                  "tuitune.exchange", "tuitune.config"])
def test_core_never_imports_textual(core):
    loaded = _modules_after(f"import {core}")
    assert not any(name == "textual" or name.startswith("textual.") for name in loaded)


@pytest.mark.parametrize("part", ["tuitune.config", "tuitune.store", "tuitune.model", "tuitune.chat", "tuitune.cli",
                                  "tuitune.client", "tuitune.server.lifecycle", "tuitune.server.app",
                                  "tuitune.tui.app"])
def test_importing_a_part_does_not_import_torch(part):
    assert "torch" not in _modules_after(f"import {part}")


def test_the_app_and_every_client_verb_reach_the_model_without_torch(tmp_path):
    """The TUI, ask, A/B, the swap after training: all through the engine client, so building the app and
    every CLI verb module loads neither torch nor transformers nor the in-process engine."""
    code = ("from tuitune.config import load_settings\n"
            "from tuitune.tui.app import make_app\n"
            "from tuitune.cli import chat, adapters, serve, training, exchange\n"
            "import tuitune.chat.ab, tuitune.tui.training.panel\n"
            f"app = make_app(load_settings({str(tmp_path / 'home')!r}))\n"
            "assert type(app.engine).__name__ == 'EngineClient'")
    loaded = _modules_after(code)
    assert not {"torch", "transformers", "peft", "tuitune.model.engine"} & loaded


def test_help_does_not_import_torch(tmp_path):
    code = ("import sys; from tuitune.cli import cli\n"
            "try:\n    cli.main(['--help'], prog_name='tuitune')\nexcept SystemExit:\n    pass")
    loaded = _modules_after(code, {"TUITUNE_HOME": str(tmp_path / "home")})
    assert "torch" not in loaded and "transformers" not in loaded and "textual" not in loaded
    assert not (tmp_path / "home").exists(), "--help created the home"


def test_nothing_touches_the_disk_at_import(tmp_path):
    home = tmp_path / "home"
    _modules_after("import tuitune.cli, tuitune.store, tuitune.model, tuitune.chat, tuitune.config",
                   {"TUITUNE_HOME": str(home)})
    assert not home.exists()
