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


# tuitune.exchange resolves its names on first use: its modules are named so that importing really loads them.
@pytest.mark.parametrize("core", ["tuitune.store", "tuitune.model", "tuitune.chat", "tuitune.training",
                                  "tuitune.exchange.exporter, tuitune.exchange.importer", "tuitune.config",
                                  "tuitune.services"])
def test_core_never_imports_textual(core):
    loaded = _modules_after(f"import {core}")
    assert not any(name == "textual" or name.startswith("textual.") for name in loaded)


@pytest.mark.parametrize("part", ["tuitune.config", "tuitune.store", "tuitune.model", "tuitune.chat", "tuitune.cli",
                                  "tuitune.client", "tuitune.server.lifecycle", "tuitune.server.app",
                                  "tuitune.services", "tuitune.tui.app"])
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
            "assert type(app.services.engine).__name__ == 'EngineClient'")
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


@pytest.mark.parametrize("before", ["", "import pandas"])
def test_importing_the_store_leaves_pandas_as_it_was(before):
    """The store hides pandas from sqlite-utils' first import only: whoever imports pandas gets it, before or after."""
    code = (f"import sys\n{before}\n"
            "held = sys.modules.get('pandas', 'absent')\n"
            "import tuitune.store, sqlite_utils.db\n"
            "assert sys.modules.get('pandas', 'absent') is held, sys.modules.get('pandas')\n"
            "assert 'numpy' not in sys.modules or sys.modules['numpy'] is not None  # never left blanked\n"
            "assert (sqlite_utils.db.pd is None) == (held == 'absent')  # pandas was only hidden if not loaded\n"
            "import pandas\n"
            "assert pandas.DataFrame({'a': [1]}).shape == (1, 1)\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_loading_a_model_leaves_the_warning_filters_as_they_were(monkeypatch, tmp_path):
    """The libraries' advisory warnings are ignored while the model loads, not in the whole process afterwards."""
    import warnings

    import transformers.utils.logging  # noqa: F401  (its first import adds filters of its own; tuitune's are checked)

    from tuitune.config import ModelSettings
    from tuitune.model import loader
    from tuitune.model.source import ModelSource

    class Model:
        config = type("Config", (), {"max_position_embeddings": 2048})()

        def eval(self):
            return self

        def get_memory_footprint(self):
            return 1

    def chatty(result):
        def load(*args, **kwargs):
            warnings.warn("advice from a library", FutureWarning, stacklevel=2)
            warnings.warn("more advice", UserWarning, stacklevel=2)
            return result

        return load

    monkeypatch.setattr(loader, "resolve", chatty(ModelSource("fake", str(tmp_path), True)))
    monkeypatch.setattr(loader, "pick_device", lambda requested: "cpu")
    monkeypatch.setattr(loader, "load_tokenizer", chatty(object()))
    monkeypatch.setattr(loader, "load_base", chatty(Model()))
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        before = list(warnings.filters)
        loader.load(ModelSettings(), tmp_path)
        assert warnings.filters == before
        assert shown == []  # quiet while loading
        warnings.warn("the app's own warning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in shown] == ["the app's own warning"]  # and not after


def test_the_trainers_warning_filters_name_the_libraries_only():
    import warnings

    import transformers.utils.logging  # noqa: F401  (as above)

    from tuitune.model.quiet import ignore_library_warnings, quiet_libraries

    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        before = list(warnings.filters)
        quiet_libraries()
        assert warnings.filters == before  # loggers and progress bars only
        ignore_library_warnings()
        for module in ("transformers.trainer", "trl", "tuitune.training.trainer", "transformers_fork"):
            warnings.warn_explicit("advice", UserWarning, "x.py", 1, module=module)
    assert len(shown) == 2  # tuitune's own and the look-alike still show
