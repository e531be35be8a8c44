"""Does training on the sample judgements change the model? The TL;DR rate on held-out prompts, base vs adapter.

Imports sample_data/tldr_conversations.jsonl into a temporary home, trains with the defaults through the same
path the TUI key uses (training.start_run: its own trainer process), hot-loads the adapter into a running Engine,
and counts answers whose first non-empty line starts with `TL;DR:` (greedy) on sample_data/heldout_prompts.jsonl.

JSON: base_rate (target <= 0.1), adapter_rate (target >= 0.8), train_s (key to adapter saved; target <= 180).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from _common import machine, parser, report

REPO = Path(__file__).resolve().parent.parent


def tldr_rate(engine, prompts: list[str], system: str | None, max_new_tokens: int) -> tuple[float, list[str]]:
    answers = []
    for prompt in prompts:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        answers.append(engine.generate(messages, max_new_tokens=max_new_tokens).text())
    hits = [a for a in answers if next((line for line in a.splitlines() if line.strip()), "").startswith("TL;DR:")]
    return len(hits) / len(answers), answers


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--method", default="auto", choices=["auto", "sft", "dpo", "kto"])
    p.add_argument("--max-new-tokens", type=int, default=16, help="enough to see the first line")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting, e.g. train.lr=5e-4")
    args = p.parse_args()

    from tuitune.chat import system_prompt_text
    from tuitune.config import load_settings
    from tuitune.exchange import import_files
    from tuitune.model import Engine
    from tuitune.store import Store
    from tuitune.training import start_run

    home = Path(args.home or tempfile.mkdtemp(prefix="tuitune-effect-"))
    overrides = {"model.spec": args.model, "model.quant": args.quant, "model.cache_dir": args.cache}
    overrides.update(dict(item.split("=", 1) for item in args.set))
    settings = load_settings(home, overrides)
    store = Store.open(settings.db_path)
    imported = import_files(store, [REPO / "sample_data" / "tldr_conversations.jsonl"])
    print(imported.summary())
    prompts = [json.loads(line)["prompt"] for line in (REPO / "sample_data" / "heldout_prompts.jsonl").open()]
    system = system_prompt_text(settings.generation.system_prompt, settings.prompts_dir)

    engine = Engine(settings)
    engine.load()
    base_rate, base_answers = tldr_rate(engine, prompts, system, args.max_new_tokens)
    print(f"base: {base_rate:.2f} TL;DR rate on {len(prompts)} held-out prompts")

    started = time.perf_counter()
    handle = start_run(settings, store, args.method, template_fingerprint=engine.template_fingerprint,
                       base_model=engine.info.name)
    print(f"run {handle.run_id}: {handle.reason}")
    for event in handle.events():
        if event["event"] == "progress":
            print(f"  step {event['step']}/{event['total']} loss {event['loss']:.3f} "
                  f"{event['tokens_per_s']:.0f} tok/s", flush=True)
    train_s = time.perf_counter() - started
    if event["event"] != "done":
        raise SystemExit(f"training did not finish: {event}")
    swap_s = engine.load_adapter(event["adapter_name"], event["adapter_path"])
    adapter_rate, adapter_answers = tldr_rate(engine, prompts, system, args.max_new_tokens)
    print(f"adapter {event['adapter_name']}: {adapter_rate:.2f} TL;DR rate; trained in {train_s:.0f} s "
          f"({event['metrics']['steps']} steps, loss {event['metrics']['train_loss']}), swap {swap_s * 1000:.0f} ms")
    for before, after in list(zip(base_answers, adapter_answers))[:3]:
        print(f"  base:    {before.splitlines()[0] if before.strip() else ''!r}\n  adapter: {after.splitlines()[0] if after.strip() else ''!r}")
    print(machine())
    report({
        "base_rate": round(base_rate, 3), "adapter_rate": round(adapter_rate, 3), "train_s": round(train_s, 1),
        "method": handle.method, "steps": event["metrics"]["steps"], "train_loss": event["metrics"]["train_loss"],
        "swap_s": round(swap_s, 3), "prompts": len(prompts),
    })


if __name__ == "__main__":
    main()
