"""After training, in the trainer process: the held-out judgements' answers scored by their mean per-token
log-likelihood under the base, the live adapter and the new one (teacher-forced, batched, the chat's exact ids; no
sampling). `tuitune.training.verdict` turns the scores into agreement and the promotion decision."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from tuitune.model.packing import allow_cpu_repack
from tuitune.private import private_open
from tuitune.training import verdict

BATCH = 8
AGREEMENT_FILE = "agreement.jsonl"
LIVE = "tuitune-live"  # the live adapter's name inside the trainer's model while it is scored
log = logging.getLogger("tuitune.training")
Progress = Callable[[int, int], None]  # (answers scored, answers to score)


def _sequences(units: list[dict[str, Any]]) -> list[tuple[list[dict[str, str]], str]]:
    """(prompt, answer) of every answer the units hold, in unit order: better then worse, or the thumb's one."""
    out = []
    for unit in units:
        answers = (unit["better"], unit["worse"]) if unit["kind"] == "pair" else (unit["answer"],)
        out += [(unit["prompt"], answer) for answer in answers]
    return out


def _regroup(units: list[dict[str, Any]], flat: list[float]) -> list[list[float]]:
    grouped, at = [], 0
    for unit in units:
        width = 2 if unit["kind"] == "pair" else 1
        grouped.append(flat[at : at + width])
        at += width
    return grouped


def mean_logprobs(
    model: Any, tokenizer: Any, sequences: list[tuple[list[dict[str, str]], str]], max_length: int, tick: Progress
) -> list[float]:
    """The mean log-probability per answer token of each answer after its prompt, prompts cut from the left to
    fit `max_length` as training does. Batches of similar length, left-padded so every answer ends its row: the
    model computes logits for the answers' span alone (`logits_to_keep`), not for every prompt token."""
    import torch

    from tuitune.model.templates import example_ids

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoded = []
    for prompt, answer in sequences:
        prompt_ids, answer_ids = example_ids(tokenizer, prompt, [{"role": "assistant", "content": answer}])
        answer_ids = answer_ids[: max(max_length - 1, 1)]
        prompt_ids = prompt_ids[-max(max_length - len(answer_ids), 1) :]  # at least one token predicts the first
        encoded.append((prompt_ids, answer_ids))
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
    scores: dict[int, float] = {}
    for start in range(0, len(order), BATCH):
        rows = order[start : start + BATCH]
        width = max(len(encoded[i][0]) + len(encoded[i][1]) for i in rows)
        keep = max(len(encoded[i][1]) for i in rows) + 1  # the logits that predict the longest answer
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for row, i in enumerate(rows):
            tokens = encoded[i][0] + encoded[i][1]
            ids[row, width - len(tokens) :] = torch.tensor(tokens)
            mask[row, width - len(tokens) :] = 1
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        with torch.no_grad():
            logits = model(
                input_ids=ids.to(model.device),
                attention_mask=mask.to(model.device),
                position_ids=positions.to(model.device),
                logits_to_keep=keep,
            ).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)  # position k predicts the token after it
        for row, i in enumerate(rows):
            answer_ids = encoded[i][1]
            targets = torch.tensor(answer_ids, device=logprobs.device)
            picked = logprobs[row, keep - 1 - len(answer_ids) :].gather(1, targets[:, None])
            scores[i] = round(float(picked.mean()), 6)
        tick(len(scores), len(sequences))
    return [scores[i] for i in range(len(sequences))]


def score(
    model: Any,
    tokenizer: Any,
    units: list[dict[str, Any]],
    live_path: str | None,
    max_length: int,
    progress: Progress,
    run_dir: Path | None = None,
) -> dict[str, Any]:
    """Agreement figures (`verdict.agreement`) of the base, the live adapter (the base when `live_path` is None or
    will not load) and the new adapter, plus `agreement_s`; each judgement's scores go to `agreement.jsonl` in
    `run_dir`. The model's own adapter stays the active one."""
    started = time.perf_counter()
    sequences = _sequences(units)
    total = 3 * len(sequences) if live_path else 2 * len(sequences)
    done = 0

    def run(context: Any) -> list[list[float]]:
        nonlocal done
        offset = done

        def tick(k: int, _n: int) -> None:
            progress(offset + k, total)

        with context:
            flat = mean_logprobs(model, tokenizer, sequences, max_length, tick)
        done += len(sequences)
        return _regroup(units, flat)

    model.eval()
    allow_cpu_repack(model, True)  # training is over: chat's layout and numerics, many times faster
    scores = {"base": run(model.disable_adapter()), "adapter": run(nullcontext())}
    live_note = "base"
    scores["live"] = scores["base"]
    if live_path:
        try:
            model.load_adapter(live_path, adapter_name=LIVE, is_trainable=False)
        except Exception as exc:  # a foreign or broken live adapter: compare with the base and say so
            log.warning("the live adapter %s did not load for scoring: %s", live_path, exc)
            live_note = f"base (the live adapter did not load: {exc.__class__.__name__})"
        else:
            active = model.active_adapter
            try:
                model.set_adapter(LIVE)
                scores["live"] = run(nullcontext())
                live_note = "adapter"
            finally:
                model.set_adapter(active)
                model.delete_adapter(LIVE)  # never saved beside the new adapter
    figures = verdict.agreement(units, scores)
    figures["live_is"] = live_note
    figures["agreement_s"] = round(time.perf_counter() - started, 2)
    if run_dir is not None:
        _write(run_dir / AGREEMENT_FILE, units, scores)
    return figures


def _write(path: Path, units: list[dict[str, Any]], scores: dict[str, list[list[float]]]) -> None:
    """Every held-out judgement with its scores and outcome per model, so a figure can be checked by eye."""
    shifts = {model: verdict.common_shift(units, per_unit, scores["base"]) for model, per_unit in scores.items()}
    with private_open(path, "w", encoding="utf-8") as handle:
        for i, unit in enumerate(units):
            row: dict[str, Any] = {k: unit[k] for k in ("kind", "turn_id", "message_ids") if k in unit}
            if unit["kind"] == "thumb":
                row["good"] = unit["good"]
            for model, per_unit in scores.items():
                row[model] = per_unit[i]
                row[f"{model}_agrees"] = verdict.outcome(unit, per_unit[i], scores["base"][i], shifts[model])
            handle.write(json.dumps(row) + "\n")
