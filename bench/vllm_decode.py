"""vLLM vs tuitune's in-process engine: decode tokens/s for the same model, prompt and greedy settings, in one run.

Runs tuitune.model.Engine with quant none, then with 4bit, then vLLM (from .venv-vllm: `make vllm`) on the same
converted folder, one after another (never two loaded at once), and prints vllm_vs_none and vllm_vs_4bit (vLLM's
single-stream tok/s ÷ the engine's), the absolute figures, and vLLM's total tok/s with --batch streams at once
(what it is for), then one JSON line. tok/s counts decode only: (new tokens - 1) ÷ (last token - first token).

vLLM on a CPU runs one OpenMP thread per core but one, keeping that core for its front end; the engine gets the same
number of threads (--engine-threads). On a busy machine torch with as many threads as cores stalls at every
barrier (seen here: 1 tok/s with 2 threads, 16 tok/s with 1, while other work held the second core).
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import machine, make_engine, parser, report
from decode import PROMPT

REPO = Path(__file__).resolve().parent.parent


def engine_figures(args, quant: str) -> dict:
    import torch

    torch.set_num_threads(args.engine_threads)
    args.quant = quant
    engine = make_engine(args)
    try:
        engine.generate(PROMPT, max_new_tokens=8).text()  # warm-up (and the CPU's one-time 4-bit repacking)
        tps, ttft, lengths = [], [], []
        for _ in range(args.reps):
            generation = engine.generate(PROMPT, max_new_tokens=args.new_tokens)
            generation.text()
            tps.append(generation.stats.tokens_per_s)
            ttft.append(generation.stats.ttft_s)
            lengths.append(generation.stats.new_tokens)
        return {"tok_s": statistics.median(tps), "ttft_s": statistics.median(ttft),
                "new_tokens": int(statistics.median(lengths)), "dtype": str(engine.model.dtype).removeprefix("torch."),
                "name": engine.info.name, "repetition_penalty": engine.settings.generation.repetition_penalty}
    finally:
        del engine
        gc.collect()


def stream_once(client, model: str, new_tokens: int, repetition_penalty: float) -> tuple[float, float, int]:
    """(decode tok/s, time to first token, new tokens) of one streamed answer."""
    started = time.perf_counter()
    first = last = None
    tokens = 0
    stream = client.chat.completions.create(
        model=model, messages=PROMPT, max_tokens=new_tokens, temperature=0, stream=True,
        stream_options={"include_usage": True}, extra_body={"repetition_penalty": repetition_penalty},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            last = time.perf_counter()
            first = first or last
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    decode_s = (last or started) - (first or started)
    return ((tokens - 1) / decode_s if tokens > 1 and decode_s > 0 else 0.0), (first or started) - started, tokens


def vllm_figures(args, folder: str, repetition_penalty: float) -> dict:
    import openai

    from tuitune.server.vllm import start_vllm, stop_vllm, wait_ready

    log = Path(tempfile.mkdtemp(prefix="tuitune-vllm-bench-")) / "vllm.log"
    url = f"http://127.0.0.1:{args.port}"
    started = time.perf_counter()
    process = start_vllm(args.vllm_python, folder, log, port=args.port,
                         extra=["--dtype", args.vllm_dtype, "--max-model-len", "2048"],
                         env={"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"})
    try:
        wait_ready(url, timeout=600, process=process, log_path=log, progress=print)
        startup_s = time.perf_counter() - started
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=300)
        stream_once(client, folder, 8, repetition_penalty)  # warm-up
        runs = [stream_once(client, folder, args.new_tokens, repetition_penalty) for _ in range(args.reps)]

        def one(_):
            reply = client.chat.completions.create(model=folder, messages=PROMPT, max_tokens=args.new_tokens,
                                                   temperature=0, extra_body={"repetition_penalty": repetition_penalty})
            return reply.usage.completion_tokens

        batch_started = time.perf_counter()
        with ThreadPoolExecutor(args.batch) as pool:
            batch_tokens = sum(pool.map(one, range(args.batch)))
        batch_s = time.perf_counter() - batch_started
    finally:
        stop_vllm(process)
    med = statistics.median
    return {"tok_s": med(r[0] for r in runs), "ttft_s": med(r[1] for r in runs),
            "new_tokens": int(med(r[2] for r in runs)), "dtype": args.vllm_dtype, "startup_s": startup_s,
            "batch_tok_s": batch_tokens / batch_s, "log": str(log)}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--new-tokens", type=int, default=96)
    p.add_argument("--batch", type=int, default=8, help="vLLM streams at once for the batched figure")
    p.add_argument("--vllm-python", default=str(REPO / ".venv-vllm" / "bin" / "python"))
    p.add_argument("--vllm-dtype", default="bfloat16", help="vLLM's --dtype (its bitsandbytes path is CUDA-only)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--engine-threads", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                   help="torch threads for the engine (default: vLLM's own count, the cores but one)")
    args = p.parse_args()
    if not Path(args.vllm_python).is_file():
        raise SystemExit(f"no vLLM at {args.vllm_python}: run `make vllm`")
    args.cache = args.cache or tempfile.mkdtemp(prefix="tuitune-bench-models-")

    from tuitune.model.source import resolve

    none = engine_figures(args, "none")
    nf4 = engine_figures(args, "4bit")
    folder = resolve(args.model, Path(args.cache)).path
    served = vllm_figures(args, folder, none["repetition_penalty"])

    figures = {
        "bench": "vllm_decode", "model": none["name"], "new_tokens_asked": args.new_tokens, "reps": args.reps,
        "engine_none_tok_s": round(none["tok_s"], 2), "engine_4bit_tok_s": round(nf4["tok_s"], 2),
        "vllm_tok_s": round(served["tok_s"], 2),
        "vllm_vs_none": round(served["tok_s"] / none["tok_s"], 3),
        "vllm_vs_4bit": round(served["tok_s"] / nf4["tok_s"], 3),
        "engine_none_ttft_ms": round(none["ttft_s"] * 1000, 1), "engine_4bit_ttft_ms": round(nf4["ttft_s"] * 1000, 1),
        "vllm_ttft_ms": round(served["ttft_s"] * 1000, 1),
        f"vllm_batch{args.batch}_tok_s": round(served["batch_tok_s"], 2),
        f"vllm_batch{args.batch}_vs_4bit": round(served["batch_tok_s"] / nf4["tok_s"], 3),
        "vllm_startup_s": round(served["startup_s"], 1), "vllm_dtype": served["dtype"],
        "engine_none_dtype": none["dtype"], "engine_threads": args.engine_threads,
    }
    print(f"machine: {machine()}")
    print(f"model {figures['model']}, up to {args.new_tokens} new tokens, greedy, {args.reps} reps each, "
          f"one after another; engine on {args.engine_threads} torch thread(s), vLLM on its own binding")
    rows = [("engine none", none), ("engine 4bit", nf4), ("vLLM", served)]
    for label, f in rows:
        print(f"{label:<12} {f['tok_s']:8.2f} tok/s   first token {f['ttft_s'] * 1000:7.1f} ms   "
              f"{f['new_tokens']} tokens   {f['dtype'] if label != 'engine 4bit' else 'nf4'}")
    print(f"vLLM, {args.batch} streams at once: {served['batch_tok_s']:.2f} tok/s in total; "
          f"ready in {served['startup_s']:.0f} s (log {served['log']})")
    print(f"vllm_vs_none {figures['vllm_vs_none']}   vllm_vs_4bit {figures['vllm_vs_4bit']}   "
          f"vllm_batch{args.batch}_vs_4bit {figures[f'vllm_batch{args.batch}_vs_4bit']}")
    report(figures)


if __name__ == "__main__":
    main()
