"""Adapter swap in place vs a cold reload of base + adapter; memory over 20 swaps; first token after a swap.

JSON: swap_ratio (hot load+activate ÷ cold reload; target <= 0.01), swap_ms, mem_growth (after 20 swaps ÷ after
1; target <= 1.01), ttft_after_swap_ratio (first-token latency right after a swap ÷ before; target <= 1.1),
server_swap_ratio (a swap through the engine server's /v1/load_lora_adapter, as the app does it ÷ the in-process
swap; target <= 1.2).
"""

from __future__ import annotations

import gc
import json
import statistics
import tempfile
import time
from pathlib import Path

from _common import machine, make_engine, parser, report, server_client

PROMPT = [{"role": "user", "content": "Give me one tip for learning a language."}]
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


def write_adapter(engine, folder: Path, r: int = 16, seed: int = 0) -> Path:
    """A LoRA adapter (rank 16 on q,k,v,o, as tuitune trains) with the right shapes for whatever base is loaded."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, module in engine.model.named_modules():
        if name.rsplit(".", 1)[-1] in TARGETS and hasattr(module, "in_features"):
            key = f"base_model.model.{name}"
            tensors[f"{key}.lora_A.weight"] = torch.randn(r, module.in_features, generator=generator) * 0.01
            tensors[f"{key}.lora_B.weight"] = torch.randn(module.out_features, r, generator=generator) * 0.01
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    config = {"peft_type": "LORA", "r": r, "lora_alpha": 2 * r, "lora_dropout": 0.0, "target_modules": list(TARGETS),
              "task_type": "CAUSAL_LM", "base_model_name_or_path": engine.info.name, "bias": "none"}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    return folder


def memory_bytes(engine) -> int:
    import torch

    if engine.info.device.startswith("cuda"):
        torch.cuda.synchronize()
        return torch.cuda.memory_allocated()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def ttft(engine) -> float:
    generation = engine.generate(PROMPT, max_new_tokens=2)
    generation.text()
    return generation.stats.ttft_s


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--swaps", type=int, default=20)
    args = p.parse_args()
    engine = make_engine(args)
    folder = write_adapter(engine, Path(tempfile.mkdtemp(prefix="tuitune-swap-")) / "adapter")
    ttft(engine)  # warm-up
    before = statistics.median(ttft(engine) for _ in range(5))

    hot = engine.load_adapter("s0", str(folder))
    after = ttft(engine)  # the first answer right after the swap, the one a user waits for
    after_more = statistics.median(ttft(engine) for _ in range(4))
    gc.collect()
    mem_one = memory_bytes(engine)
    hot_times = [hot]
    for i in range(1, args.swaps):
        hot_times.append(engine.load_adapter(f"s{i}", str(folder)))
        engine.unload_adapter(f"s{i - 1}")
    gc.collect()
    mem_many = memory_bytes(engine)
    engine.unload_adapter(f"s{args.swaps - 1}")

    client = server_client(args, engine)
    served, local = [], []
    for i in range(5):  # interleaved: the same adapter through the server, then in this process
        served.append(client.load_adapter(f"h{i}", str(folder)))
        client.unload_adapter(f"h{i}")
        local.append(engine.load_adapter(f"l{i}", str(folder)))
        engine.unload_adapter(f"l{i}")
    from tuitune.server import lifecycle

    lifecycle.stop(client.paths)

    start = time.perf_counter()
    cold = make_engine(args)
    cold.load_adapter("cold", str(folder))
    cold_s = time.perf_counter() - start

    swap_s = statistics.median(hot_times)
    figures = {
        "bench": "swap", "model": engine.info.name, "quant": engine.info.quant, "device": engine.info.device,
        "swap_ms": round(swap_s * 1000, 1), "cold_reload_ms": round(cold_s * 1000, 1),
        "swap_ratio": round(swap_s / cold_s, 5),
        "server_swap_ms": round(statistics.median(served) * 1000, 1),
        "inprocess_swap_ms": round(statistics.median(local) * 1000, 1),
        "server_swap_ratio": round(statistics.median(served) / statistics.median(local), 3),
        "mem_after_1_mb": round(mem_one / 1e6, 1), "mem_after_n_mb": round(mem_many / 1e6, 1), "swaps": args.swaps,
        "mem_growth": round(mem_many / mem_one, 4),
        "ttft_before_ms": round(before * 1000, 1), "ttft_after_swap_ms": round(after * 1000, 1),
        "ttft_after_swap_ratio": round(after / before, 3), "ttft_later_ratio": round(after_more / before, 3),
    }
    print(f"machine: {machine()}")
    print(f"model {figures['model']} {figures['quant']} on {figures['device']}")
    print(f"hot swap {figures['swap_ms']} ms vs cold reload {figures['cold_reload_ms']} ms: "
          f"swap_ratio {figures['swap_ratio']} (target <= 0.01)")
    print(f"swap through the server {figures['server_swap_ms']} ms vs in process {figures['inprocess_swap_ms']} ms: "
          f"server_swap_ratio {figures['server_swap_ratio']} (target <= 1.2)")
    print(f"memory after 1 swap {figures['mem_after_1_mb']} MB, after {args.swaps}: {figures['mem_after_n_mb']} MB: "
          f"mem_growth {figures['mem_growth']} (target <= 1.01)")
    print(f"first token {figures['ttft_before_ms']} ms before, {figures['ttft_after_swap_ms']} ms right after: "
          f"ttft_after_swap_ratio {figures['ttft_after_swap_ratio']} (target <= 1.1)")
    report(figures)


if __name__ == "__main__":
    main()
