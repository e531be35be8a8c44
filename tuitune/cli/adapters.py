"""`tuitune adapters`: list, add (validated), use, rm."""

from __future__ import annotations

import click

from tuitune.cli.context import CliContext, run_guarded
from tuitune.generation import BASE
from tuitune.textsafe import one_line


@click.group(invoke_without_command=True)
@click.pass_context
def adapters(ctx: click.Context) -> None:
    """List adapters; subcommands add, use and rm."""
    if ctx.invoked_subcommand is None:
        run_guarded(lambda: _list(ctx.obj))


def _list(ctx: CliContext) -> None:
    store = ctx.store
    active = ctx.adapters(load_engine=False).active_name
    rows = store.adapters()
    click.echo(f"{'*' if active is None else ' '} {BASE}")
    for adapter in rows:
        good, judged = store.approval(adapter.id)
        rate = f"{good / judged:.0%} of {judged}" if judged else "not judged"
        loss = (adapter.metrics or {}).get("train_loss")
        click.echo(
            f"{'*' if adapter.name == active else ' '} {one_line(adapter.name, 32):<32} {adapter.method or '-':<5} "
            f"loss {loss if loss is None else f'{loss:.3f}'}  approval {rate}  {adapter.created_at[:16]}"
        )


@adapters.command("add")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--name", help="the name to register it under (default: the folder's name)")
@click.pass_obj
def add(ctx: CliContext, path: str, name: str | None) -> None:
    """Validate an adapter folder against the base model and register it."""
    added = run_guarded(lambda: ctx.adapters().add(path, name))
    click.echo(f"added {added}")


@adapters.command("use", help=f"Make NAME (or '{BASE}') the active adapter.")
@click.argument("name")
@click.pass_obj
def use(ctx: CliContext, name: str) -> None:
    target = None if name == BASE else name
    seconds = run_guarded(lambda: ctx.adapters().use(target))
    click.echo(f"active: {name} (swap {seconds * 1000:.0f} ms)")


@adapters.command("rm")
@click.argument("name")
@click.pass_obj
def rm(ctx: CliContext, name: str) -> None:
    """Remove adapter NAME from the list (its files stay on disk); a running engine server unloads it."""
    from tuitune.server import lifecycle

    attached = ctx.settings.engine.url or lifecycle.running(lifecycle.EnginePaths(ctx.settings.home))
    run_guarded(lambda: ctx.adapters(load_engine=bool(attached)).remove(name))
    click.echo(f"removed {name}")


COMMANDS = [adapters]
