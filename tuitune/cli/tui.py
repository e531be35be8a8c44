"""Open the Textual app; textual is imported here, not at CLI start."""

from __future__ import annotations

from tuitune.cli.context import CliContext


def open_tui(ctx: CliContext) -> None:
    from tuitune.tui.app import make_app

    make_app(ctx.settings).run()
