"""Before/after: the same prompts answered by the adapter that was live and by the new one (greedy, short), so the
user sees what a run changed. Plain functions over the engine; the panel calls them in a worker, with prompts from
`tuitune.data` (the held-out ones, or `tuitune.data.prompts.trained_prompts`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tuitune.errors import TuituneError, report_unexpected

MAX_NEW_TOKENS = 48


@dataclass(frozen=True)
class Answered:
    prompt: str  # the last user turn
    kind: str  # "held out" or "trained on"
    answer: str


@dataclass(frozen=True)
class Comparison:
    prompt: str
    kind: str
    before: str
    after: str


def compare_prompts(
    engine: Any,
    prompts: list[tuple[list[dict[str, str]], str]],
    cancel: threading.Event,
    max_new_tokens: int = MAX_NEW_TOKENS,
) -> list[Answered]:
    """Each prompt answered by the engine as it is now; a prompt that fails gets the reason as its answer."""
    answered = []
    max_new_tokens = min(max_new_tokens, engine.settings.generation.max_new_tokens)  # never past the chat's own
    for messages, kind in prompts:
        question = messages[-1]["content"] if messages else ""
        try:
            text = engine.generate(messages, cancel, max_new_tokens=max_new_tokens).text().strip()
        except TuituneError as exc:  # a refused or lost request: the reason stands in for the answer
            text = f"(no answer: {exc})"
        except Exception as exc:  # a bug: logged, and the comparison goes on without this answer
            text = f"(no answer: {report_unexpected(engine.settings.home, exc, 'a before/after answer')})"
        answered.append(Answered(question, kind, text))
    return answered
