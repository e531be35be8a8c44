"""Training cost: tuitune's trainer vs a bare trl script, peak memory, and the key-to-live time with its parts.

Both trainers run the same SFT rows (the sample data) with the same settings, one after the other, in this run.

JSON: train_ratio (tuitune tokens/s ÷ bare trl tokens/s; target >= 0.95), peak_mem_ratio (peak memory while
training ÷ memory with the 4-bit model loaded), key_to_live_s (start_run to the adapter active in a running engine)
and its parts: process_start_s, base_load_s, prepare_s, training_s, save_s, swap_s.

Three more modes:
  --via-server
      key to live with the trainer started by the client (before issue 18) and as the engine server's job (F5 now),
      alternated --rounds times on one engine behind the real HTTP server; their ratio.
  --compare-launcher "accelerate launch --multi_gpu --num_processes 2"
      the same SFT run (same rows, steps and global batch) with one trainer process and under that launcher:
      loss per step and the held-out TL;DR rate of each adapter (sample_data/heldout_prompts.jsonl).
  --suite OUT.json
      everything a GPU run needs with each model loaded once (bench/gpu.sh): nf4 engine decode vs bare generate,
      adapter swap vs the engine's own cold load, memory over 20 swaps, key to live and trainer vs bare trl for
      SFT (and DPO's cost), then the bf16 decode; all figures into one JSON file.
"""

from __future__ import annotations

import gc
import json
import statistics
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
    s = config.run_settings()
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
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps({"tokens_per_s": trainer.state.num_input_tokens_seen / seconds, "train_s": seconds,
                      "peak_memory_mb": peak}))


# ---- the parts each mode shares ------------------------------------------------------------------------------
def sample_home(args, home: str | None = None, **overrides):
    """A home holding the sample judgements, and its settings and store."""
    from tuitune.config import load_settings
    from tuitune.exchange import import_files
    from tuitune.store import Store

    home_dir = Path(home or args.home or tempfile.mkdtemp(prefix="tuitune-train-bench-"))
    settings = load_settings(home_dir, {"model.spec": args.model, "model.quant": args.quant,
                                        "model.cache_dir": args.cache, "train.max_steps": args.max_steps,
                                        **overrides})
    store = Store.open(settings.db_path)
    import_files(store, [REPO / "sample_data" / "tldr_conversations.jsonl"])
    return settings, store


def key_to_live(settings, store, engine, method: str = "sft") -> dict:
    """The key's path, timed from the call to the adapter live in the running engine, with its parts."""
    from tuitune.training import start_run

    key = time.perf_counter()
    key_wall = time.time()
    handle = start_run(settings, store, method, template_fingerprint=engine.template_fingerprint,
                       base_model=engine.info.name)
    events = list(handle.events())
    done = events[-1]
    if done["event"] != "done":
        raise SystemExit(f"training failed: {done}")
    swap_s = engine.load_adapter(done["adapter_name"], done["adapter_path"])
    phase = {e["name"]: e for e in events if e["event"] == "phase"}
    start = next(e for e in events if e["event"] == "start")
    return {
        "handle": handle, "done": done, "phase": phase, "key_to_live_s": round(time.perf_counter() - key, 2),
        "parts": {
            "process_start_s": round(start["time"] - key_wall, 2),
            "base_load_s": round(phase["prepare"]["t"] - phase["load"]["t"], 2),
            "prepare_s": round(phase["train"]["t"] - phase["prepare"]["t"], 2),
            "training_s": round(phase["save"]["t"] - phase["train"]["t"], 2),
            "save_s": round(done["t"] - phase["save"]["t"], 2),
            "swap_s": round(swap_s, 3),
        },
        "losses": [e["loss"] for e in events if e["event"] == "progress"],
    }


def run_bare(run_dir: Path) -> dict:
    bare = subprocess.run([sys.executable, __file__, "--bare", str(run_dir)], capture_output=True, text=True)
    if bare.returncode != 0:
        raise SystemExit(f"the bare trl script failed:\n{bare.stderr[-3000:]}")
    return json.loads(bare.stdout.strip().splitlines()[-1])


