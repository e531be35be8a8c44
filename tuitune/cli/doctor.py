"""`tuitune doctor`: what this machine can run, and whether the configured model can chat here, in one screen;
exit 0 when a chat can run."""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import sys

import click

from tuitune.cli.context import CliContext
from tuitune.config import EMBEDDED
from tuitune.textsafe import inline

PACKAGES = ("torch", "transformers", "bitsandbytes", "peft", "trl", "datasets", "accelerate", "textual", "sqlite-utils")


@click.command()
@click.pass_obj
def doctor(ctx: CliContext) -> None:
    """Check versions, GPU, 4-bit support, the home and the configured model (and its Llama-2 ids)."""
    ok = True

    def line(label: str, value: str, good: bool = True) -> None:
        nonlocal ok
        ok = ok and good
        click.echo(f"{'ok ' if good else 'NO '} {label:<14} {inline(value)}")

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
    from tuitune.model.source import EMBEDDED_INSTALL, embedded_gguf

    gguf = embedded_gguf()
    line("embedded model", str(gguf) if gguf else f"missing: {EMBEDDED_INSTALL}", gguf is not None)
    home = ctx.settings.home
    probe = home if home.exists() else next((p for p in home.parents if p.exists()), home.anchor)
    free = shutil.disk_usage(probe).free
    line("home", f"{home} ({free / 2**30:.1f} GiB free)", free > 2**30)
    line("4-bit", _four_bit_check())
    for label, value, good in model_checks(ctx.settings):
        line(label, value, good)
    sys.exit(0 if ok else 1)


def model_checks(settings) -> list[tuple[str, str, bool]]:
    """The configured model: its spec resolves, its tokenizer loads, which template it chats with, and for
    Llama-2's format whether the ids are Meta's. Never downloads: a hub id that is not cached says so."""
    from tuitune.model.source import ModelSourceError, resolve
    from tuitune.model.templates import choose_template, fingerprint, is_segmented, meta_llama2_ids, render_ids

    spec = settings.model.spec or EMBEDDED
    try:
        source = resolve(spec, settings.cache_dir, lambda note: click.echo(f"    {note}", err=True))
    except ModelSourceError as exc:
        return [("model", str(exc), False)]
    if not source.is_local and not _hub_cached(source.path):
        return [
            (
                "model",
                f"{spec} is not in the Hugging Face cache (doctor downloads nothing): download it once "
                f"with network (`hf download {spec}`; a gated model needs `hf auth login` first), or "
                "point --model at a local model folder",
                False,
            )
        ]
    checks = [("model", f"{source.name} ({source.path})", True)]
    try:
        tokenizer = _tokenizer(source)
    except Exception as exc:  # whatever the folder holds, doctor reports it in one line
        return [*checks, ("tokenizer", f"does not load: {exc.__class__.__name__}: {exc}".splitlines()[0], False)]
    checks.append(("tokenizer", f"{type(tokenizer).__name__}, {len(tokenizer)} tokens", True))
    try:
        template = choose_template(tokenizer, settings.model.template, settings.prompts_dir)
    except Exception as exc:
        return [*checks, ("chat template", f"{exc.__class__.__name__}: {exc}".splitlines()[0], False)]
    where = f"{settings.model.template} (prompts/templates)" if settings.model.template else "the tokenizer's own"
    checks.append(("chat template", f"{where}, fingerprint {fingerprint(template)}", True))
    if not is_segmented(tokenizer):
        checks.append(("llama-2 ids", "not Llama-2's [INST] format: nothing to hold against Meta's", True))
        return checks
    probe = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Name a prime."},
    ]
    legacy = getattr(tokenizer, "legacy", None)
    flag = "" if legacy is None else f"; the folder says legacy: {str(legacy).lower()}"
    if render_ids(tokenizer, probe) == meta_llama2_ids(tokenizer, probe):
        checks.append(("llama-2 ids", f"Meta's chat_completion ids, each turn encoded on its own{flag}", True))
    else:
        checks.append(
            (
                "llama-2 ids",
                f"the template's ids differ from Meta's chat_completion format; check model.template{flag}",
                False,
            )
        )
    return checks


def _hub_cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json")
    return isinstance(found, str)


def _tokenizer(source):
    from tuitune.model.loader import load_tokenizer

    if source.is_local:
        return load_tokenizer(source)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(source.path, trust_remote_code=False, local_files_only=True)


def _four_bit_check() -> str:
    """Quantize one small layer to nf4 and run it, which is what loading the model needs."""
    import bitsandbytes as bnb
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    layer = bnb.nn.Linear4bit(64, 64, compute_dtype=torch.bfloat16, quant_type="nf4").to(device)
    out = layer(torch.randn(2, 64, device=device, dtype=torch.bfloat16))
    return f"nf4 works on {device} (bitsandbytes {bnb.__version__}, output {tuple(out.shape)})"


COMMANDS = [doctor]
