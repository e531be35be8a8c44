"""Exceptions the app did not expect: the traceback to the home's error log, one toast that names the log.

A `TuituneError` is for the user and is shown as its own message where it is caught. Anything else is a bug: the code
that must still end what it started (a stuck "thinking…", a model never marked ready) passes it to `unexpected` for
the line it shows; a worker that simply fails ends in `ReportsWorkerErrors`, which logs it and shows the toast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.worker import Worker, WorkerFailed, WorkerState

from tuitune.config import default_home
from tuitune.errors import report_unexpected


def _home(app: Any) -> Path:
    settings = getattr(app, "settings", None)  # a small host App in a widget test has none
    return settings.home if settings is not None else default_home()


def unexpected(app: Any, exc: BaseException, what: str) -> str:
    """Log `exc` with its traceback and return the line to show for it. Writes a file and touches no widget, so a
    thread worker may call it."""
    if isinstance(exc, WorkerFailed):
        exc = exc.error
    return report_unexpected(_home(app), exc, what)


def notify_unexpected(app: Any, exc: BaseException, what: str) -> None:
    """Log `exc` and say so in a toast that names the log; on the app's thread only."""
    app.notify(unexpected(app, exc, what), severity="error", markup=False, timeout=30)


class ReportsWorkerErrors:
    """Mixed into every app, screen or widget that runs workers: they run with exit_on_error=False, so an exception
    a worker does not catch ends it in the ERROR state and Textual says nothing. This says it, and logs it."""

    app: Any  # the App, as every MessagePump it is mixed into has it

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.error is not None:
            notify_unexpected(self.app, worker.error, f"the background task {worker.name or worker.group}")
