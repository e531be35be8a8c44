"""Chat formatting: the tokenizer's own template, or one from prompts/templates when the model has none.

The template's fingerprint goes on every training run and adapter, so an adapter is never trained with one
template and chatted with another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FALLBACK_TEMPLATE = "llama-2-chat"


class PromptTooLong(ValueError):
    """The newest turn alone does not fit the context window."""


@dataclass(frozen=True)
class FittedPrompt:
    input_ids: list[int]
    dropped_turns: int  # oldest messages left out to fit the context window


def fingerprint(template: str) -> str:
    return hashlib.sha256(template.encode("utf-8")).hexdigest()[:16]


def load_template(name: str, prompts_dir: Path) -> str:
    path = prompts_dir / "templates" / f"{name}.jinja"
    if not path.is_file():
        known = sorted(p.stem for p in (prompts_dir / "templates").glob("*.jinja"))
        raise ValueError(f"no chat template {name!r}; known: {', '.join(known) or 'none'}")
    return path.read_text(encoding="utf-8")


def choose_template(tokenizer: Any, requested: str, prompts_dir: Path) -> str:
    """Set and return the template the engine (and so the trainer) chats with."""
    if requested:
        tokenizer.chat_template = load_template(requested, prompts_dir)
    elif not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = load_template(FALLBACK_TEMPLATE, prompts_dir)
    return tokenizer.chat_template


def render_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return list(ids)


def fit_messages(tokenizer: Any, messages: list[dict[str, str]], budget: int) -> FittedPrompt:
    """Drop the oldest turns (never the system prompt or the newest user turn) until the prompt fits `budget`."""
    system = [m for m in messages[:1] if m["role"] == "system"]
    turns = messages[len(system):]
    dropped = 0
    while True:
        ids = render_ids(tokenizer, system + turns)
        if len(ids) <= budget:
            return FittedPrompt(ids, dropped)
        if len(turns) <= 1:
            raise PromptTooLong(
                f"the prompt is {len(ids)} tokens; at most {budget} fit (context window minus the answer budget)"
            )
        # Drop whole exchanges so the conversation still starts with a user turn.
        cut = 1
        while cut < len(turns) - 1 and turns[cut]["role"] != "user":
            cut += 1
        turns = turns[cut:]
        dropped += cut
