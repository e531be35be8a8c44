"""Small real LoRA adapters for the embedded model, made with peft in the tests (never downloaded)."""


from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def make_adapter(tmp_path_factory, engine):
    """Return a function that writes a real LoRA adapter (random, non-zero B) for the embedded base."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    # An fp32 copy of the base: the shared engine's model must never be wrapped for training.
    base_path = engine.info.path
    root = tmp_path_factory.mktemp("adapters")
    made: dict[tuple, Path] = {}

    def make(name: str = "a", seed: int = 0, targets=("q_proj", "v_proj"), r: int = 4, metadata: dict | None = None):
        key = (name, seed, tuple(targets), r)
        if key in made:
            return made[key]
        torch.manual_seed(seed)
        base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
        config = LoraConfig(r=r, lora_alpha=2 * r, target_modules=list(targets), init_lora_weights=False)
        model = get_peft_model(base, config)
        with torch.no_grad():
            for param_name, param in model.named_parameters():
                if "lora_B" in param_name:
                    param.normal_(0, 0.05)
        folder = root / f"{name}-{seed}-{r}"
        model.save_pretrained(folder, safe_serialization=True)
        meta = {"base_model": engine.info.name, "template_fingerprint": engine.template_fingerprint}
        meta.update(metadata or {})
        (folder / "tuitune.json").write_text(json.dumps(meta))
        made[key] = folder
        return folder

    return make
