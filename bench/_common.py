"""Shared bench plumbing: arguments, a temporary home, an engine, readable figures then one JSON line."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--model", default="embedded", help="model spec: embedded, a folder, a .gguf file or a hub id")
    p.add_argument("--quant", default="4bit", choices=["4bit", "8bit", "none"])
    p.add_argument("--home", help="state folder (default: a temporary one)")
    p.add_argument("--cache", help="converted-model cache (default: <home>/models)")
    return p


def bench_settings(args, home: str | None = None):
    from tuitune.config import load_settings

    home = home or args.home or tempfile.mkdtemp(prefix="tuitune-bench-")
    overrides = {"model.spec": args.model, "model.quant": args.quant, "model.cache_dir": args.cache}
    return load_settings(home, overrides)


def make_engine(args):
    from tuitune.model import Engine

    engine = Engine(bench_settings(args))
    engine.load()
    return engine


def server_client(args, engine):
    """The home's engine server as users run it (its own process, detached), same model and cache as `engine`,
    and a client attached to it. Stop it with `lifecycle.stop(client.paths)`."""
    from tuitune.client import EngineClient

    settings = bench_settings(args, tempfile.mkdtemp(prefix="tuitune-bench-server-"))
    settings = replace(settings.with_overrides({"model.cache_dir": str(Path(engine.info.path).parent)}),
                       generation=engine.settings.generation)
    client = EngineClient(settings)
    client.load()
    return client


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {gpu}, torch {torch.__version__}"


def report(figures: dict) -> None:
    print(json.dumps(figures))
