"""One error base, and nothing swallowed: every error tuitune raises for the user is a TuituneError; anything else
that reaches the CLI is logged with its traceback in the home, and the user is told one line naming the log."""

from __future__ import annotations

import importlib
import os
import pkgutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

import tuitune
from tuitune import errors
from tuitune.cli import cli
from tuitune.cli import training as cli_training
from tuitune.cli.context import EX_SOFTWARE, CliContext
from tuitune.errors import TuituneError, error_log, log_unexpected, report_unexpected
from tuitune.store import StoreBusy

# Exceptions that are signals between parts of tuitune, never shown to anyone.
CONTROL_FLOW = {"tuitune.training.trainer.Cancelled"}


def _error_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in a tuitune module, found by importing them all."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(tuitune.__path__, "tuitune."):
        if info.name.rsplit(".", 1)[-1] == "__main__":  # running it is what importing it does
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_error_tuitune_defines_is_a_tuitune_error_and_keeps_its_builtin_base():
    classes = _error_classes()
    assert len(classes) > 20, sorted(classes)  # the walk reached the parts
    assert set(classes) >= CONTROL_FLOW  # the exemption still names something real
    outside = sorted(
        name for name, cls in classes.items() if not issubclass(cls, TuituneError) and name not in CONTROL_FLOW
    )
    assert outside == [], f"give these TuituneError as a base: {outside}"

    # What callers catch by builtin type still catches them.
    from tuitune.client import EngineGone
    from tuitune.config import SettingsError
    from tuitune.exchange import ExportError, ExportWriteError
    from tuitune.model import PromptTooLong
    from tuitune.store import NotFound
    from tuitune.training import NothingToTrain

    for cls, base in [
        (NothingToTrain, ValueError),
        (SettingsError, ValueError),
        (StoreBusy, OSError),
        (NotFound, LookupError),
        (EngineGone, RuntimeError),
        (ExportWriteError, OSError),
        (ExportError, ValueError),
        (PromptTooLong, ValueError),
    ]:
        assert issubclass(cls, base) and issubclass(cls, TuituneError), cls


def test_the_error_module_is_light():
    import subprocess
    import sys

    code = "import sys, tuitune.errors; print(sorted(m for m in ('torch', 'textual', 'click') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---- the error log -------------------------------------------------------------------------------------------
def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_the_log_is_private_appended_and_holds_each_traceback_under_a_dated_header(tmp_path: Path):
    home = tmp_path / "home"
    first = log_unexpected(home, _raised(KeyError("first")), "tuitune runs")
    second = log_unexpected(home, _raised(ZeroDivisionError("second")))
    assert first == second == home / "logs" / "errors.log" == error_log(home)
    assert stat.S_IMODE(first.parent.stat().st_mode) == 0o700 and stat.S_IMODE(first.stat().st_mode) == 0o600
    text = first.read_text(encoding="utf-8")
    headers = [line for line in text.splitlines() if line.startswith("==== ")]
    assert len(headers) == 2 and "tuitune runs" in headers[0] and f"pid {os.getpid()}" in headers[0]
    assert headers[0][5:9].isdigit() and "T" in headers[0].split()[1]  # an ISO timestamp
    assert text.count("Traceback (most recent call last)") == 2
    assert "KeyError: 'first'" in text and "ZeroDivisionError: second" in text and "in _raised" in text
    assert text.index("first") < text.index("second")


def test_a_log_past_its_size_moves_aside_instead_of_growing(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(errors, "MAX_LOG_BYTES", 200)
    home = tmp_path / "home"
    for number in range(3):
        path = log_unexpected(home, _raised(RuntimeError(f"bug {number}")))
    old = path.with_name("errors.log.1")
    assert "bug 2" in path.read_text() and "bug 2" not in old.read_text()
    assert path.stat().st_size < 2000


def test_the_line_names_the_log_first_and_the_error_last(tmp_path: Path):
    line = report_unexpected(tmp_path / "home", _raised(KeyError("x" * 500)), "loading the model")
    log = tmp_path / "home" / "logs" / "errors.log"
    assert line.startswith(f"loading the model failed unexpectedly; the traceback is in {log} (KeyError: ")
    assert len(line) < 250 and "\n" not in line


def test_an_unwritable_log_sends_the_traceback_to_stderr_and_says_so(tmp_path: Path, capsys):
    home = tmp_path / "a-file"
    home.write_text("")
    line = report_unexpected(home, _raised(KeyError("lost")), "tuitune runs")
    assert "tuitune runs failed unexpectedly (KeyError: 'lost')" in line and "went to stderr" in line
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'lost'" in err


# ---- the CLI's one handler -----------------------------------------------------------------------------------
def _runs_raising(monkeypatch, exc: BaseException) -> None:
    def boom(ctx, limit):
        raise exc

    monkeypatch.setattr(cli_training, "_runs", boom)


@pytest.mark.parametrize("exc", [KeyError("boom"), ValueError("a bug, not a bad input")])
def test_an_unexpected_exception_is_one_line_naming_the_log_which_holds_the_traceback(tmp_path, monkeypatch, exc):
    _runs_raising(monkeypatch, exc)
    home = tmp_path / "home"
    result = CliRunner().invoke(cli, ["--home", str(home), "runs"])
    log = home / "logs" / "errors.log"
    assert result.exit_code == EX_SOFTWARE, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tuitune: error: tuitune runs failed unexpectedly; the traceback is in ")
    assert str(log) in lines[0] and type(exc).__name__ in lines[0]
    assert "Traceback" not in result.output
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "in boom" in text and "tuitune runs" in text


@pytest.mark.parametrize("exc, shown", [
    (StoreBusy("the store is busy: try again"), "the store is busy: try again"),
    (FileNotFoundError(2, "No such file or directory", "/nowhere/x.jsonl"), "/nowhere/x.jsonl"),
])  # fmt: skip
def test_a_user_facing_error_stays_one_line_with_status_2_and_logs_nothing(tmp_path, monkeypatch, exc, shown):
    _runs_raising(monkeypatch, exc)
    home = tmp_path / "home"
    result = CliRunner().invoke(cli, ["--home", str(home), "runs"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("tuitune: error: ") and shown in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not error_log(home).exists()


def test_settings_that_fail_unexpectedly_are_logged_in_the_home_the_flag_named(tmp_path, monkeypatch):
    def broken(home, overrides):
        raise RuntimeError("settings bug")

    monkeypatch.setattr(CliContext, "create", staticmethod(broken))
    home = tmp_path / "flag-home"
    result = CliRunner().invoke(cli, ["--home", str(home), "runs"])
    assert result.exit_code == EX_SOFTWARE
    assert str(error_log(home)) in result.stderr and "RuntimeError: settings bug" in result.stderr
    assert "RuntimeError: settings bug" in error_log(home).read_text()


def test_usage_errors_and_help_are_still_clicks_own(tmp_path):
    home = tmp_path / "home"
    assert CliRunner().invoke(cli, ["--home", str(home), "no-such-verb"]).exit_code == 2
    assert CliRunner().invoke(cli, ["--home", str(home), "runs", "--help"]).exit_code == 0
    assert not error_log(home).exists()
