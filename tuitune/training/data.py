"""Judgements in the store become training rows in trl's standard conversational formats.

| judgement                                  | row                                   |
| good answer                                | SFT prompt/completion; KTO label true |
| bad answer                                 | KTO label false                       |
| a good and a bad answer under one parent   | DPO prompt/chosen/rejected            |

An edit is stored as a good sibling of the (bad) original, so it becomes a pair like a regenerate or an A/B pick.
The prompt is the conversation path up to the answer, led by the same system prompt chat sends, so the model is
trained on exactly what it sees when it chats. Nothing here imports torch; `TrainingSet.dataset` imports datasets.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from tuitune.config import Settings
from tuitune.store import Message, Store

METHODS = ("sft", "dpo", "kto")


class NothingToTrain(ValueError):
    """The store holds no judgements the chosen method can use; the message says what to do."""


@dataclass
class TrainingSet:
    method: str
    rows: list[dict[str, Any]]
    example_ids: list[int]  # every answer id the rows were built from
    reason: str
    counts: dict[str, int]
    holdout: list[list[dict[str, str]]] = field(default_factory=list)  # prompts kept out, for before/after
    holdout_ids: list[int] = field(default_factory=list)  # the user turns those prompts end on

    @property
    def dataset(self):
        """The rows as a `datasets.Dataset`, without the bookkeeping column trl does not know."""
        from datasets import Dataset

        return Dataset.from_list([{k: v for k, v in row.items() if k != "message_ids"} for row in self.rows])


# ---- rows --------------------------------------------------------------------------------------------------
def _prompt(store: Store, settings: Settings, answer: Message, cache: dict[int, list[dict[str, str]]]):
    """What chat sent when this answer was written: system prompt + the path to the answer's parent."""
    if answer.parent_id not in cache:
        from tuitune.chat.session import system_prompt_text

        value = store.conversation(answer.conversation_id).system_prompt
        system = system_prompt_text(
            value if value is not None else settings.generation.system_prompt, settings.prompts_dir
        )
        turns = [
            {"role": m.role, "content": m.content}
            for m in store.path_to(answer.parent_id)
            if m.role != "system"
        ]
        cache[answer.parent_id] = ([{"role": "system", "content": system}] if system else []) + turns
    return cache[answer.parent_id]


def _answers(store: Store, skip_prompts: Iterable[int]) -> list[Message]:
    skip = set(skip_prompts)
    return [
        m for m in store.judged_messages()
        if m.parent_id is not None and m.parent_id not in skip and m.content.strip()
    ]


def _completion(message: Message) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": message.content}]


def sft_rows(store: Store, settings: Settings, *, skip_prompts: Iterable[int] = ()) -> list[dict[str, Any]]:
    cache: dict[int, list[dict[str, str]]] = {}
    return [
        {"prompt": _prompt(store, settings, m, cache), "completion": _completion(m), "message_ids": [m.id]}
        for m in _answers(store, skip_prompts)
        if m.judgement == "good"
    ]


def kto_rows(store: Store, settings: Settings, *, skip_prompts: Iterable[int] = ()) -> list[dict[str, Any]]:
    cache: dict[int, list[dict[str, str]]] = {}
    return [
        {
            "prompt": _prompt(store, settings, m, cache),
            "completion": _completion(m),
            "label": m.judgement == "good",
            "message_ids": [m.id],
        }
        for m in _answers(store, skip_prompts)
    ]


def dpo_rows(store: Store, settings: Settings, *, skip_prompts: Iterable[int] = ()) -> list[dict[str, Any]]:
    """Every good x bad pair among the answers to one user turn."""
    cache: dict[int, list[dict[str, str]]] = {}
    by_parent: dict[int, list[Message]] = defaultdict(list)
    for m in _answers(store, skip_prompts):
        by_parent[m.parent_id].append(m)
    rows = []
    for parent_id in sorted(by_parent):
        answers = by_parent[parent_id]
        for good in (m for m in answers if m.judgement == "good"):
            for bad in (m for m in answers if m.judgement == "bad"):
                rows.append({
                    "prompt": _prompt(store, settings, good, cache),
                    "chosen": _completion(good),
                    "rejected": _completion(bad),
                    "message_ids": [good.id, bad.id],
                })
    return rows


ROW_BUILDERS = {"sft": sft_rows, "dpo": dpo_rows, "kto": kto_rows}


