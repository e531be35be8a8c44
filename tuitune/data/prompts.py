"""The prompt of a turn: what chat sends to the model, and so what training pairs with an answer.

A conversation's system prompt (its own, else the settings' default; a name in `prompts/system` stands for that
file's text) leads the conversation path up to the turn being answered. Chat builds its request here, and the
training rows, the held-out prompts and the before/after comparison take their prompts from the same function,
so the model is trained on exactly what it sees when it chats.
"""

from __future__ import annotations

from pathlib import Path

from tuitune.config import Settings
from tuitune.store import Store

Prompt = list[dict[str, str]]


def system_prompt_text(value: str | None, prompts_dir: Path) -> str | None:
    """A name in prompts/system (without .txt) stands for that file's text; anything else is the text itself."""
    if not value:
        return None
    path = prompts_dir / "system" / f"{value}.txt"
    if "/" not in value and path.is_file():
        return path.read_text(encoding="utf-8").strip()
    return value


def system_prompt_names(prompts_dir: Path) -> list[str]:
    return sorted(p.stem for p in (prompts_dir / "system").glob("*.txt"))


def system_prompt(store: Store, settings: Settings, conversation_id: int) -> str | None:
    """The conversation's own system prompt, else the settings' default, as text."""
    value = store.conversation(conversation_id).system_prompt
    if value is None:
        value = settings.generation.system_prompt
    return system_prompt_text(value, settings.prompts_dir)


def turn_prompt(store: Store, settings: Settings, conversation_id: int, last_id: int) -> Prompt:
    """The system prompt, then the conversation path root first up to `last_id` (the user turn being answered)."""
    turns = [{"role": m.role, "content": m.content} for m in store.path_to(last_id) if m.role != "system"]
    system = system_prompt(store, settings, conversation_id)
    return ([{"role": "system", "content": system}] if system else []) + turns


def trained_prompts(store: Store, settings: Settings, run_id: int, count: int) -> list[Prompt]:
    """Up to `count` prompts a run trained on, newest first, one per user turn: what the before/after check asks
    when a run was too small to hold any prompt out."""
    prompts, seen = [], set()
    for message_id in sorted(store.run(run_id).example_ids, reverse=True):
        answer = store.message(message_id)
        if answer.parent_id is None or answer.parent_id in seen:
            continue
        seen.add(answer.parent_id)
        prompts.append(turn_prompt(store, settings, answer.conversation_id, answer.parent_id))
        if len(prompts) == count:
            break
    return prompts
