"""The ids the trainer feeds trl, for SFT, DPO and KTO, are Meta's (`../shared/llama2/reference.json`) whichever
`legacy` flag the Llama-2 tokenizer folder carries: trl tokenizes through the chat-time encoder, not its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuitune.training.config import RunConfig

REPO = Path(__file__).resolve().parents[2]
LLAMA2 = REPO.parent / "shared" / "llama2"

pytestmark = pytest.mark.skipif(
    not (LLAMA2 / "reference.json").is_file(),
    reason=f"Meta's Llama-2 tokenizer and reference ids are not at {LLAMA2} (the shared folder beside the repo)",
)


class _NoCallback:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


@pytest.mark.parametrize("folder", ["tokenizer-legacy-true", "tokenizer-legacy-false"])
@pytest.mark.parametrize("template", ["llama-2-chat", ""])
def test_trl_gets_metas_ids_for_every_method(folder, template, settings, tmp_path):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from tuitune.model.templates import choose_template
    from tuitune.training.trainer import make_trainer

    train = json.loads((LLAMA2 / "reference.json").read_text(encoding="utf-8"))["train"]
    prompt_ids, full_ids = train["prompt_ids"], train["full_ids"]
    completion_ids = full_ids[len(prompt_ids):]
    rejected = [{"role": "assistant", "content": "Cats purr for many reasons."}]
    tokenizer = AutoTokenizer.from_pretrained(str(LLAMA2 / folder))
    tokenizer.pad_token = tokenizer.eos_token
    choose_template(tokenizer, template, settings.prompts_dir)
    settings = settings.with_overrides({"model.quant": "none", "train.max_length": 256})
    tiny = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    rows = {
        "sft": [{"prompt": train["prompt"], "completion": train["completion"]}],
        "dpo": [{"prompt": train["prompt"], "chosen": train["completion"], "rejected": rejected}],
        "kto": [{"prompt": train["prompt"], "completion": train["completion"], "label": True},
                {"prompt": train["prompt"], "completion": rejected, "label": False}],
    }
    for method, method_rows in rows.items():
        config = RunConfig(run_id=1, run_dir=str(tmp_path / method), method=method)
        trainer = make_trainer(config, settings, tiny, tokenizer, method_rows, callback=_NoCallback())
        row = trainer.train_dataset[0]
        if method == "sft":
            assert row["input_ids"] == full_ids
            assert row["labels"] == [-100] * len(prompt_ids) + completion_ids  # the answer and its </s> only
        elif method == "dpo":
            assert (row["prompt_ids"], row["chosen_ids"]) == (prompt_ids, completion_ids)
            assert row["rejected_ids"][-2:] == [29871, tokenizer.eos_token_id]
        else:
            assert (row["prompt_ids"], row["completion_ids"]) == (prompt_ids, completion_ids)
