"""Open the Textual app; textual is imported here, not at CLI start."""

from __future__ import annotations

import click

from tuitune.cli.context import CliContext


def open_tui(ctx: CliContext) -> None:
    from tuitune.server import lifecycle
    from tuitune.tui.app import make_app

    app = make_app(ctx.settings)
    app.run()
    engine = app.engine
    if getattr(engine, "spawns", False) and lifecycle.running(engine.paths):
        pid = lifecycle.read_info(engine.paths).get("pid", "?")
        click.echo(f"the engine server (pid {pid}) keeps the model loaded for the next start; "
                   f"`tuitune serve --stop` ends it", err=True)
