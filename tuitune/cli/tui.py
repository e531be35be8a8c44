"""Open the Textual app; textual is imported here, not at CLI start."""

from __future__ import annotations

import sys

import click

from tuitune.cli.context import EX_SOFTWARE, CliContext


def open_tui(ctx: CliContext, continue_latest: bool = False) -> None:
    from tuitune.server import lifecycle
    from tuitune.tui.app import make_app

    app = make_app(ctx.settings, continue_latest=continue_latest)
    app.run()
    if app.crash_line:  # Textual printed the traceback; this says where it is kept
        click.echo(f"tuitune: error: {app.crash_line}", err=True)
    engine = app.services.engine
    if getattr(engine, "spawns", False) and lifecycle.running(engine.paths):
        pid = lifecycle.read_info(engine.paths).get("pid", "?")
        click.echo(
            f"the engine server (pid {pid}) keeps the model loaded for the next start; `tuitune serve --stop` ends it",
            err=True,
        )
    if app.crash_line:
        sys.exit(EX_SOFTWARE)
