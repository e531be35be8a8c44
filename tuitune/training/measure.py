"""After training, in the trainer process: did the adapter learn the behaviour, and did it break anything?

The held-out behaviour prompts and the check questions (`tuitune.data.evalsets`) are answered greedily by the base
(adapter disabled) and by the adapter, in batches, with the chat's system prompt and repetition penalty, and scored
by the sets' fixed rules. Every answer goes to `measure.jsonl` in the run folder, so a figure can be checked by eye.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from contextlib import nullcontext, suppress
from pathlib import Path
from typing import Any

from tuitune.data.evalsets import EvalSets
from tuitune.model.packing import allow_cpu_repack
from tuitune.private import private_open, private_write_text
from tuitune.training.verdict import harmed

MEASURE_FILE = "measure.jsonl"
BASE_ANSWERS = "base-answers.json"  # beside the runs: the base's answers to the eval sets, for the next run
BEHAVIOUR_TOKENS = 16  # the first line is all the rule reads
CHECK_TOKENS = 32  # room for a sentence that names the answer, TL;DR prefix included
BATCH = 8


def measure(
    model: Any,
    tokenizer: Any,
    sets: EvalSets,
    system: str | None,
    repetition_penalty: float,
    run_dir: Path,
    base_id: str,
    cache: Path | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> dict[str, Any]:
    """Score base and adapter on both sets; returns the figures that go into the run's metrics. The base's
    answers are kept in `cache` under a key of everything they depend on (`base_id` names the model, its
    quantization and template), so later runs generate only the adapter's. `sets` without behaviour prompts
    (the rule is not the user's) measure the checks alone. `progress(done, total)` hears every batch."""
    started = time.perf_counter()
    lead = [{"role": "system", "content": system}] if system else []
    behaviour = [lead + [{"role": "user", "content": p.prompt}] for p in sets.behaviour]
    checks = [lead + [{"role": "user", "content": c.question}] for c in sets.checks]
    key = hashlib.sha256(
        json.dumps([base_id, behaviour, checks, repetition_penalty, BEHAVIOUR_TOKENS, CHECK_TOKENS]).encode()
    ).hexdigest()
    answers: dict[str, dict[str, list[str]]] = {}
    model.eval()
    allow_cpu_repack(model, True)  # training is over: chat's layout and numerics, many times faster
    cached = _read_cache(cache, key)
    total = (1 if cached else 2) * (len(behaviour) + len(checks))
    done = 0

    def answer(conversations: list[list[dict[str, str]]], tokens: int) -> list[str]:
        nonlocal done
        offset = done

        def tick(k: int) -> None:
            progress(offset + k, total)

        texts = _answer(model, tokenizer, conversations, tokens, repetition_penalty, tick)
        done += len(conversations)
        return texts

    for side in ("base", "adapter"):
        if side == "base" and cached:
            answers[side] = cached
            continue
        with model.disable_adapter() if side == "base" else nullcontext():
            answers[side] = {"behaviour": answer(behaviour, BEHAVIOUR_TOKENS), "checks": answer(checks, CHECK_TOKENS)}
    if cache and not cached:
        with suppress(OSError):  # a cache: the next run generates the base's answers again
            private_write_text(cache, json.dumps({"key": key, "answers": answers["base"]}, ensure_ascii=False))
    shown = {
        side: [p.shown_by(a) for p, a in zip(sets.behaviour, answers[side]["behaviour"], strict=True)]
        for side in answers
    }
    right = {
        side: [c.answered_by(a) for c, a in zip(sets.checks, answers[side]["checks"], strict=True)] for side in answers
    }
    _write(run_dir / MEASURE_FILE, sets, answers, shown, right)
    rates = {"base_rate": _share(shown["base"]), "adapter_rate": _share(shown["adapter"])} if sets.behaviour else {}
    return {
        "rule": sets.rule,
        "behaviour_n": len(sets.behaviour),
        "checks_n": len(sets.checks),
        **rates,
        "base_accuracy": _share(right["base"]),
        "adapter_accuracy": _share(right["adapter"]),
        "measure_s": round(time.perf_counter() - started, 1),
        "base_cached": bool(cached),
    }


def _read_cache(cache: Path | None, key: str) -> dict[str, list[str]] | None:
    try:
        data = json.loads(cache.read_text(encoding="utf-8")) if cache else None
    except (OSError, ValueError):
        return None
    return data["answers"] if isinstance(data, dict) and data.get("key") == key else None


def _share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 3) if flags else 0.0


