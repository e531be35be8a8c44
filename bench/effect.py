"""Does training on the sample judgements teach the behaviour without breaking anything? Base vs adapter.

Imports sample_data/tldr_conversations.jsonl into a temporary home (with `--only pairs`, only its edit and
regenerate pairs, and with `--only thumbs`, only its single judged answers: good and bad, no pairs), trains through
the same path the TUI key uses (training.start_run: its own trainer process), and reports the figures the trainer
measured after training (tuitune.training.measure): the share of held-out prompts answered with the behaviour
(sample_data/heldout_prompts.jsonl: the first non-empty line starts with `TL;DR:`) and the accuracy on the check
questions (sample_data/check_questions.jsonl), base vs adapter, greedy, with the chat's system prompt.

JSON: base_rate (target <= 0.1), adapter_rate (target >= 0.8), base_accuracy, adapter_accuracy (target >=
base_accuracy - 0.05), train_s (key to trained, before measuring; target <= 180), measure_s, total_s; and the user's own held-out
judgements (tuitune.data.heldout, a fifth of the sample's judged turns): base_agreement, adapter_agreement,
agreement_n, agreement_s (scoring them under base, live and adapter; target <= 10% of the trainer's train_s,
agreement_share_of_train) and promoted (train.promote = better's decision).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from _common import machine, parser, report

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data" / "tldr_conversations.jsonl"


def sample_subset(only: str, folder: Path) -> Path:
    """The sample file with only its pairs (an answer judged good beside a sibling judged bad) or only its thumbs
    (answers without a judged sibling of the other kind); unjudged earlier turns are kept as context."""
    out = folder / f"sample-{only}.jsonl"
    with SAMPLE.open(encoding="utf-8") as source, out.open("w", encoding="utf-8") as target:
        for line in source:
            conversation = json.loads(line)
            by_parent: dict[int, set[str]] = {}
            for m in conversation["messages"]:
                if m.get("judgement"):
                    by_parent.setdefault(m["parent"], set()).add(m["judgement"])
            paired = {p for p, kinds in by_parent.items() if kinds == {"good", "bad"}}
            for m in conversation["messages"]:
                if m.get("judgement") and (m["parent"] in paired) != (only == "pairs"):
                    m.pop("judgement")
            if any(m.get("judgement") for m in conversation["messages"]):
                target.write(json.dumps(conversation, ensure_ascii=False) + "\n")
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--method", default="auto", choices=["auto", "sft", "dpo", "kto"])
    p.add_argument("--only", choices=["all", "pairs", "thumbs"], default="all",
                   help="which judgements of the sample to import (default: all)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting, e.g. train.lr=5e-4")
    args = p.parse_args()

    from tuitune.config import load_settings
    from tuitune.exchange import import_files
    from tuitune.store import Store
    from tuitune.training import start_run
    from tuitune.training.measure import summary
    from tuitune.training.verdict import agreement_line

    home = Path(args.home or tempfile.mkdtemp(prefix="tuitune-effect-"))
    overrides = {"model.spec": args.model, "model.quant": args.quant, "model.cache_dir": args.cache}
    overrides.update(dict(item.split("=", 1) for item in args.set))
    settings = load_settings(home, overrides)
    store = Store.open(settings.db_path)
    source = SAMPLE if args.only == "all" else sample_subset(args.only, Path(tempfile.mkdtemp()))
    print(import_files(store, [source]).summary())

    started = time.perf_counter()
    handle = start_run(settings, store, args.method)
    print(f"run {handle.run_id}: {handle.reason}")
    trained_at = None
    for event in handle.events():
        if event["event"] == "progress":
            print(f"  step {event['step']}/{event['total']} loss {event['loss']:.3f} "
                  f"{event['tokens_per_s']:.0f} tok/s", flush=True)
        elif event["event"] == "phase" and event.get("name") in ("measure", "save") and trained_at is None:
            trained_at = time.perf_counter() - started
    total_s = time.perf_counter() - started
    if event["event"] != "done":
        raise SystemExit(f"training did not finish: {event}")
    metrics = event["metrics"]
    effect = metrics.get("effect") or {}
    print(f"adapter {event['adapter_name']}: {metrics['steps']} steps, loss {metrics['train_loss']}, "
          f"trained in {trained_at:.0f} s (key to trained), {total_s:.0f} s with measuring")
    agreement = metrics.get("agreement") or {}
    decision = metrics.get("decision") or {}
    print(f"measured: {summary(effect)}")
    print(f"{agreement_line(agreement)} · {agreement.get('agreement_s', '?')} s")
    print(f"{'promoted' if decision.get('promote') else 'held back'}: {decision.get('reason', '?')}")
    answers = Path(handle.run_dir) / "measure.jsonl"
    if answers.is_file():
        for row in [json.loads(line) for line in answers.open(encoding="utf-8")][:3]:
            print(f"  base:    {row['base'].strip().splitlines()[0] if row['base'].strip() else ''!r}\n"
                  f"  adapter: {row['adapter'].strip().splitlines()[0] if row['adapter'].strip() else ''!r}")
    print(machine())
    report({
        "base_rate": effect.get("base_rate"), "adapter_rate": effect.get("adapter_rate"),
        "base_accuracy": effect.get("base_accuracy"), "adapter_accuracy": effect.get("adapter_accuracy"),
        "train_s": round(trained_at, 1), "measure_s": effect.get("measure_s"), "total_s": round(total_s, 1),
        "method": handle.method, "only": args.only, "examples": metrics.get("examples"), "steps": metrics["steps"],
        "train_loss": metrics["train_loss"], "prompts": effect.get("behaviour_n"), "checks": effect.get("checks_n"),
        "base_agreement": agreement.get("base"), "adapter_agreement": agreement.get("adapter"),
        "agreement_n": agreement.get("n"), "agreement_s": agreement.get("agreement_s"),
        "agreement_share_of_train": round(agreement.get("agreement_s", 0) / max(metrics.get("train_s") or 1, 1e-9), 3),
        "promoted": decision.get("promote"),
    })


if __name__ == "__main__":
    main()