def train_figures(live: dict, theirs: dict) -> dict:
    ours = live["done"]["metrics"]
    loaded = live["phase"]["prepare"]["loaded_memory_mb"]
    return {"train_ratio": round(ours["tokens_per_s"] / theirs["tokens_per_s"], 3),
            "peak_mem_ratio": round(ours["peak_memory_mb"] / max(loaded, 1e-9), 2),
            "key_to_live_s": live["key_to_live_s"], **live["parts"],
            "tokens_per_s": ours["tokens_per_s"], "bare_tokens_per_s": round(theirs["tokens_per_s"], 1),
            "peak_memory_mb": ours["peak_memory_mb"], "bare_peak_memory_mb": round(theirs["peak_memory_mb"], 1),
            "loaded_memory_mb": loaded, "weights_mb": live["phase"]["prepare"]["footprint_mb"]}


def load_engine(settings):
    from tuitune.model import Engine

    engine = Engine(settings)
    started = time.perf_counter()
    engine.load()
    seconds = time.perf_counter() - started
    _plain_layout_where_cpu_packing_fails(engine.model)
    return engine, seconds


def _plain_layout_where_cpu_packing_fails(model) -> None:
    """bitsandbytes 0.50.2 repacks nf4 weights for CPU inference only when the output rows divide by 32 and the
    input by the quantization block; the tiny shape's 688-wide MLP does not (Llama-2-7B's 11008 does), and would
    fail the CPU dry run at its first answer. A GPU never repacks."""
    try:
        from bitsandbytes.nn import Linear4bit
    except ImportError:
        return
    for module in model.modules():
        if isinstance(module, Linear4bit):
            blocksize = getattr(module.weight.quant_state, "blocksize", 64)
            if module.out_features % 32 or module.in_features % blocksize:
                module.support_avx512bf16_for_cpu = False


