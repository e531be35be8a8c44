"""The user's own held-out judgements: a stable share of judged user turns that never trains and measures every
adapter.

A judged user turn is held out when a hash of the training seed and its normalised text falls in the lowest
`train.holdout` share (a fifth by default), once the store holds `train.holdout_from` judged turns. The choice
depends on nothing but the turn itself, so it is stable as the store grows: a turn held out once stays held out, and
the same question asked in two conversations falls on the same side. Whole turns are held out, so the answers to
one prompt never straddle the split.

A held-out turn becomes judgements to measure with (`units`): every good x bad pair of its answers when it has
both kinds (agreed when the better answer is the likelier), else each judged answer as a thumb (agreed when a model
moves it the right way from the base: good likelier, bad less likely). Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from tuitune.config import Settings
from tuitune.data.evalsets import normalise
from tuitune.data.prompts import turn_prompt
from tuitune.store import Judged, Message, Store

Unit = dict[str, Any]
_SCALE = 2**64


def falls_out(seed: int, text: str, share: float) -> bool:
    """Whether a user turn with this text is held out: the seeded hash of its normalised text, as a fraction."""
    digest = hashlib.sha256(f"{seed}:{normalise(text)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE < share


def heldout_turns(store: Store, settings: Settings, judged: Sequence[Judged]) -> list[int]:
    """The judged user turns held out from training (none while the store holds fewer than train.holdout_from)."""
    t = settings.train
    parents = sorted({j.parent_id for j in judged})
    if t.holdout <= 0 or len(parents) < t.holdout_from:
        return []
    texts = store.message_texts(parents)
    return [p for p in parents if p in texts and falls_out(t.seed, texts[p], t.holdout)]


def count_units(judged: Sequence[Judged], turns: Sequence[int]) -> dict[str, int]:
    """{pairs, thumbs, n}: the judgements the held-out turns measure with (what `units` builds, without text)."""
    kept = set(turns)
    labels: dict[int, list[str]] = defaultdict(list)
    for j in judged:
        if j.parent_id in kept:
            labels[j.parent_id].append(j.judgement)
    pairs = thumbs = 0
    for values in labels.values():
        good, bad = values.count("good"), values.count("bad")
        if good and bad:
            pairs += good * bad
        else:
            thumbs += good + bad
    return {"pairs": pairs, "thumbs": thumbs, "n": pairs + thumbs}


def units(store: Store, settings: Settings, turns: Sequence[int], answers: Sequence[Message]) -> list[Unit]:
    """The held-out judgements, with the exact prompts chat sends: `{"kind": "pair", "prompt", "better", "worse"}` or
    `{"kind": "thumb", "prompt", "answer", "good"}`, each with its `turn_id` and `message_ids`."""
    kept = set(turns)
    by_turn: dict[int, list[Message]] = defaultdict(list)
    for m in answers:
        if m.parent_id in kept:
            by_turn[m.parent_id].append(m)
    out: list[Unit] = []
    for turn in sorted(by_turn):
        siblings = by_turn[turn]
        prompt = turn_prompt(store, settings, siblings[0].conversation_id, turn)
        good = [m for m in siblings if m.judgement == "good"]
        bad = [m for m in siblings if m.judgement == "bad"]
        if good and bad:
            out += [
                {
                    "kind": "pair",
                    "prompt": prompt,
                    "better": g.content,
                    "worse": b.content,
                    "turn_id": turn,
                    "message_ids": [g.id, b.id],
                }
                for g in good
                for b in bad
            ]
        else:
            out += [
                {
                    "kind": "thumb",
                    "prompt": prompt,
                    "answer": m.content,
                    "good": m.judgement == "good",
                    "turn_id": turn,
                    "message_ids": [m.id],
                }
                for m in siblings
            ]
    return out
