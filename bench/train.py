"""Training cost: tuitune's trainer vs a bare trl script, peak memory, and the key-to-live time with its parts.

Both trainers run the same SFT rows (the sample data) with the same settings, one after the other, in this run.

JSON: train_ratio (tuitune tokens/s ÷ bare trl tokens/s; target >= 0.95), peak_mem_ratio (peak memory while
training ÷ memory with the 4-bit model loaded), key_to_live_s (start_run to the adapter active in a running engine)
and its parts: process_start_s, base_load_s, prepare_s, training_s, save_s, swap_s.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, parser, report

REPO = Path(__file__).resolve().parent.parent


def bare_trl(run_dir: str) -> None:
    """The plainest trl QLoRA script over the same rows and settings: what tuitune's trainer is measured against."""
    import resource

    from datasets import Dataset
    from peft import LoraConfig, prepare_model_for_kbit_training
    from trl import SFTConfig, SFTTrainer

    from tuitune.model.loader import load_base, load_tokenizer
    from tuitune.model.source import resolve
    from tuitune.model.templates import choose_template
    from tuitune.training.config import RunConfig, read_rows

    config = RunConfig.read(run_dir)
    s = config.load_settings()
    source = resolve(s.model.spec, s.cache_dir)
    tokenizer = load_tokenizer(source)
    choose_template(tokenizer, s.model.template, s.prompts_dir)
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = prepare_model_for_kbit_training(load_base(source, s.model.quant, device),
                                            use_gradient_checkpointing=device == "cuda")
    rows = [{k: v for k, v in r.items() if k != "message_ids"} for r in read_rows(Path(run_dir))]
    args = SFTConfig(
        output_dir=f"{run_dir}/bare", max_steps=s.train.max_steps, num_train_epochs=s.train.epochs,
        learning_rate=s.train.lr, per_device_train_batch_size=s.train.batch_size, max_length=s.train.max_length,
        logging_steps=1, save_strategy="no", report_to=[], include_num_input_tokens_seen="all", seed=s.train.seed,
        use_cpu=device == "cpu", bf16=device == "cuda", gradient_checkpointing=device == "cuda",
        optim="paged_adamw_8bit" if device == "cuda" else "adamw_torch",
    )
    lora = LoraConfig(r=s.lora.r, lora_alpha=s.lora.alpha, lora_dropout=s.lora.dropout,
                      target_modules=s.lora.target_modules(), task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=lora)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps({"tokens_per_s": trainer.state.num_input_tokens_seen / seconds, "train_s": seconds,
                      "peak_memory_mb": peak}))


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--max-steps", type=int, default=6, help="steps per trainer (the same for both)")
    p.add_argument("--bare", help=argparse_hidden())
    args = p.parse_args()
    if args.bare:
        bare_trl(args.bare)
        return

    from tuitune.config import load_settings
    from tuitune.exchange import import_files
    from tuitune.model import Engine
    from tuitune.store import Store
    from tuitune.training import start_run

    home = Path(args.home or tempfile.mkdtemp(prefix="tuitune-train-bench-"))
    settings = load_settings(home, {"model.spec": args.model, "model.quant": args.quant,
                                    "model.cache_dir": args.cache, "train.max_steps": args.max_steps})
    store = Store.open(settings.db_path)
    import_files(store, [REPO / "sample_data" / "tldr_conversations.jsonl"])
    engine = Engine(settings)
    engine.load()

    # tuitune: the key's path, timed from the call to the adapter live in the running engine.
    key = time.perf_counter()
    key_wall = time.time()
    handle = start_run(settings, store, "sft", template_fingerprint=engine.template_fingerprint,
                       base_model=engine.info.name)
    events = list(handle.events())
    done = events[-1]
    if done["event"] != "done":
        raise SystemExit(f"training failed: {done}")
    swap_s = engine.load_adapter(done["adapter_name"], done["adapter_path"])
    key_to_live = time.perf_counter() - key
    phase = {e["name"]: e for e in events if e["event"] == "phase"}
    start = next(e for e in events if e["event"] == "start")
    parts = {
        "process_start_s": round(start["time"] - key_wall, 2),
        "base_load_s": round(phase["prepare"]["t"] - phase["load"]["t"], 2),
        "prepare_s": round(phase["train"]["t"] - phase["prepare"]["t"], 2),
        "training_s": round(phase["save"]["t"] - phase["train"]["t"], 2),
        "save_s": round(done["t"] - phase["save"]["t"], 2),
        "swap_s": round(swap_s, 3),
    }
    ours = done["metrics"]
    del engine  # the bare script gets the machine to itself, as our trainer had

    bare = subprocess.run([sys.executable, __file__, "--bare", str(handle.run_dir)], capture_output=True, text=True)
    if bare.returncode != 0:
        raise SystemExit(f"the bare trl script failed:\n{bare.stderr[-3000:]}")
    theirs = json.loads(bare.stdout.strip().splitlines()[-1])

    train_ratio = ours["tokens_per_s"] / theirs["tokens_per_s"]
    loaded = phase["prepare"]["loaded_memory_mb"]
    peak_ratio = ours["peak_memory_mb"] / loaded
    print(f"tuitune trainer: {ours['tokens_per_s']:.1f} tok/s over {ours['steps']} steps; "
          f"bare trl: {theirs['tokens_per_s']:.1f} tok/s -> ratio {train_ratio:.2f}")
    print(f"memory: {loaded:.0f} MB with the 4-bit model loaded ({phase['prepare']['footprint_mb']:.0f} MB of weights),"
          f" peak {ours['peak_memory_mb']:.0f} MB while training -> ratio {peak_ratio:.2f}"
          f" (bare trl peak {theirs['peak_memory_mb']:.0f} MB)")
    print(f"key to live: {key_to_live:.1f} s = " + ", ".join(f"{k} {v}" for k, v in parts.items()))
    print(machine())
    report({"train_ratio": round(train_ratio, 3), "peak_mem_ratio": round(peak_ratio, 2),
            "key_to_live_s": round(key_to_live, 2), **parts,
            "tokens_per_s": ours["tokens_per_s"], "bare_tokens_per_s": round(theirs["tokens_per_s"], 1)})


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
