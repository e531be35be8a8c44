"""Adapters in place on the real engine: load, swap, unload, memory, and every refusal."""

from __future__ import annotations

import json
import shutil

import pytest

PROMPT = [{"role": "user", "content": "Name a colour."}]


def _logits(engine):
    import torch

    ids = torch.tensor([engine.tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_dict=False)])
    with torch.inference_mode(), engine._adapter_context(engine.active_adapter):
        return engine.model(input_ids=ids).logits[0, -1].float().clone()


def test_load_activate_base_unload(clean_engine, make_adapter):
    base = _logits(clean_engine)
    seconds = clean_engine.load_adapter("one", str(make_adapter("one", seed=1)))
    assert seconds > 0 and clean_engine.active_adapter == "one"
    tuned = _logits(clean_engine)
    assert (tuned - base).abs().max() > 1e-3, "the adapter did not change the logits"
    clean_engine.activate(None)
    assert (_logits(clean_engine) - base).abs().max() < 1e-4
    clean_engine.activate("one")
    assert (_logits(clean_engine) - tuned).abs().max() < 1e-4
    clean_engine.unload_adapter("one")
    assert clean_engine.active_adapter is None and not clean_engine.loaded_adapters
    assert (_logits(clean_engine) - base).abs().max() < 1e-4


def test_two_adapters_switch_without_reloading_base(clean_engine, make_adapter):
    base_layer = next(m for m in clean_engine.model.modules() if m.__class__.__name__ == "Linear4bit")
    clean_engine.load_adapter("x", str(make_adapter("x", seed=2)))
    x = _logits(clean_engine)
    clean_engine.load_adapter("y", str(make_adapter("y", seed=3)))
    y = _logits(clean_engine)
    assert (x - y).abs().max() > 1e-3
    clean_engine.activate("x")
    assert (_logits(clean_engine) - x).abs().max() < 1e-4
    still = next(m for m in clean_engine.model.modules() if m.__class__.__name__ == "Linear4bit")
    assert still.weight.data_ptr() == base_layer.weight.data_ptr(), "the base was reloaded"


def test_twenty_load_unload_cycles_return_memory(clean_engine, make_adapter):
    import gc

    folder = str(make_adapter("cycle", seed=4))
    clean_engine.load_adapter("warm", folder)
    clean_engine.unload_adapter("warm")
    gc.collect()
    before = _param_bytes(clean_engine.model)
    rss_before = _rss()
    for i in range(20):
        clean_engine.load_adapter(f"c{i}", folder)
        clean_engine.unload_adapter(f"c{i}")
    gc.collect()
    assert _param_bytes(clean_engine.model) == before
    assert _rss() - rss_before < 40e6, "20 load/unload cycles kept memory"


def _param_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _broken(tmp_path, make_adapter, name):
    folder = tmp_path / name
    shutil.copytree(make_adapter("src", seed=5), folder)
    return folder


def _save(folder, tensors):
    from safetensors.torch import save_file

    save_file(tensors, str(folder / "adapter_model.safetensors"))


def _tensors(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def _refusals(tmp_path, make_adapter):
    import torch

    cases = {}
    only_bin = _broken(tmp_path, make_adapter, "only-bin")
    (only_bin / "adapter_model.safetensors").rename(only_bin / "adapter_model.bin")
    cases["only-bin"] = (only_bin, "safetensors only")
    truncated = _broken(tmp_path, make_adapter, "truncated")
    data = (truncated / "adapter_model.safetensors").read_bytes()
    (truncated / "adapter_model.safetensors").write_bytes(data[: len(data) // 2])
    cases["truncated"] = (truncated, "corrupt or truncated")
    garbage = _broken(tmp_path, make_adapter, "garbage")
    (garbage / "adapter_model.safetensors").write_bytes(b"\x00" * 64)
    cases["garbage"] = (garbage, "corrupt or truncated")
    empty = _broken(tmp_path, make_adapter, "empty")
    _save(empty, {})
    cases["empty"] = (empty, "no tensors")
    shapes = _broken(tmp_path, make_adapter, "shapes")
    _save(shapes, {k: torch.zeros(v.shape[0] + 1, v.shape[1]) for k, v in _tensors(shapes).items()})
    cases["shapes"] = (shapes, "has shape")
    missing = _broken(tmp_path, make_adapter, "missing")
    tensors = _tensors(missing)
    _save(missing, {k: v for k, v in tensors.items() if "layers.0.self_attn.q_proj" not in k})
    cases["missing"] = (missing, "no weights for")
    unexpected = _broken(tmp_path, make_adapter, "unexpected")
    tensors = _tensors(unexpected)
    tensors["base_model.model.model.layers.0.mlp.nonexistent.lora_A.weight"] = torch.zeros(4, 8)
    _save(unexpected, tensors)
    cases["unexpected"] = (unexpected, "does not have")
    other_base = _broken(tmp_path, make_adapter, "other-base")
    (other_base / "tuitune.json").write_text(json.dumps({"base_model": "Llama-2-7b-chat-hf"}))
    cases["other-base"] = (other_base, "trained on Llama-2-7b")
    template = _broken(tmp_path, make_adapter, "template")
    meta = json.loads((template / "tuitune.json").read_text())
    meta["template_fingerprint"] = "0000000000000000"
    (template / "tuitune.json").write_text(json.dumps(meta))
    cases["template"] = (template, "chat template")
    not_lora = _broken(tmp_path, make_adapter, "not-lora")
    config = json.loads((not_lora / "adapter_config.json").read_text())
    config["peft_type"] = "PREFIX_TUNING"
    (not_lora / "adapter_config.json").write_text(json.dumps(config))
    cases["not-lora"] = (not_lora, "LoRA adapters")
    return cases


def test_every_refusal_leaves_the_previous_adapter_active(clean_engine, make_adapter, tmp_path):
    from tuitune.model import AdapterError

    clean_engine.load_adapter("good", str(make_adapter("good", seed=6)))
    expected = _logits(clean_engine)
    for name, (folder, message) in _refusals(tmp_path, make_adapter).items():
        with pytest.raises(AdapterError, match=message):
            clean_engine.load_adapter(name, str(folder))
        assert clean_engine.active_adapter == "good", name
        assert set(clean_engine.loaded_adapters) == {"good"}, name
        assert (_logits(clean_engine) - expected).abs().max() < 1e-4, name