def _answer(
    model: Any,
    tokenizer: Any,
    conversations: list[list[dict[str, str]]],
    max_new_tokens: int,
    repetition_penalty: float,
    tick: Callable[[int], None],
) -> list[str]:
    """Greedy answers, left-padded batches; the ids are the chat's own (`render_ids`)."""
    import torch

    from tuitune.model.templates import render_ids

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    texts: list[str] = []
    for start in range(0, len(conversations), BATCH):
        ids = [render_ids(tokenizer, c, add_generation_prompt=True) for c in conversations[start : start + BATCH]]
        width = max(map(len, ids))
        input_ids = torch.tensor([[pad] * (width - len(i)) + i for i in ids], device=model.device)
        mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in ids], device=model.device)
        with torch.no_grad():
            out = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                repetition_penalty=repetition_penalty,
                pad_token_id=pad,
            )
        texts.extend(tokenizer.batch_decode(out[:, width:], skip_special_tokens=True))
        tick(len(texts))
    return texts


def _write(path: Path, sets: EvalSets, answers: dict, shown: dict, right: dict) -> None:
    with private_open(path, "w", encoding="utf-8") as handle:
        for i, p in enumerate(sets.behaviour):
            handle.write(
                json.dumps(
                    {
                        "set": "behaviour",
                        "prompt": p.prompt,
                        "rule": p.first_line,
                        **{side: answers[side]["behaviour"][i] for side in answers},
                        **{f"{side}_ok": shown[side][i] for side in answers},
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
        for i, c in enumerate(sets.checks):
            handle.write(
                json.dumps(
                    {
                        "set": "checks",
                        "prompt": c.question,
                        "answers": list(c.answers),
                        **{side: answers[side]["checks"][i] for side in answers},
                        **{f"{side}_ok": right[side][i] for side in answers},
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )


# ---- the figures in words, for the panel, the adapters screen and `tuitune runs` ------------------------------
def _change(effect: dict[str, Any], base: str, adapter: str) -> str:
    before, after = effect.get(base), effect.get(adapter)
    if not isinstance(before, (int, float)) or not isinstance(after, (int, float)):
        return ""
    return f"{before:.2f}→{after:.2f}"


def behaviour_change(effect: dict[str, Any] | None) -> str:
    """`0.00→0.96`: the held-out behaviour rate, base → adapter; '' when not measured."""
    return _change(effect or {}, "base_rate", "adapter_rate")


def checks_change(effect: dict[str, Any] | None) -> str:
    """`0.57→0.53`, with a `!` when the adapter answers the check questions worse than the base allows."""
    text = _change(effect or {}, "base_accuracy", "adapter_accuracy")
    return text + ("!" if text and harmed(effect) else "")


def summary(effect: dict[str, Any] | None) -> str:
    """One line: behaviour and checks, base → adapter, or why there are no figures."""
    if not effect:
        return "not measured"
    if effect.get("error"):
        return f"not measured: {effect['error']}"
    # The figures first: a narrow terminal cuts the end of the line.
    checks = (
        f"checks {_change(effect, 'base_accuracy', 'adapter_accuracy')}"
        f"{' (worse than the base)' if harmed(effect) else ''}"
    )
    if not behaviour_change(effect):  # the demo's rule was not the user's: not measured
        return f"{checks} · base→adapter; {effect.get('checks_n', '?')} check questions"
    return (
        f"behaviour {behaviour_change(effect)} · {checks} · base→adapter; {effect.get('rule', '?')} on "
        f"{effect.get('behaviour_n', '?')} held-out prompts, {effect.get('checks_n', '?')} check questions"
    )
