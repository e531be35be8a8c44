"""Load a base model in bitsandbytes nf4 with double quantization and bf16 compute (the QLoRA recipe)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.config import ModelSettings, SettingsError
from tuitune.model.quiet import quiet_libraries, quiet_warnings
from tuitune.model.source import ModelSource, resolve


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    device: str
    quant: str
    footprint_bytes: int
    context_window: int

    @property
    def footprint_mb(self) -> float:
        return self.footprint_bytes / 1e6


def pick_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise SettingsError("model.device is cuda but torch sees no GPU here")
    return requested


def quantization_config(quant: str) -> Any:
    import torch
    from transformers import BitsAndBytesConfig

    if quant == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    if quant == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return None


def load_base(source: ModelSource, quant: str, device: str) -> Any:
    """A fresh base model; the trainer calls this too, so both processes load the same way."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"trust_remote_code": False, "device_map": {"": device}}
    quant_config = quantization_config(quant)
    if quant_config is not None:
        kwargs["quantization_config"] = quant_config
    else:
        kwargs["dtype"] = torch.bfloat16 if device.startswith("cuda") else torch.float32
    if not source.is_local or any(Path(source.path).glob("*.safetensors")):
        kwargs["use_safetensors"] = True
    return AutoModelForCausalLM.from_pretrained(source.path, **kwargs)


def load_tokenizer(source: ModelSource) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.path, trust_remote_code=False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load(settings: ModelSettings, cache_dir: Path, progress: Callable[[str], None] = lambda _: None):
    quiet_libraries()
    with quiet_warnings():
        source = resolve(settings.spec, cache_dir, progress)
        device = pick_device(settings.device)
        progress(f"loading {source.name} ({settings.quant}) on {device}")
        tokenizer = load_tokenizer(source)
        model = load_base(source, settings.quant, device)
    model.eval()
    context = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
    info = ModelInfo(source.name, source.path, device, settings.quant, int(model.get_memory_footprint()), context)
    return model, tokenizer, info
