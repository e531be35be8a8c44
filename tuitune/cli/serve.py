"""`tuitune serve`: the home's engine server in the foreground, or its status, or stop it."""

from __future__ import annotations

import time

import click

from tuitune.cli.context import CliContext, UserError, run_guarded
from tuitune.config import BACKENDS
from tuitune.textsafe import one_line


@click.command()
@click.option("--host", help="serve TCP on this address instead of the home's Unix socket (needs an API key)")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port with --host")
@click.option("--new-key", is_flag=True, help="write a new random API key to the home's engine.key and print it")
@click.option("--status", "show_status", is_flag=True, help="the running server: pid, model, adapters, uptime, memory")
@click.option("--stop", is_flag=True, help="stop the home's running server")
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="local",
    show_default=True,
    help="vllm: run vLLM (from engine.vllm_python) on this model with runtime LoRA loading instead",
)
@click.pass_obj
def serve(
    ctx: CliContext, host: str | None, port: int, new_key: bool, show_status: bool, stop: bool, backend: str
) -> None:
    """Run the engine server: the model stays loaded for every client (TUI, CLI, any OpenAI client)."""
    if backend == "vllm":
        run_guarded(lambda: _serve_vllm(ctx, host or "127.0.0.1", port))
        return
    run_guarded(lambda: _serve(ctx, host, port, new_key, show_status, stop))


def _serve_vllm(ctx: CliContext, host: str, port: int) -> None:
    """vLLM in the foreground on this home's model, with the flags tuitune's adapters need; clients attach with
    engine.backend = "vllm" and engine.url."""
    import os
    import subprocess

    from tuitune.model.source import resolve
    from tuitune.server.vllm import vllm_command, vllm_env

    settings = ctx.settings
    python = settings.engine.vllm_python
    if not python:
        raise UserError(
            "set engine.vllm_python (TUITUNE_ENGINE_VLLM_PYTHON) to the python of a venv with vLLM "
            "(`make vllm` builds .venv-vllm)"
        )
    source = resolve(settings.model.spec, settings.cache_dir, lambda text: click.echo(text, err=True))
    argv = vllm_command(
        python,
        source.path,
        host,
        port,
        max_lora_rank=max(16, settings.lora.r),
        max_loras=4,
        extra=["--dtype", "bfloat16"],
    )
    click.echo(
        f"vLLM on http://{host}:{port}; attach with TUITUNE_ENGINE_BACKEND=vllm "
        f"TUITUNE_ENGINE_URL=http://{host}:{port}",
        err=True,
    )
    click.echo(" ".join(argv), err=True)
    raise SystemExit(subprocess.call(argv, env={**os.environ, **vllm_env()}))


def _serve(ctx: CliContext, host: str | None, port: int, new_key: bool, show_status: bool, stop: bool) -> None:
    from tuitune.server import lifecycle

    paths = lifecycle.EnginePaths(ctx.settings.home)
    if show_status:
        _print_status(ctx)
        return
    if stop:
        pid = lifecycle.stop(paths)
        click.echo("no engine server runs for this home" if pid is None else f"stopped the engine server (pid {pid})")
        return
    if new_key:
        paths.key.unlink(missing_ok=True)
        click.echo(lifecycle.api_key(paths, create=True))
        return
    if ctx.settings.engine.backend == "vllm":
        raise UserError(
            "engine.backend is vllm: `tuitune serve --backend vllm` starts it; clients attach to engine.url"
        )
    from tuitune.server.serve import serve as run_server

    try:
        run_server(ctx.settings, host, port, announce=lambda text: click.echo(one_line(text, 300), err=True))
    except lifecycle.ServerError as exc:
        raise UserError(str(exc)) from None


def _print_status(ctx: CliContext) -> None:
    from tuitune.client import EngineClient, EngineError
    from tuitune.server import lifecycle

    client = EngineClient(ctx.settings)
    if client.spawns and not lifecycle.running(client.paths):
        raise UserError("no engine server runs for this home (`tuitune serve` starts one; the app starts one too)")
    try:
        status = client.status()
    except EngineError as exc:
        raise UserError(str(exc)) from None
    adapters = status.get("adapters") or {}
    rows = [
        ("pid", status.get("pid")),
        ("address", status.get("address")),
        ("state", status.get("state")),
        ("model", status.get("model")),
        ("quant", status.get("quant")),
        ("device", status.get("device")),
        ("weights", f"{status.get('footprint_mb')} MB"),
        ("memory", f"{status.get('rss_mb')} MB resident"),
        ("adapters", ", ".join(adapters) or "none loaded"),
        ("uptime", _duration(float(status.get("uptime_s") or 0))),
        ("requests", f"{status.get('requests_served')} served, {status.get('in_flight')} in flight"),
    ]
    if status.get("device_memory"):  # what the accelerator holds, the trainer's share included
        rows = [(label, _device_memory(status["device_memory"]) if label == "memory" else value)
                for label, value in rows]  # fmt: skip
    if status.get("jobs"):
        rows.append(("job", _job_line(status["jobs"])))
    for label, value in rows:
        click.echo(f"{label:<9} {one_line(str(value), 200)}")


def _device_memory(memory: dict) -> str:
    total = f" of {memory['total_mb']:.0f} MB" if memory.get("total_mb") else ""
    if memory.get("kind") == "cuda":
        return f"CUDA memory {memory['used_mb']:.0f} MB used{total}"
    trainer = f" + trainer {memory['trainer_mb']:.0f} MB" if memory.get("trainer_mb") else ""
    return f"CPU: engine {memory.get('engine_mb') or 0:.0f} MB{trainer} resident{total}"


def _job_line(jobs: dict) -> str:
    running, queued = jobs.get("running"), jobs.get("queued") or []
    line = "none running"
    if running:
        step = f" step {running['step']}/{running['total']}" if running.get("step") else ""
        line = f"{running['id']} {running.get('phase') or 'starting'}{step}"
    return line + (f"; {len(queued)} queued" if queued else "")


def _duration(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds)) if seconds < 86400 else f"{seconds / 86400:.1f} days"


COMMANDS = [serve]
