"""Each exported training file loads with `datasets` and trains one step in the matching trl trainer, unchanged,
on a fresh nf4 copy of the embedded model (a model that ran inference on this CPU must not be trained)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuitune.exchange import export, import_files


def fresh_model(cache_dir: Path):
    from tuitune.model.loader import load_base, load_tokenizer
    from tuitune.model.source import resolve

    source = resolve("embedded", cache_dir)
    return load_base(source, "4bit", "cpu"), load_tokenizer(source)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["sft", "dpo", "kto"])
def test_exported_file_trains_one_step_in_trl(fmt: str, store, settings, sample: Path, model_cache: Path, tmp_path: Path) -> None:
    import torch
    import trl
    from datasets import load_dataset
    from peft import LoraConfig

    import_files(store, [sample])
    path = tmp_path / f"{fmt}.jsonl"
    assert export(store, settings, fmt, path) > 2
    data = load_dataset("json", data_files=str(path), split="train").select(range(2 if fmt != "kto" else 4))
    model, tokenizer = fresh_model(model_cache)
    trainer_cls, config_cls = {
        "sft": (trl.SFTTrainer, trl.SFTConfig),
        "dpo": (trl.DPOTrainer, trl.DPOConfig),
        "kto": (trl.KTOTrainer, trl.KTOConfig),
    }[fmt]
    args = config_cls(
        output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=2, max_length=256,
        learning_rate=1e-3, logging_steps=1, save_strategy="no", report_to=[], disable_tqdm=True, use_cpu=True,
        dataloader_num_workers=0,
    )
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = trainer_cls(model=model, args=args, train_dataset=data, processing_class=tokenizer, peft_config=lora)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_B" in n}
    result = trainer.train()
    assert result.global_step == 1
    assert torch.isfinite(torch.tensor(result.training_loss))
    after = dict(trainer.model.named_parameters())
    assert any(not torch.equal(before[n], after[n].detach()) for n in before), "the LoRA weights did not move"
