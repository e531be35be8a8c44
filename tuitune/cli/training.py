"""`tuitune train` (start a run and follow it with a progress bar) and `tuitune runs` (what ran, how it went)."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from tuitune.cli.context import CliContext, run_guarded
from tuitune.config import METHODS
from tuitune.textsafe import one_line


@click.command()
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default=None,
    help="what to train (default: train.method, normally auto: what the judgements support)",
)
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), help="passes over the data")
@click.option("--max-steps", type=int, help="stop after this many steps (-1: epochs decide)")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="learning rate")
@click.option("--detach", is_flag=True, help="start the run and return; `tuitune runs` shows how it goes")
@click.pass_obj
def train(
    ctx: CliContext, method: str | None, epochs: float | None, max_steps: int | None, lr: float | None, detach: bool
) -> None:
    """Train a LoRA adapter on your judgements; prints the new adapter's name last."""
    overrides = {"epochs": epochs, "max_steps": max_steps, "lr": lr}
    ok = run_guarded(lambda: _train(ctx, method or ctx.settings.train.method, overrides, detach))
    sys.exit(0 if ok else 1)


def _train(ctx: CliContext, method: str, overrides: dict, detach: bool) -> bool:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    handle = ctx.services.training.start(method, overrides, parent_adapter=ctx.services.adapters.active_name)
    console.print(f"run {handle.run_id}: {handle.reason}")
    where = f"training as job {handle.job_id} on the engine server" if handle.job_id else f"log: {handle.log_path}"
    console.print(where)
    if detach:
        who = f"pid {handle.process.pid}" if handle.process else handle.job_id or "?"
        console.print(f"training in the background ({who})")
        return True
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
    )
    last: dict = {}
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("loading", total=None, info="")
            for last in handle.events():
                kind = last["event"]
                if kind == "phase":
                    progress.update(task, description=last["name"], total=last.get("total") or None)
                elif kind == "progress":
                    progress.update(
                        task,
                        completed=last["step"],
                        total=last["total"],
                        info=(f"loss {last['loss']:.3f}  {last['tokens_per_s']:.0f} tok/s  {last['memory_mb']:.0f} MB"),
                    )
    except KeyboardInterrupt:
        console.print("cancelling… (ctrl+c again to kill it)")
        handle.cancel()
        try:
            last = handle.wait(poll_s=0.1)
        except KeyboardInterrupt:
            handle.kill()
            last = handle.wait(poll_s=0.1)
    if last.get("event") == "done":
        metrics = last.get("metrics", {})
        console.print(
            f"done: loss {metrics.get('train_loss')}, {metrics.get('steps')} steps, {metrics.get('train_s')} s"
        )
        _verdict(ctx, console, last["adapter_name"], metrics)
        click.echo(last["adapter_name"])
        return True
    if last.get("event") == "cancelled":
        console.print("cancelled: no adapter was saved")
        return False
    console.print(f"[red]failed:[/red] {last.get('message', 'unknown error')}")
    if last.get("suggestion"):
        console.print(last["suggestion"])
    return False


def _verdict(ctx: CliContext, console, name: str, metrics: dict) -> None:
    """Print what was measured and train.promote's decision; a promoted adapter becomes the live one."""
    from tuitune.training.measure import summary
    from tuitune.training.verdict import agreement_line

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    if "agreement" in metrics:
        say(f"measured: {agreement_line(metrics['agreement'])}")
    if "effect" in metrics:
        say(f"measured: {summary(metrics['effect'])}")
    decision = metrics.get("decision")
    if not isinstance(decision, dict):
        return
    if decision.get("promote"):
        ctx.services.adapters.use(name)
        say(f"promoted, now live: {decision.get('reason', '')}")
    else:
        say(f"held back, the live model stays: {decision.get('reason', '')}")
        say(f"`tuitune adapters use {name}` promotes it anyway")


@click.command()
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="newest runs to show")
@click.pass_obj
def runs(ctx: CliContext, limit: int) -> None:
    """List training runs: status, method, examples, loss, duration, and what the adapter changed: the held-out
    behaviour rate, the check-set accuracy (a `!` marks checks that fell by more than 0.05) and the agreement with
    your held-out judgements, base→adapter (`few (n)`: too few to tell); and whether the adapter went live
    (promoted, held back, or promoted by hand)."""
    run_guarded(lambda: _runs(ctx, limit))


def _runs(ctx: CliContext, limit: int) -> None:
    from tuitune.training import reap_dead_runs
    from tuitune.training.launcher import settle_ended_jobs
    from tuitune.training.measure import behaviour_change, checks_change
    from tuitune.training.verdict import PROMOTION_WORDS, agreement_change

    store = ctx.store
    reap_dead_runs(store)
    if ctx.services.training.jobs is not None:
        settle_ended_jobs(ctx.settings, store, ctx.services.training.jobs)  # jobs that ended while nobody watched
    rows = store.runs()[:limit]
    if not rows:
        click.echo("no runs yet: `tuitune train` starts one")
        return
    click.echo(
        f"{'id':>4} {'status':<10}{'method':<7}{'examples':>9} {'loss':>7} {'duration':>9} "
        f"{'behaviour':>10} {'checks':>10} {'agreement':>10} {'live?':<9}  adapter / error"
    )
    for run in rows:
        loss = (run.metrics or {}).get("train_loss")
        effect = (run.metrics or {}).get("effect")
        detail = ""
        if run.adapter_id:
            detail = store.adapter_by_id(run.adapter_id).name
        elif run.error:
            detail = run.error
        click.echo(
            f"{run.id:>4} {run.status:<10}{run.method:<7}{len(run.example_ids):>9} "
            f"{'-' if loss is None else f'{loss:.3f}':>7} {_duration(run.started_at, run.finished_at):>9} "
            f"{behaviour_change(effect) or '-':>10} {checks_change(effect) or '-':>10} "
            f"{agreement_change((run.metrics or {}).get('agreement')) or '-':>10} "
            f"{PROMOTION_WORDS.get(run.promotion or '', '-'):<9}  "
            f"{one_line(detail, 60)}"
        )


def _duration(start: str | None, end: str | None) -> str:
    if not start:
        return "-"
    try:
        begin = datetime.fromisoformat(start)
        finish = datetime.fromisoformat(end) if end else datetime.now(begin.tzinfo)
    except ValueError:
        return "-"
    seconds = int((finish - begin).total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


COMMANDS = [train, runs]
