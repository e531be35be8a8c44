"""What tuitune raises for the user to read, and what becomes of every other exception.

A `TuituneError` is a failure the user can act on (a bad setting, a busy store, nothing to train on): its message is
one line that says what and why, and the CLI and the TUI show just that line. Any other exception that reaches them
is a bug or a failure nobody foresaw: `report_unexpected` appends its whole traceback to the home's error log and
gives back one line naming the log, so nothing is hidden behind a toast and no traceback is thrown at the user.

Every part imports this module, so it imports nothing heavy (no torch, no textual).
"""

from __future__ import annotations

import os
import platform
import sys
import traceback
from datetime import datetime
from pathlib import Path

from tuitune import __version__
from tuitune.private import private_mkdir, private_open
from tuitune.textsafe import inline, one_line

ERROR_LOG = Path("logs") / "errors.log"
MAX_LOG_BYTES = 1 << 20  # then the log moves to errors.log.1: a bug that fails on every refresh must not fill the disk


class TuituneError(Exception):
    """A failure the user can act on; the message is one line meant for them. Subclasses keep beside it the builtin
    base their callers already catch (`class NothingToTrain(TuituneError, ValueError)`)."""


# The engine client's errors live here, below every part that raises or catches them: the adapter registry
# (tuitune.chat.adapters) raises the same AdapterError the client does, and chat sits below the client.
# tuitune.client re-exports both.
class EngineError(TuituneError, RuntimeError):
    """The engine refused a request or cannot be reached; the message is for the user."""


class AdapterError(EngineError):
    """The server refused an adapter (foreign, corrupt, other base or template); the message says why."""


def error_log(home: str | os.PathLike[str]) -> Path:
    return Path(home) / ERROR_LOG


def log_unexpected(home: str | os.PathLike[str], exc: BaseException, what: str = "") -> Path:
    """Append `exc`'s traceback under a header (local time, pid, version, `what`) to the home's error log and return
    the log's path. The folder is created 0700 and the file 0600: a traceback may quote the user's text.
    Raises OSError when the log cannot be written."""
    path = error_log(home)
    private_mkdir(path.parent)
    try:
        if path.stat().st_size > MAX_LOG_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    header = (
        f"==== {stamp}  pid {os.getpid()}  tuitune {__version__}  python {platform.python_version()}"
        f"{f'  {what}' if what else ''}"
    )
    body = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    entry = f"{header}\n{body}\n".encode("utf-8", "backslashreplace")
    # One unbuffered write with O_APPEND: two processes failing at once do not interleave their entries.
    with private_open(path, "ab", buffering=0) as log:
        log.write(entry)
    return path


def report_unexpected(home: str | os.PathLike[str], exc: BaseException, what: str) -> str:
    """Log `exc` (see `log_unexpected`) and return the one line to show: what failed, where the traceback is, then
    the exception (last, so a line cut to fit a toast keeps the path). When the log cannot be written the traceback
    goes to stderr instead, and the line says so."""
    detail = one_line(f"{exc.__class__.__name__}: {exc}".strip().rstrip(":"), 100)
    try:
        log = log_unexpected(home, exc, what)
    except OSError as log_error:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        return one_line(
            f"{what} failed unexpectedly ({detail}); the error log could not be written ({log_error}), "
            "so the traceback went to stderr"
        )
    return inline(f"{what} failed unexpectedly; the traceback is in {log} ({detail})")  # the path exactly
