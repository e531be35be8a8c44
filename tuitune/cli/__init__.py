"""The command line: the TUI by default, plus headless verbs over the same parts.

Heavy imports (torch, transformers, textual) happen inside the verbs, so `tuitune --help` is instant.
"""

from __future__ import annotations

import sys

import click

from tuitune.cli.context import CliContext, UserError, run_guarded


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), help="where all state lives (env TUITUNE_HOME)")
@click.option("--model", "model_spec", help="embedded, a model folder, a .gguf file or a hub id")
@click.option("--quant", type=click.Choice(["4bit", "8bit", "none"]), help="weight quantization (default 4bit nf4)")
@click.version_option(package_name="tuitune")
@click.pass_context
def cli(ctx: click.Context, home: str | None, model_spec: str | None, quant: str | None) -> None:
    """Chat with a 4-bit model, judge its answers, train a LoRA adapter on your judgements."""
    ctx.obj = run_guarded(lambda: CliContext.create(home, {"model.spec": model_spec, "model.quant": quant}))
    if ctx.invoked_subcommand is None:
        from tuitune.cli.tui import open_tui

        run_guarded(lambda: open_tui(ctx.obj))


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
