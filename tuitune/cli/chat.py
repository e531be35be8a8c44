"""`tuitune ask`: one exchange on the command line, streamed to stdout and stored as a conversation."""

from __future__ import annotations

import signal
import sys
import threading

import click

from tuitune.cli.context import CliContext, UserError, run_guarded
from tuitune.generation import BASE


@click.command()
@click.argument("prompt")
@click.option("--adapter", help=f"an adapter name, or '{BASE}' for none (default: the active one)")
@click.option("--system", "system_prompt", help="a name in prompts/system or the system prompt itself")
@click.option("--max-new-tokens", type=click.IntRange(1, 32768), help="the answer's token budget")
@click.pass_obj
def ask(ctx: CliContext, prompt: str, adapter: str | None, system_prompt: str | None, max_new_tokens: int | None):
    """Ask one question; PROMPT '-' reads it from stdin."""
    run_guarded(lambda: _ask(ctx, prompt, adapter, system_prompt, max_new_tokens))


def _ask(ctx: CliContext, prompt: str, adapter: str | None, system_prompt: str | None, max_new_tokens: int | None):
    if prompt == "-":
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise UserError("the prompt is empty")
    ctx.override({"generation.max_new_tokens": max_new_tokens})
    engine = ctx.engine()
    adapters = ctx.adapters()
    if adapter == BASE:
        engine.activate(None)
    elif adapter:
        adapters.use(adapter)  # remembered, as `adapters use` would
    else:
        adapters.restore()
    chat = ctx.services.chat
    conversation = chat.new_conversation(system_prompt=system_prompt)
    user_id = chat.send(conversation, prompt)
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        answer = chat.answer(user_id, cancel=cancel)
        if answer.stats.dropped_turns:
            click.echo(f"(left out {answer.stats.dropped_turns} oldest messages to fit the context)", err=True)
        for piece in answer:
            click.echo(_printable(piece), nl=False)
            sys.stdout.flush()
    finally:
        signal.signal(signal.SIGINT, previous)
    click.echo()
    stats = answer.stats
    click.echo(
        f"[{answer.status}: {stats.new_tokens} tokens, {stats.tokens_per_s:.1f} tok/s, "
        f"first token {stats.ttft_s * 1000:.0f} ms, {stats.adapter or BASE}]",
        err=True,
    )
    if answer.not_saved:
        click.echo(f"tuitune: the answer above was not saved: {answer.not_saved}", err=True)
        sys.exit(1)
    if answer.status == "stopped":
        sys.exit(130)


def _printable(text: str) -> str:
    """Model text is data: on a terminal, control characters are shown as escapes, never obeyed."""
    if not sys.stdout.isatty():
        return text
    from tuitune.textsafe import visible

    return visible(text)


COMMANDS = [ask]
