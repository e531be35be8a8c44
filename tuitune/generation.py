"""What a generation hands back, the same whether the engine runs in this process or behind the server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# The name that stands for "no adapter": shown for answers the base model wrote, and accepted wherever an adapter is
# named (the CLI's --adapter and `adapters use`, a request's `model`, the curate filter, an A/B contender).
BASE = "base"


@dataclass(frozen=True)
class Sampling:
    """How one request samples; fields left None take the settings' generation values."""

    max_new_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def request_fields(self) -> dict[str, Any]:
        """The fields that are set, as an OpenAI request body names them."""
        fields: dict[str, Any] = {"max_tokens": self.max_new_tokens, "temperature": self.temperature}
        fields |= {"top_p": self.top_p, "repetition_penalty": self.repetition_penalty, "seed": self.seed}
        fields["stop"] = list(self.stop) or None
        return {name: value for name, value in fields.items() if value is not None}


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    new_tokens: int = 0
    ttft_s: float = 0.0
    total_s: float = 0.0
    dropped_turns: int = 0
    finish: str = ""  # eos | stop | length | cancelled
    adapter: str | None = None  # the adapter that wrote the answer; None for the base

    @property
    def tokens_per_s(self) -> float:
        decode_s = self.total_s - self.ttft_s
        return (self.new_tokens - 1) / decode_s if self.new_tokens > 1 and decode_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "new_tokens": self.new_tokens,
            "ttft_s": round(self.ttft_s, 4),
            "tokens_per_s": round(self.tokens_per_s, 2),
        }


@dataclass
class Generation:
    """Iterate for text pieces; `stats` is complete once iteration ends."""

    pieces: Iterator[str]
    stats: GenerationStats = field(default_factory=GenerationStats)

    def __iter__(self) -> Iterator[str]:
        return self.pieces

    def text(self) -> str:
        return "".join(self.pieces)
