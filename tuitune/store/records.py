"""What the store hands out: frozen snapshots of rows, JSON columns already decoded."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any, Literal, TypeVar

Role = Literal["user", "assistant", "system"]
MessageStatus = Literal["complete", "stopped", "error", "streaming"]
Source = Literal["chat", "regenerate", "edit", "import", "ab"]
Judgement = Literal["good", "bad"]
RunStatus = Literal["queued", "running", "done", "failed", "cancelled"]
PROMOTIONS = frozenset({"promoted", "held_back", "promoted_by_hand"})

ROLES = frozenset({"user", "assistant", "system"})
MESSAGE_STATUSES = frozenset({"complete", "stopped", "error", "streaming"})
SOURCES = frozenset({"chat", "regenerate", "edit", "import", "ab"})
JUDGEMENTS = frozenset({"good", "bad"})
RUN_STATUSES = frozenset({"queued", "running", "done", "failed", "cancelled"})
LIVE_RUN_STATUSES = ("queued", "running")
# Sources whose text a model wrote; edits and imports say nothing about how good an adapter is.
GENERATED_SOURCES = ("chat", "regenerate", "ab")
STAT_FIELDS = ("prompt_tokens", "new_tokens", "ttft_s", "tokens_per_s")


def check_choice(value: object, allowed: frozenset[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {sorted(allowed)}, not {value!r}")


def check_text(value: object, what: str, *, optional: bool = False) -> None:
    # bytes would be stored and read back as str: refuse them instead of changing their type silently.
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str{' or None' if optional else ''}, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    title: str
    system_prompt: str | None
    created_at: str
    updated_at: str
    active_leaf_id: int | None
    deleted_at: str | None


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    conversation_id: int
    parent_id: int | None
    role: Role
    content: str
    status: MessageStatus
    adapter_id: int | None
    source: Source
    model: str | None
    prompt_tokens: int | None
    new_tokens: int | None
    ttft_s: float | None
    tokens_per_s: float | None
    created_at: str
    excluded: bool
    deleted_at: str | None
    adapter: str | None  # the adapter's name; None means the base model wrote it
    judgement: Judgement | None  # the latest judgement; None when never judged or cleared
    judgement_note: str | None


@dataclass(frozen=True, slots=True)
class Adapter:
    id: int
    name: str
    path: str
    base_model: str
    method: str | None
    run_id: int | None
    parent_id: int | None
    metrics: dict[str, Any]
    template_fingerprint: str | None
    example_counts: dict[str, Any] | None
    created_at: str
    deleted_at: str | None
    promotion: str | None = None  # promoted | held_back | promoted_by_hand; None: before the gate existed
    promotion_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    status: RunStatus
    method: str
    reason: str | None
    params: dict[str, Any]
    example_ids: list[int]
    base_model: str
    template_fingerprint: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    pid: int | None
    error: str | None
    log_path: str | None
    run_dir: str | None
    metrics: dict[str, Any]
    adapter_id: int | None
    promotion: str | None = None
    promotion_reason: str | None = None
    job_id: str | None = None  # the engine server's fine-tuning job, when the server trained it


R = TypeVar("R")


def _build(cls: type[R], row: dict[str, Any], json_fields: tuple[str, ...] = ()) -> R:
    # Pick fields by name so that a column added by a later migration does not break older records.
    values = {f.name: row[f.name] for f in fields(cls)}  # type: ignore[arg-type]
    for name in json_fields:
        if values[name] is not None:
            values[name] = json.loads(values[name])
    return cls(**values)


def conversation_from_row(row: dict[str, Any]) -> Conversation:
    return _build(Conversation, row)


def message_from_row(row: dict[str, Any]) -> Message:
    return _build(Message, {**row, "excluded": bool(row["excluded"])})


def adapter_from_row(row: dict[str, Any]) -> Adapter:
    return _build(Adapter, row, ("metrics", "example_counts"))


def run_from_row(row: dict[str, Any]) -> Run:
    return _build(Run, row, ("params", "example_ids", "metrics"))


def to_json(value: Any) -> str | None:
    # ensure_ascii=False: the escapes "\ud83d\ude00" would load back as one emoji, not as two code points.
    return None if value is None else json.dumps(value, ensure_ascii=False)
