"""Before/after: the same prompts answered by the adapter that was live and by the new one (greedy, short), so the
user sees what a run changed. Plain functions over the engine and the store; the panel calls them in a worker."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tuitune.config import Settings
from tuitune.store import Store

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


def compare_prompts(engine: Any, prompts: list[tuple[list[dict[str, str]], str]], cancel: threading.Event,
                    max_new_tokens: int = MAX_NEW_TOKENS) -> list[Answered]:
    """Each prompt answered by the engine as it is now; a prompt that fails gets the reason as its answer."""
    answered = []
    max_new_tokens = min(max_new_tokens, engine.settings.generation.max_new_tokens)  # never past the chat's own
    for messages, kind in prompts:
        question = messages[-1]["content"] if messages else ""
        try:
            text = engine.generate(messages, cancel, max_new_tokens=max_new_tokens).text().strip()
        except Exception as exc:
            text = f"(no answer: {exc})"
        answered.append(Answered(question, kind, text))
    return answered


def fallback_prompts(store: Store, settings: Settings, run_id: int, count: int) -> list[list[dict[str, str]]]:
    """Prompts the run trained on, newest first, as chat would send them: for a run too small to hold any out."""
    from tuitune.chat import system_prompt_text

    prompts, seen = [], set()
    for message_id in sorted(store.run(run_id).example_ids, reverse=True):
        answer = store.message(message_id)
        if answer.parent_id is None or answer.parent_id in seen:
            continue
        seen.add(answer.parent_id)
        value = store.conversation(answer.conversation_id).system_prompt
        system = system_prompt_text(value if value is not None else settings.generation.system_prompt,
                                    settings.prompts_dir)
        turns = [{"role": m.role, "content": m.content} for m in store.path_to(answer.parent_id) if m.role != "system"]
        prompts.append(([{"role": "system", "content": system}] if system else []) + turns)
        if len(prompts) == count:
            break
    return prompts
