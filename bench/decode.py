"""Engine streaming vs bare `model.generate`, and the engine server vs the in-process engine: same model,
quantization, prompt and greedy settings, interleaved (one generation at a time).

Prints decode_ratio (engine tok/s ÷ bare; target >= 0.97), ttft_ratio (engine time to first token ÷ bare prefill;
target <= 1.1), server_decode_ratio (tok/s through `tuitune serve` and its client ÷ in-process; target >= 0.95)
and server_ttft_ratio (first token through the server ÷ in-process; target <= 1.1), then one JSON line.
"""

from __future__ import annotations

import statistics
import time

from _common import machine, make_engine, parser, report, server_client

PROMPT = [{"role": "user", "content": "Write a detailed paragraph about the history of the printing press."}]


def padded_prompt(engine, tokens: int) -> list[dict[str, str]]:
    if tokens <= 0:
        return PROMPT
    filler = " Background: the press spread literacy, cut the cost of books and sped up the exchange of ideas."
    text = PROMPT[0]["content"]
    while len(engine.tokenizer(text)["input_ids"]) < tokens:
        text += filler
    return [{"role": "user", "content": text}]


def bare_run(engine, ids, new_tokens: int) -> tuple[float, float]:
    """Returns (prefill seconds, decode tokens/s) for plain model.generate with the same greedy settings."""
    import torch

    gen = engine.settings.generation
    with torch.inference_mode():
        start = time.perf_counter()
        engine.model(input_ids=ids, logits_to_keep=1)
        prefill = time.perf_counter() - start
        start = time.perf_counter()
        out = engine.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
            do_sample=False, repetition_penalty=gen.repetition_penalty, pad_token_id=engine.tokenizer.eos_token_id,
        )
        total = time.perf_counter() - start
    produced = out.shape[1] - ids.shape[1]
    return prefill, (produced - 1) / max(total - prefill, 1e-9)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--new-tokens", type=int, default=96)
    p.add_argument("--prompt-tokens", type=int, default=0, help="pad the prompt to about this many tokens")
    args = p.parse_args()
    import torch

    engine = make_engine(args)
    engine.settings = engine.settings.with_overrides({"generation.temperature": 0.0})
    prompt = padded_prompt(engine, args.prompt_tokens)
    ids = torch.tensor([engine.tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_dict=False)],
                       device=engine.model.device)
    engine.generate(prompt, max_new_tokens=8).text()  # warm-up (and the CPU's one-time 4-bit repacking)
    bare_run(engine, ids, 8)
    client = server_client(args, engine)
    client.generate(prompt, max_new_tokens=8).text()
    engine_tps, engine_ttft, bare_tps, bare_prefill, lengths = [], [], [], [], []
    server_tps, server_ttft = [], []
    for _ in range(args.reps):
        served = client.generate(prompt, max_new_tokens=args.new_tokens)
        served.text()
        server_tps.append(served.stats.tokens_per_s)
        server_ttft.append(served.stats.ttft_s)
        generation = engine.generate(prompt, max_new_tokens=args.new_tokens)
        generation.text()
        engine_tps.append(generation.stats.tokens_per_s)
        engine_ttft.append(generation.stats.ttft_s)
        lengths.append(generation.stats.new_tokens)
        prefill, tps = bare_run(engine, ids, generation.stats.new_tokens)
        bare_prefill.append(prefill)
        bare_tps.append(tps)
    from tuitune.server import lifecycle

    lifecycle.stop(client.paths)
    med = statistics.median
    figures = {
        "bench": "decode", "model": engine.info.name, "quant": engine.info.quant, "device": engine.info.device,
        "prompt_tokens": int(ids.shape[1]), "new_tokens": int(med(lengths)), "reps": args.reps,
        "engine_tok_s": round(med(engine_tps), 2), "bare_tok_s": round(med(bare_tps), 2),
        "engine_ttft_ms": round(med(engine_ttft) * 1000, 1), "bare_prefill_ms": round(med(bare_prefill) * 1000, 1),
        "decode_ratio": round(med(engine_tps) / med(bare_tps), 3),
        "ttft_ratio": round(med(engine_ttft) / med(bare_prefill), 3),
        "server_tok_s": round(med(server_tps), 2), "server_ttft_ms": round(med(server_ttft) * 1000, 1),
        "server_decode_ratio": round(med(server_tps) / med(engine_tps), 3),
        "server_ttft_ratio": round(med(server_ttft) / med(engine_ttft), 3),
        # Decoding reads every weight once per token: compare this with the device's memory bandwidth.
        "weights_gb_per_s": round(engine.info.footprint_bytes * med(engine_tps) / 1e9, 2),
    }
    print(f"machine: {machine()}")
    print(f"model {figures['model']} {figures['quant']} on {figures['device']}, "
          f"{figures['prompt_tokens']} prompt tokens, {figures['new_tokens']} new tokens, {args.reps} interleaved reps")
    print(f"engine  {figures['engine_tok_s']:8.2f} tok/s   first token {figures['engine_ttft_ms']:7.1f} ms")
    print(f"bare    {figures['bare_tok_s']:8.2f} tok/s   prefill     {figures['bare_prefill_ms']:7.1f} ms")
    print(f"server  {figures['server_tok_s']:8.2f} tok/s   first token {figures['server_ttft_ms']:7.1f} ms"
          f"   (tuitune serve, its own process, through the client)")
    print(f"decode_ratio {figures['decode_ratio']} (target >= 0.97)   ttft_ratio {figures['ttft_ratio']} (target <= 1.1)")
    print(f"server_decode_ratio {figures['server_decode_ratio']} (target >= 0.95)   "
          f"server_ttft_ratio {figures['server_ttft_ratio']} (target <= 1.1)")
    report(figures)


if __name__ == "__main__":
    main()
