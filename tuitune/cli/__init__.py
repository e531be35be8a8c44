"""The command line: the TUI by default, plus headless verbs over the same parts.

Heavy imports (torch, transformers, textual) happen inside the verbs, so `tuitune --help` is instant. A user's
mistake ends in one `tuitune: error:` line (`run_guarded`); anything else ends in the group's one handler, which logs
the traceback and names the log (`fail_unexpectedly`).
"""

from __future__ import annotations

import sys

import click

from tuitune.cli.context import CliContext, UserError, fail_unexpectedly, run_guarded
from tuitune.config import EMBEDDED, QUANTS


class TuituneGroup(click.Group):
    """The top-level group: every verb runs inside its `invoke`, the one place an unexpected exception ends."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, EOFError):
            raise  # click's own endings (usage errors, --help, ctrl+d), which click reports itself
        except Exception as exc:
            fail_unexpectedly(ctx, exc)


@click.group(cls=TuituneGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), help="where all state lives (env TUITUNE_HOME)")
@click.option("--model", "model_spec", help=f"{EMBEDDED}, a model folder, a .gguf file or a hub id")
@click.option("--quant", type=click.Choice(QUANTS), help="weight quantization (default 4bit nf4)")
@click.option(
    "--continue", "continue_latest", is_flag=True, help="open the latest conversation (default: one of its own)"
)
@click.version_option(package_name="tuitune")
@click.pass_context
def cli(ctx: click.Context, home: str | None, model_spec: str | None, quant: str | None, continue_latest: bool) -> None:
    """Chat with a 4-bit model, judge its answers, train a LoRA adapter on your judgements."""
    ctx.obj = run_guarded(lambda: CliContext.create(home, {"model.spec": model_spec, "model.quant": quant}))
    if ctx.invoked_subcommand is None:
        from tuitune.cli.tui import open_tui

        run_guarded(lambda: open_tui(ctx.obj, continue_latest))


def _register() -> None:
    from tuitune.cli import adapters, chat, doctor, exchange, serve, training, web

    for module in (chat, serve, web, doctor, adapters, training, exchange):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    try:
        cli.main(prog_name="tuitune", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["cli", "main", "UserError"]
