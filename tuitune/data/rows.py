"""Which judged answers can train, how they are counted, and the rows they become in trl's conversational formats.

| judgement                                  | row                                   |
| good answer                                | SFT prompt/completion; KTO label true |
| bad answer                                 | KTO label false                       |
| a good and a bad answer under one parent   | DPO prompt/chosen/rejected            |

An answer can train when it is live, in a live conversation, not excluded, answers a user turn and has some text:
the store reads those (`Store.trainable_answers`, `Store.trainable_judgements`, on its `usable` predicate) and
`usable` here is the same test for records not in the store yet (an import). An edit is stored as a good sibling of
the (bad) original, so it becomes a pair like a regenerate or an A/B pick. The prompt of each row is the prompt of
the turn (`tuitune.data.prompts.turn_prompt`), exactly what chat sends. Nothing here imports torch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from tuitune.config import Settings
from tuitune.data.prompts import Prompt, turn_prompt
from tuitune.store import Message, Store
from tuitune.store.judgements import BLANK

Row = dict[str, Any]


def usable(*, excluded: bool, parent: object | None, content: str) -> bool:
    """The store's `usable` predicate, for a judged answer that is not in the store (yet)."""
    return not excluded and parent is not None and bool(content.strip(BLANK))


def count(judged: Iterable[tuple[Hashable, str]]) -> dict[str, int]:
    """good, bad and pairs over (user turn, judgement) items: the SFT rows are the good answers, the KTO rows the
    good and the bad, the DPO rows every good x bad pair of answers to one turn."""
    good: dict[Hashable, int] = defaultdict(int)
    bad: dict[Hashable, int] = defaultdict(int)
    for parent, judgement in judged:
        (good if judgement == "good" else bad)[parent] += 1
    return {"good": sum(good.values()), "bad": sum(bad.values()), "pairs": sum(good[p] * bad[p] for p in good)}


def judgement_counts(store: Store) -> dict[str, int]:
    """`count` over every answer that can train, before a training set keeps any prompt out
    (`tuitune.data.sets.trainable_counts` is what a run would use)."""
    return count((j.parent_id, j.judgement) for j in store.trainable_judgements())


def _prompts(store: Store, settings: Settings) -> Callable[[Message], Prompt]:
    """The prompt of each answer's turn, built once per turn (siblings share it)."""
    cache: dict[int, Prompt] = {}

    def prompt(answer: Message) -> Prompt:
        assert answer.parent_id is not None  # a usable answer answers a turn
        if answer.parent_id not in cache:
            cache[answer.parent_id] = turn_prompt(store, settings, answer.conversation_id, answer.parent_id)
        return cache[answer.parent_id]

    return prompt


def _answers(store: Store, skip_prompts: Iterable[int], answers: list[Message] | None) -> list[Message]:
    skip = set(skip_prompts)
    return [m for m in (store.trainable_answers() if answers is None else answers) if m.parent_id not in skip]


def _completion(message: Message) -> Prompt:
    return [{"role": "assistant", "content": message.content}]


def sft_rows(
    store: Store, settings: Settings, *, skip_prompts: Iterable[int] = (), answers: list[Message] | None = None
) -> list[Row]:
    """`answers`: the trainable answers already read (`Store.trainable_answers`), to read them once."""
    prompt = _prompts(store, settings)
    return [
        {"prompt": prompt(m), "completion": _completion(m), "message_ids": [m.id]}
        for m in _answers(store, skip_prompts, answers)
        if m.judgement == "good"
    ]


def kto_rows(
    store: Store, settings: Settings, *, skip_prompts: Iterable[int] = (), answers: list[Message] | None = None
) -> list[Row]:
    prompt = _prompts(store, settings)
    return [
        {"prompt": prompt(m), "completion": _completion(m), "label": m.judgement == "good", "message_ids": [m.id]}
        for m in _answers(store, skip_prompts, answers)
    ]


def dpo_rows(
    store: Store, settings: Settings, *, skip_prompts: Iterable[int] = (), answers: list[Message] | None = None
) -> list[Row]:
    """Every good x bad pair among the answers to one user turn."""
    prompt = _prompts(store, settings)
    by_parent: dict[int, list[Message]] = defaultdict(list)
    for m in _answers(store, skip_prompts, answers):
        assert m.parent_id is not None
        by_parent[m.parent_id].append(m)
    rows = []
    for parent_id in sorted(by_parent):
        siblings = by_parent[parent_id]
        for good in (m for m in siblings if m.judgement == "good"):
            for bad in (m for m in siblings if m.judgement == "bad"):
                rows.append(
                    {
                        "prompt": prompt(good),
                        "chosen": _completion(good),
                        "rejected": _completion(bad),
                        "message_ids": [good.id, bad.id],
                    }
                )
    return rows


ROW_BUILDERS = {"sft": sft_rows, "dpo": dpo_rows, "kto": kto_rows}
