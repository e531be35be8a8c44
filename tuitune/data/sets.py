"""The training set of a run: which prompts are kept out, which method `auto` picks and why, and the rows.

Two kinds of user turn never train: the user's held-out turns (`tuitune.data.heldout`: a stable seeded share
whose judgements measure every adapter, and whose prompts are answered before and after a run) and the turns that
repeat an eval prompt or check question (`tuitune.data.evalsets`: what measures an adapter is never what trains
it). `build` and the status bar's `trainable_counts` leave out the same turns through the same code, so the bar
never promises an example the trainer then drops. Nothing here imports
torch; `TrainingSet.dataset` imports datasets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tuitune.config import METHODS, Settings
from tuitune.data import evalsets, heldout
from tuitune.data.prompts import Prompt, turn_prompt
from tuitune.data.rows import ROW_BUILDERS, count
from tuitune.errors import TuituneError
from tuitune.store import Judged, Message, Store


class NothingToTrain(TuituneError, ValueError):
    """The store holds no judgements the chosen method can use; the message says what to do."""


@dataclass
class TrainingSet:
    method: str
    rows: list[dict[str, Any]]
    example_ids: list[int]  # every answer id the rows were built from
    reason: str
    counts: dict[str, int]
    holdout: list[Prompt] = field(default_factory=list)  # the held-out turns' prompts, for before/after
    holdout_ids: list[int] = field(default_factory=list)  # the held-out user turns
    heldout_units: list[heldout.Unit] = field(default_factory=list)  # their judgements, to measure the adapter with
    measure_behaviour: bool = False  # the behaviour set's rule describes this user's data (evalsets.describes)

    @property
    def dataset(self):
        """The rows as a `datasets.Dataset`, without the bookkeeping column trl does not know."""
        from datasets import Dataset

        return Dataset.from_list([{k: v for k, v in row.items() if k != "message_ids"} for row in self.rows])


# ---- what is kept out --------------------------------------------------------------------------------------
# `judged`: the store's trainable answers as read once by the caller (`Store.trainable_judgements`); None reads them.
def measured_turns(store: Store, settings: Settings, judged: Sequence[Judged] | None = None) -> list[int]:
    """The judged user turns that repeat a behaviour prompt or check question: what measures an adapter is never
    what trains it."""
    judged = store.trainable_judgements() if judged is None else judged
    texts = evalsets.load(settings.home).texts()
    parents = sorted({m.parent_id for m in judged})
    turns = store.message_texts(parents) if texts else {}
    return [p for p in parents if p in turns and evalsets.normalise(turns[p]) in texts]


def _kept_out(store: Store, settings: Settings, judged: Sequence[Judged]) -> tuple[list[int], list[int]]:
    """(the user's held-out turns, turns that repeat an eval prompt)."""
    measured = measured_turns(store, settings, judged)
    skip = set(measured)
    usable = [j for j in judged if j.parent_id not in skip]
    return heldout.heldout_turns(store, settings, usable), measured


def _plan(store: Store, settings: Settings, judged: Sequence[Judged]) -> tuple[list[int], list[int], dict[str, int]]:
    """(held-out turns, measured turns, the counts of the answers to every other turn, plus `heldout`: the
    judgements the held-out turns measure with): the one path for the status bar and for `build`."""
    held, measured = _kept_out(store, settings, judged)
    skip = set(held) | set(measured)
    counts = count((j.parent_id, j.judgement) for j in judged if j.parent_id not in skip)
    return held, measured, {**counts, "heldout": heldout.count_units(judged, held)["n"]}


def heldout_turn_ids(store: Store, settings: Settings) -> list[int]:
    """The user turns held out now (what curate marks): their judgements measure adapters and never train."""
    return _kept_out(store, settings, store.trainable_judgements())[0]


def trainable_counts(store: Store, settings: Settings) -> dict[str, int]:
    """good, bad and pairs that a run would train on now, and `heldout`, the judgements that would measure it:
    what `build` counts, with the held-out turns and the turns that repeat an eval prompt left out. The status bar
    shows these."""
    return _plan(store, settings, store.trainable_judgements())[2]


def counts_and_why_not(store: Store, settings: Settings, turn_id: int | None) -> tuple[dict[str, int], str]:
    """`trainable_counts`, and why the judgements of the answers to user turn `turn_id` will not train ('' when
    they will): what the status line says after a judgement that only measures."""
    held, measured, counts = _plan(store, settings, store.trainable_judgements())
    if turn_id in measured:
        return counts, "this question is a check question (an eval prompt): it measures adapters, it never trains"
    if turn_id in held:
        return counts, "held out for measuring: this question's judgements measure each new adapter, never train it"
    return counts, ""


def _judged(answer: Message) -> Judged:
    assert answer.parent_id is not None and answer.judgement is not None  # what `Store.trainable_answers` holds
    return Judged(answer.id, answer.parent_id, answer.judgement)


# ---- choosing and building ---------------------------------------------------------------------------------
def _decide(counts: dict[str, int], settings: Settings) -> tuple[str, str]:
    """Pairs are the strongest signal (which of two answers to one prompt is better), then thumbs of both kinds,
    then good answers alone; the thresholds are where bench/effect.py measured each method teaching."""
    t = settings.train
    good, bad, pairs = counts["good"], counts["bad"], counts["pairs"]
    if pairs >= t.min_pairs:
        return "dpo", f"DPO on {pairs} pairs of a better and a worse answer to one prompt (DPO from {t.min_pairs})"
    if good >= t.min_per_label and bad >= t.min_per_label:
        return "kto", (
            f"KTO on {good} good and {bad} bad answers (KTO from {t.min_per_label} of each): "
            f"only {pairs} pairs (DPO from {t.min_pairs})"
        )
    if good:
        return "sft", (
            f"SFT on {good} good answers: {pairs} pairs (DPO from {t.min_pairs}) and "
            f"{bad} bad answers (KTO from {t.min_per_label} good and bad)"
        )
    raise NothingToTrain(
        f"nothing to train on: {bad} bad and no good answers; judge some answers good, "
        "edit a bad one, or regenerate and pick the better"
    )


def choose_method(store: Store, settings: Settings) -> tuple[str, str]:
    """(method, one-line reason) for `auto`, counted on what would be trained (`trainable_counts`)."""
    return _decide(trainable_counts(store, settings), settings)


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
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    answers = store.trainable_answers()
    holdout, measured, counts = _plan(store, settings, [_judged(m) for m in answers])
    if method == "auto":
        method, reason = _decide(counts, settings)
    else:
        reason = f"{method.upper()}, as asked"
    _require(method, counts)
    rows = ROW_BUILDERS[method](store, settings, skip_prompts=holdout + measured, answers=answers)
    example_ids = sorted({i for row in rows for i in row["message_ids"]})
    units = heldout.units(store, settings, holdout, answers)
    counts = {**counts, "rows": len(rows), "holdout": len(holdout), "measured": len(measured)}
    held = [turn_prompt(store, settings, store.message(turn).conversation_id, turn) for turn in holdout]
    behaviour = evalsets.load(settings.home).describes(m.content for m in answers if m.judgement == "good")
    return TrainingSet(method, rows, example_ids, reason, counts, held, holdout, units, behaviour)