# ---- choosing and building ---------------------------------------------------------------------------------
def _counts(answers: list[Message]) -> dict[str, int]:
    good = defaultdict(int)
    bad = defaultdict(int)
    for m in answers:
        (good if m.judgement == "good" else bad)[m.parent_id] += 1
    return {
        "good": sum(good.values()),
        "bad": sum(bad.values()),
        "pairs": sum(good[p] * bad[p] for p in good),
    }


def holdout_prompts(store: Store, settings: Settings) -> list[int]:
    """The user turns kept out of training for the before/after check: a fixed, seeded choice among the judged
    prompts that have a good answer, never more than a fifth of them, so tiny stores still train."""
    good_parents = sorted({m.parent_id for m in _answers(store, ()) if m.judgement == "good"})
    count = min(settings.train.holdout, len(good_parents) // 5)
    seed = settings.train.seed

    def key(parent_id: int) -> str:
        return hashlib.sha256(f"{seed}:{parent_id}".encode()).hexdigest()

    return sorted(sorted(good_parents, key=key)[:count])


def _decide(counts: dict[str, int], settings: Settings) -> tuple[str, str]:
    t = settings.train
    good, bad, pairs = counts["good"], counts["bad"], counts["pairs"]
    if pairs >= t.min_pairs:
        return "dpo", f"DPO: {pairs} pairs of a good and a bad answer to the same prompt (DPO needs {t.min_pairs})"
    if good >= t.min_per_label and bad >= t.min_per_label:
        return "kto", (
            f"KTO: {good} good and {bad} bad answers (KTO needs {t.min_per_label} of each), "
            f"only {pairs} pairs (DPO needs {t.min_pairs})"
        )
    if good:
        return "sft", (
            f"SFT on {good} good answers: {pairs} pairs (DPO needs {t.min_pairs}) and "
            f"{bad} bad answers (KTO needs {t.min_per_label} of each label)"
        )
    raise NothingToTrain(
        f"nothing to train on: {bad} bad and no good answers; judge some answers good, "
        "edit a bad one, or regenerate and pick the better"
    )


def choose_method(store: Store, settings: Settings) -> tuple[str, str]:
    """(method, one-line reason) for `auto`, counted on what would be trained (held-out prompts left out)."""
    return _decide(_counts(_answers(store, holdout_prompts(store, settings))), settings)


def _require(method: str, counts: dict[str, int]) -> None:
    needs = {
        "sft": (counts["good"] > 0, "SFT needs at least one answer judged good"),
        "dpo": (counts["pairs"] > 0, "DPO needs a good and a bad answer to the same prompt (regenerate or edit)"),
        "kto": (counts["good"] > 0 and counts["bad"] > 0, "KTO needs answers judged good and answers judged bad"),
    }
    ok, message = needs[method]
    if not ok:
        raise NothingToTrain(
            f"nothing to train on with {method.upper()}: {message} "
            f"(have {counts['good']} good, {counts['bad']} bad, {counts['pairs']} pairs)"
        )


def build(store: Store, settings: Settings, method: str = "auto") -> TrainingSet:
    """The rows to train on, with the method, why, and the held-out prompts for the before/after check."""
    if method not in ("auto", *METHODS):
        raise ValueError(f"method must be auto, sft, dpo or kto, not {method!r}")
    holdout = holdout_prompts(store, settings)
    answers = _answers(store, holdout)
    counts = _counts(answers)
    if method == "auto":
        method, reason = _decide(counts, settings)
    else:
        reason = f"{method.upper()}, as asked"
    _require(method, counts)
    rows = ROW_BUILDERS[method](store, settings, skip_prompts=holdout)
    example_ids = sorted({i for row in rows for i in row["message_ids"]})
    counts = {**counts, "rows": len(rows), "holdout": len(holdout)}
    cache: dict[int, list[dict[str, str]]] = {}
    held = []
    for parent_id in holdout:
        user = store.message(parent_id)
        # A stand-in answer whose parent is the held-out user turn gives the same prompt chat would build.
        held.append(_prompt(store, settings, _Stub(user.conversation_id, parent_id), cache))  # type: ignore[arg-type]
    return TrainingSet(method, rows, example_ids, reason, counts, held, holdout)


@dataclass(frozen=True)
class _Stub:
    conversation_id: int
    parent_id: int