# ---- the modes -----------------------------------------------------------------------------------------------
def compare(args) -> None:
    """One trainer process vs `args.compare_launcher`: same rows, steps and global batch; loss curves and the
    held-out TL;DR rate of each adapter, measured in one engine."""
    from effect import tldr_rate

    from tuitune.chat import system_prompt_text

    words = args.compare_launcher.split()
    world = int(words[words.index("--num_processes") + 1]) if "--num_processes" in words else 2
    runs, engine = {}, None
    for name, launcher, per_process in (("1 process", "", args.batch_size),
                                        (f"{world} processes", args.compare_launcher, args.batch_size // world)):
        settings, store = sample_home(args, tempfile.mkdtemp(prefix="tuitune-compare-"),
                                      **{"train.launcher": launcher, "train.batch_size": per_process})
        if engine is None:
            engine, _ = load_engine(settings)
        started = time.perf_counter()
        live = key_to_live(settings, store, engine)
        runs[name] = {"losses": live["losses"], "adapter": live["done"]["adapter_name"],
                      "wall_s": round(time.perf_counter() - started, 1),
                      "world_size": live["done"]["metrics"].get("world_size"),
                      "train_loss": live["done"]["metrics"]["train_loss"]}
        print(f"{name}: world size {runs[name]['world_size']}, {len(live['losses'])} steps of {per_process} rows "
              f"per process, {runs[name]['wall_s']} s key to live, losses " +
              " ".join(f"{x:.3f}" for x in live["losses"]), flush=True)
    prompts = [json.loads(line)["prompt"] for line in (REPO / "sample_data" / "heldout_prompts.jsonl").open()]
    system = system_prompt_text(engine.settings.generation.system_prompt, engine.settings.prompts_dir)
    engine.activate(None)
    base_rate, _ = tldr_rate(engine, prompts, system, 16)
    for name, run in runs.items():
        engine.activate(run["adapter"])
        run["tldr_rate"], _ = tldr_rate(engine, prompts, system, 16)
        print(f"{name}: held-out TL;DR rate {run['tldr_rate']:.2f} (base {base_rate:.2f}, {len(prompts)} prompts)")
    print(machine())
    report({"base_tldr_rate": base_rate, **{name.replace(" ", "_"): run for name, run in runs.items()}})


def suite(args) -> None:
    """All GPU figures with the nf4 base loaded once (plus the trainer's, bare trl's and the bf16 engine)."""
    import torch
    from decode import bare_run, padded_prompt
    from swap import memory_bytes, ttft, write_adapter

    figures: dict = {"machine": machine(), "model": args.model, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}

    def save() -> None:
        Path(args.suite).write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")

    def decode(engine, label: str) -> None:
        engine.settings = engine.settings.with_overrides({"generation.temperature": 0.0})
        prompt = padded_prompt(engine, args.prompt_tokens)
        from tuitune.model.templates import render_ids

        ids = torch.tensor([render_ids(engine.tokenizer, prompt)], device=engine.model.device)
        engine.generate(prompt, max_new_tokens=8).text()
        bare_run(engine, ids, 8)
        tps, ttfts, bare_tps, prefills = [], [], [], []
        for _ in range(args.reps):
            generation = engine.generate(prompt, max_new_tokens=args.new_tokens)
            generation.text()
            tps.append(generation.stats.tokens_per_s)
            ttfts.append(generation.stats.ttft_s)
            prefill, rate = bare_run(engine, ids, generation.stats.new_tokens)
            bare_tps.append(rate)
            prefills.append(prefill)
        med = statistics.median
        figures[f"decode_{label}"] = {
            "prompt_tokens": int(ids.shape[1]), "engine_tok_s": round(med(tps), 2), "bare_tok_s": round(med(bare_tps), 2),
            "decode_ratio": round(med(tps) / med(bare_tps), 3), "engine_ttft_ms": round(med(ttfts) * 1000, 1),
            "bare_prefill_ms": round(med(prefills) * 1000, 1), "ttft_ratio": round(med(ttfts) / med(prefills), 3),
            "weights_gb_per_s": round(engine.info.footprint_bytes * med(tps) / 1e9, 2),
            "footprint_mb": round(engine.info.footprint_mb, 1),
        }
        print(f"decode {label}: {figures[f'decode_{label}']}", flush=True)
        save()

    settings, store = sample_home(args, str(Path(args.suite).parent / "home"))
    engine, load_s = load_engine(settings)
    figures["nf4_load_s"] = round(load_s, 2)
    decode(engine, "nf4")

    folder = write_adapter(engine, Path(tempfile.mkdtemp(prefix="tuitune-swap-")) / "a")
    before = ttft(engine)
    swaps, memory = [], []
    for i in range(args.swaps):  # load, activate; the previous one unloaded first, as the app switches
        if i:
            engine.unload_adapter(f"swap{i - 1}")
        swaps.append(engine.load_adapter(f"swap{i}", str(folder)))
        memory.append(memory_bytes(engine))
    after = ttft(engine)
    engine.unload_adapter(f"swap{args.swaps - 1}")
    engine.activate(None)
    swap_s = statistics.median(swaps)
    figures["swap"] = {"swap_ms": round(swap_s * 1000, 1), "cold_load_ms": round(load_s * 1000, 1),
                       "swap_ratio": round(swap_s / load_s, 5), "mem_growth": round(memory[-1] / memory[0], 4),
                       "ttft_after_swap_ratio": round(after / max(before, 1e-9), 3)}
    print(f"swap: {figures['swap']}", flush=True)
    save()

    for method in args.methods.split(","):
        live = key_to_live(settings, store, engine, method)
        if method == "sft":
            figures["train_sft"] = train_figures(live, run_bare(live["handle"].run_dir))
        else:
            metrics = live["done"]["metrics"]
            figures[f"train_{method}"] = {"key_to_live_s": live["key_to_live_s"], **live["parts"],
                                          "tokens_per_s": metrics["tokens_per_s"],
                                          "peak_memory_mb": metrics["peak_memory_mb"],
                                          "loaded_memory_mb": live["phase"]["prepare"]["loaded_memory_mb"]}
        print(f"train {method}: {figures[f'train_{method}']}", flush=True)
        engine.activate(None)
        save()

    del engine
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    settings = settings.with_overrides({"model.quant": "none"})
    engine, load_s = load_engine(settings)
    figures["bf16_load_s"] = round(load_s, 2)
    decode(engine, "bf16")
    if "decode_nf4" in figures:
        figures["nf4_vs_bf16_decode"] = round(figures["decode_nf4"]["engine_tok_s"]
                                              / figures["decode_bf16"]["engine_tok_s"], 3)
    save()
    print(f"wrote {args.suite}")
    report({k: v for k, v in figures.items() if k in ("nf4_vs_bf16_decode", "nf4_load_s", "bf16_load_s")})


def via_server(args) -> None:
    """Key to live with the trainer started by the client (as before issue 18) and through the engine server as a
    fine-tuning job (what F5 does now), alternated, on one engine behind the real HTTP server."""
    from tuitune.client import EngineClient
    from tuitune.client.jobs import ServerJobs
    from tuitune.server.serve import ThreadedServer
    from tuitune.training import start_run

    settings, store = sample_home(args, **{"train.measure": False})
    engine, _ = load_engine(settings)
    server = ThreadedServer(engine, Path(tempfile.mkdtemp(prefix="tuitune-sock-")) / "engine.sock",
                            jobs_settings=settings).start()
    client = EngineClient(settings, url=server.url)
    client.load()
    jobs = ServerJobs(client)
    seconds: dict[str, list[float]] = {"client": [], "server": []}
    try:
        for _ in range(args.rounds):
            seconds["client"].append(key_to_live(settings, store, engine)["key_to_live_s"])
            key = time.perf_counter()
            handle = start_run(settings, store, "sft", template_fingerprint=engine.template_fingerprint,
                               base_model=engine.info.name, jobs=jobs)
            done = handle.wait()
            if done["event"] != "done":
                raise SystemExit(f"the job failed: {done}")
            name = done["adapter_name"]  # as Adapters.use: the server loaded it when the job ended
            if name in client.loaded_adapters:
                client.activate(name)
            else:
                client.load_adapter(name, done["adapter_path"])
            seconds["server"].append(round(time.perf_counter() - key, 2))
            print(f"key to live: client-started {seconds['client'][-1]} s, server job {seconds['server'][-1]} s",
                  flush=True)
    finally:
        client.close()
        server.stop()
    client_s, server_s = round(statistics.median(seconds["client"]), 2), round(statistics.median(seconds["server"]), 2)
    report({"key_to_live_client_s": client_s, "key_to_live_server_s": server_s,
            "server_vs_client_ratio": round(server_s / client_s, 3), "rounds": args.rounds,
            "max_steps": args.max_steps, "quant": args.quant, "machine": machine()})


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--max-steps", type=int, default=6, help="steps per trainer (the same for both)")
    p.add_argument("--bare", help=argparse_hidden())
    p.add_argument("--compare-launcher", help="compare one trainer process with this train.launcher")
    p.add_argument("--batch-size", type=int, default=4, help="global batch for --compare-launcher")
    p.add_argument("--suite", help="write every GPU figure into this JSON file (bench/gpu.sh)")
    p.add_argument("--methods", default="sft,dpo", help="--suite: methods to train")
    p.add_argument("--reps", type=int, default=3, help="--suite: decode repetitions")
    p.add_argument("--prompt-tokens", type=int, default=256, help="--suite: decode prompt length")
    p.add_argument("--new-tokens", type=int, default=256, help="--suite: tokens decoded per repetition")
    p.add_argument("--swaps", type=int, default=20, help="--suite: adapter swaps")
    p.add_argument("--via-server", action="store_true", help="key to live: client-started trainer vs server job")
    p.add_argument("--rounds", type=int, default=2, help="--via-server: runs of each, alternated")
    args = p.parse_args()
    if args.bare:
        bare_trl(args.bare)
        return
    if args.compare_launcher:
        compare(args)
        return
    if args.suite:
        suite(args)
        return
    if args.via_server:
        via_server(args)
        return

    settings, store = sample_home(args)
    engine, _ = load_engine(settings)
    live = key_to_live(settings, store, engine)
    del engine  # the bare script gets the machine to itself, as our trainer had
    figures = train_figures(live, run_bare(live["handle"].run_dir))
    ours = live["done"]["metrics"]
    print(f"tuitune trainer: {ours['tokens_per_s']:.1f} tok/s over {ours['steps']} steps; "
          f"bare trl: {figures['bare_tokens_per_s']:.1f} tok/s -> ratio {figures['train_ratio']:.2f}")
    print(f"memory: {figures['loaded_memory_mb']:.0f} MB with the 4-bit model loaded ({figures['weights_mb']:.0f} MB "
          f"of weights), peak {ours['peak_memory_mb']:.0f} MB while training -> ratio {figures['peak_mem_ratio']:.2f}"
          f" (bare trl peak {figures['bare_peak_memory_mb']:.0f} MB)")
    print(f"key to live: {live['key_to_live_s']:.1f} s = " + ", ".join(f"{k} {v}" for k, v in live["parts"].items()))
    print(machine())
    report({k: figures[k] for k in ("train_ratio", "peak_mem_ratio", "key_to_live_s", *live["parts"],
                                    "tokens_per_s", "bare_tokens_per_s")})


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
