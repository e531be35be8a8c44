"""`tuitune web`: the app in a browser through textual-serve, on localhost only (reach it over `ssh -L`).

Every visit starts its own `tuitune` process, and each attaches to the home's one engine server, so a second tab
chats at once without loading the model again."""

from __future__ import annotations

import shlex

import click

from tuitune.cli.context import CliContext, UserError, run_guarded


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8566, show_default=True, help="the local port")
@click.pass_obj
def web(ctx: CliContext, port: int) -> None:
    """Serve the app to a browser on http://localhost:PORT (ssh -L PORT:localhost:PORT from your laptop)."""
    run_guarded(lambda: _web(ctx, port))


def _web(ctx: CliContext, port: int) -> None:
    from textual_serve.server import Server

    from tuitune.server.lifecycle import tuitune_argv

    settings = ctx.settings
    command = shlex.join(tuitune_argv(settings))
    click.echo(
        f"tuitune in the browser at http://localhost:{port} (ssh -L {port}:localhost:{port} <this host>)", err=True
    )
    try:
        Server(command, host="localhost", port=port, title="tuitune").serve()
    except OSError as exc:  # the port in use, most likely: the user's to choose again
        raise UserError(f"cannot serve on localhost:{port}: {exc.strerror or exc}") from None


COMMANDS = [web]
