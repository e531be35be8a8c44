"""The final EOS keeps its label (pad == eos here), and the launcher builds the command it documents."""

from __future__ import annotations

import sys

from training_stores import conversation
from tuitune.training import build, trainer_command
from tuitune.training.config import RunConfig


def test_the_final_eos_of_each_completion_is_trained(settings, store, model_cache, tmp_path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tuitune.model.loader import load_tokenizer
    from tuitune.model.source import resolve
    from tuitune.model.templates import choose_template
    from tuitune.training.trainer import make_trainer

    tokenizer = load_tokenizer(resolve("embedded", model_cache))
    choose_template(tokenizer, "", settings.prompts_dir)
    assert tokenizer.pad_token_id == tokenizer.eos_token_id  # the pitfall this test is about
    conversation(store, "Hi?", [("Hello there.", "good", "chat")])
    conversation(store, "Bye?", [("Goodbye.", "good", "chat")])
    settings = settings.with_overrides({"train.holdout": 0, "model.quant": "none"})
    plan = build(store, settings, "sft")
    tiny = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    config = RunConfig(run_id=1, run_dir=str(tmp_path), method="sft")
    rows = [{k: v for k, v in row.items() if k != "message_ids"} for row in plan.rows]
    trainer = make_trainer(config, settings, tiny, tokenizer, rows, callback=_NoCallback())
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    eos = tokenizer.eos_token_id
    for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"]):
        real = ids[mask.bool()]
        last_eos = int((real == eos).nonzero()[-1])
        assert labels[last_eos] == eos  # the answer's closing token is learned, so tuned models still stop
        assert torch.all(labels[~mask.bool()] == -100)  # padding (also eos) is not
        assert labels[0] == -100  # the prompt is not


class _NoCallback:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def test_trainer_command_plain_and_with_a_launcher(settings, tmp_path):
    from pathlib import Path

    assert trainer_command(settings, tmp_path) == [sys.executable, "-m", "tuitune.training", "--run-dir", str(tmp_path)]
    settings = settings.with_overrides({"train.launcher": "accelerate launch --multi_gpu --num_processes 8"})
    # The venv's own accelerate (beside this Python), so the workers run the app's Python even off PATH.
    accelerate = Path(sys.executable).parent / "accelerate"
    assert trainer_command(settings, tmp_path) == [
        str(accelerate) if accelerate.is_file() else "accelerate", "launch", "--multi_gpu", "--num_processes", "8",
        "-m", "tuitune.training", "--run-dir", str(tmp_path),
    ]
    settings = settings.with_overrides({"train.launcher": "/opt/bin/torchrun --nproc_per_node 2"})
    assert trainer_command(settings, tmp_path)[:3] == ["/opt/bin/torchrun", "--nproc_per_node", "2"]


def test_the_core_imports_neither_textual_nor_torch(tmp_path):
    import subprocess

    code = "import sys, tuitune.training, tuitune.cli.training; print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'torch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
