"""What a fine-tuning job request may say: OpenAI's fields and tuitune's extension, each checked (ApiError 400
names the field). No torch, no files."""

from __future__ import annotations

from typing import Any

from tuitune.config import TRAIN_METHODS
from tuitune.server.protocol import NAME_CHARS, ApiError

# The only settings a request may change (never train.launcher: a command line; never a path).
JOB_SETTINGS = {
    "train.epochs", "train.max_steps", "train.min_steps", "train.lr", "train.batch_size", "train.grad_accum",
    "train.max_length", "train.beta", "train.dpo_loss", "train.kto_loss", "train.seed", "train.promote",
    "train.measure", "lora.r", "lora.alpha", "lora.dropout", "lora.targets",
}  # fmt: skip


def parse_method(body: dict[str, Any], extra: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    method = body.get("method")
    if method is None:
        kind, hyper = "supervised", body.get("hyperparameters") or {}
    elif isinstance(method, dict) and method.get("type") in ("supervised", "dpo"):
        kind = method["type"]
        inner = method.get(kind) or {}
        hyper = inner.get("hyperparameters") or {} if isinstance(inner, dict) else None
    else:
        raise ApiError(400, "'method.type' must be supervised or dpo (kto: tuitune.method)", "method")
    if not isinstance(hyper, dict):
        raise ApiError(400, "'hyperparameters' must be an object", "hyperparameters")
    name = {"supervised": "sft", "dpo": "dpo"}[kind]
    if extra.get("method") is not None:
        if extra["method"] not in TRAIN_METHODS:
            raise ApiError(400, "'tuitune.method' must be sft, dpo or kto", "tuitune.method")
        name = extra["method"]
    checks = {"n_epochs": (int, 1, 100), "batch_size": (int, 1, 256), "learning_rate_multiplier": (float, 1e-4, 100),
              "beta": (float, 1e-4, 10)}  # fmt: skip
    for key, value in hyper.items():
        if key not in checks:
            raise ApiError(400, f"unknown hyperparameter {str(key)[:40]!r}", "hyperparameters")
        kind_of, low, high = checks[key]
        if value == "auto":
            continue
        number_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number_ok or (kind_of is int and not isinstance(value, int)) or not low <= value <= high:
            raise ApiError(400, f"'{key}' must be 'auto' or a {kind_of.__name__} from {low} to {high}", key)
    return name, dict(hyper)


def parse_suffix(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 40 or not set(value) <= NAME_CHARS or value[0] == ".":
        raise ApiError(400, "'suffix' must be 1-40 letters, digits, '_', '-' or '.', not starting with '.'", "suffix")
    return value


def parse_adapter_name(value: Any, suffix: str | None, method: str, job_id: str) -> str:
    if value is None:
        return f"ft-{suffix or method}-{job_id[-8:]}"
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not set(value) <= NAME_CHARS or value[0] == ".":
        raise ApiError(400, "'tuitune.adapter_name' must be 1-64 letters, digits, '.', '_' or '-'",
                       "tuitune.adapter_name")  # fmt: skip
    return value


def parse_metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or len(value) > 16
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512 for k, v in value.items()
        )
    ):
        raise ApiError(400, "'metadata' holds at most 16 string keys and values", "metadata")
    return value


def parse_ints(value: Any) -> list[int]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, int) and not isinstance(v, bool)][:1_000_000]
