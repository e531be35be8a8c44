"""`tuitune import` and `tuitune export`: judged conversations in and out, in tuitune's and trl's formats.

File names come from outside (a downloaded file may be named with escape sequences), so everything these verbs
print goes through `textsafe` first, errors included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from tuitune.cli.context import USER_ERRORS, CliContext, UserError, run_guarded
from tuitune.exchange.names import CONVERSATIONS, EXPORT_FORMATS, ROW_FORMATS
from tuitune.textsafe import error_line, inline

T = TypeVar("T")


def _guarded(action: Callable[[], T]) -> T:
    """run_guarded, with the one error line made safe for a terminal."""

    def safe() -> T:
        try:
            return action()
        except USER_ERRORS as exc:
            raise UserError(error_line(exc)) from exc

    return run_guarded(safe)


# No dir_okay=False / exists=True: the importer says what is wrong with a path in one line, as for any bad file,
# rather than click's usage message.
@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--dry-run", is_flag=True, help="check the files and count what would be imported; write nothing")
@click.pass_obj
def import_(ctx: CliContext, files: tuple[str, ...], dry_run: bool) -> None:
    """Import judged conversations from JSONL (or .parquet) FILES, all or nothing.

    Reads tuitune's conversation format, trl's SFT (messages, prompt/completion, text), DPO
    (prompt/chosen/rejected) and KTO (prompt/completion/label) rows, and OpenAI-style messages.
    """
    from tuitune.exchange import import_files
    from tuitune.exchange.formats import DESCRIPTIONS

    report = _guarded(lambda: import_files(ctx.store, files, dry_run=dry_run))
    for path, fmt in report.formats.items():
        click.echo(f"{inline(path)}: {DESCRIPTIONS[fmt]}", err=True)
    click.echo(("would have " if dry_run else "") + report.summary())


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    required=True,
    help=f"trl rows for a trainer ({', '.join(ROW_FORMATS)}) or every conversation, losslessly ({CONVERSATIONS})",
)
@click.option("--out", type=click.Path(), help="the file to write (.jsonl, or .parquet); default stdout")
@click.pass_obj
def export(ctx: CliContext, fmt: str, out: str | None) -> None:
    """Export judgements as training rows, or the whole store as conversations."""
    from tuitune.exchange import export as write_export

    count = _guarded(lambda: write_export(ctx.store, ctx.settings, fmt, out))
    if out is not None:
        what = "conversations" if fmt == CONVERSATIONS else f"{fmt.upper()} rows"
        click.echo(f"wrote {count} {what} to {inline(out)}", err=True)


COMMANDS = [import_, export]
