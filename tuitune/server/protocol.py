"""The OpenAI / vLLM wire format: parse a chat request into plain values, build response bodies and errors.

Pure functions over dicts, so one client can talk to tuitune's server and to vLLM alike. Errors use OpenAI's shape:
{"error": {"message", "type", "param", "code"}}.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tuitune.errors import TuituneError

ROLES = ("system", "user", "assistant")
MAX_TOKENS_LIMIT = 32768
MAX_STOPS = 4
MAX_STOP_CHARS = 256  # held-back text is matched against each stop at every token
MAX_MODEL_CHARS = 256
# Ten times the app's own prompt limit (tuitune.chat.session.MAX_PROMPT_CHARS) in all of a request's messages: more
# than any context window holds, and refused before a tokenizer spends seconds and hundreds of MB on it.
MAX_PROMPT_CHARS = 1_000_000
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")  # adapter names
_ERROR_TYPES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    404: "NotFoundError",
    413: "BadRequestError",
    422: "BadRequestError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


class ApiError(TuituneError):
    """A request refused with an HTTP status; the message is for the caller."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.param)


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    message, param = _encodable(message), _encodable(param) if param is not None else None
    return {"error": {"message": message, "type": _ERROR_TYPES.get(status, "APIError"), "param": param, "code": status}}


def _encodable(text: str) -> str:
    """A lone surrogate a client sent must not stop the reply that refuses it: shown as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    for name, value in body.items():  # valid JSON ("\\ud800"), but no UTF-8 text: nothing downstream can encode it
        if _has_lone_surrogate(name) or _has_lone_surrogate(value):
            raise ApiError(400, f"'{name}' holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text", name)
    return body


def _has_lone_surrogate(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def parse_chat(body: dict[str, Any]) -> ChatRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model or len(model) > MAX_MODEL_CHARS:
        raise ApiError(400, "'model' must name the base model or a loaded adapter", "model")
    if body.get("n", 1) != 1:
        raise ApiError(400, "only n=1 is supported", "n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be true or false", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
        raise ApiError(400, "'stream_options' must be an object with include_usage true or false", "stream_options")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    return ChatRequest(
        model=model,
        messages=_messages(body.get("messages")),
        stream=stream,
        include_usage=options.get("include_usage", False),
        max_tokens=_number(max_tokens, "max_tokens", int, 1, MAX_TOKENS_LIMIT),
        temperature=_number(body.get("temperature"), "temperature", float, 0.0, 2.0),
        top_p=_number(body.get("top_p"), "top_p", float, 1e-6, 1.0),
        repetition_penalty=_number(body.get("repetition_penalty"), "repetition_penalty", float, 0.01, 10.0),
        seed=_number(body.get("seed"), "seed", int, -(2**63), 2**63 - 1),
        stop=_stops(body.get("stop")),
    )


def _messages(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise ApiError(400, "'messages' must be a non-empty list", "messages")
    messages = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ApiError(400, f"messages[{index}] needs a role of {', '.join(ROLES)}", "messages")
        messages.append({"role": message["role"], "content": _content(message.get("content"), index)})
    if messages[-1]["role"] != "user":
        raise ApiError(400, "the last message must be the user's", "messages")
    if sum(len(message["content"]) for message in messages) > MAX_PROMPT_CHARS:
        too_long = f"the messages hold over {MAX_PROMPT_CHARS:,} characters; no context window takes that"
        raise ApiError(400, too_long, "messages")
    return messages


def _content(value: Any, index: int) -> str:
    if isinstance(value, str):
        return value
    # content parts: only text is understood here
    if isinstance(value, list) and all(
        isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str) for part in value
    ):
        return "".join(part["text"] for part in value)
    raise ApiError(400, f"messages[{index}].content must be text", "messages")


def _number(value: Any, name: str, kind: type, low: float, high: float) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise ApiError(400, f"'{name}' must be a{'n integer' if kind is int else ' number'}", name)
    if not low <= value <= high:
        raise ApiError(400, f"'{name}' must be between {low:g} and {high:g}", name)
    return kind(value)


def _stops(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOPS
        or not all(isinstance(s, str) and 0 < len(s) <= MAX_STOP_CHARS for s in stops)
    ):
        raise ApiError(
            400, f"'stop' must be a string or a list of at most {MAX_STOPS}, each 1-{MAX_STOP_CHARS} characters", "stop"
        )
    return tuple(stops)


# ---- responses -------------------------------------------------------------------------------------------------
FINISH = {"eos": "stop", "stop": "stop", "length": "length", "cancelled": "abort"}


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage(stats: Any) -> dict[str, Any]:
    """OpenAI's usage, plus time to first token and decode speed as extra fields."""
    return {
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.new_tokens,
        "total_tokens": stats.prompt_tokens + stats.new_tokens,
        "ttft_s": round(stats.ttft_s, 4),
        "tokens_per_s": round(stats.tokens_per_s, 2),
        "dropped_turns": stats.dropped_turns,
    }


def chunk(
    cid: str,
    model: str,
    delta: dict[str, Any] | None,
    finish: str | None = None,
    usage_body: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """One SSE event of a streamed completion; `extra` adds top-level fields other clients ignore."""
    body: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    body["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    if usage_body is not None:
        body["usage"] = usage_body
    return sse({**body, **(extra or {})})


def sse(body: Any) -> str:
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def completion(cid: str, model: str, text: str, stats: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": FINISH.get(stats.finish, "stop"),
            }
        ],
        "usage": usage(stats),
    }


def model_card(model_id: str, root: str, parent: str | None, max_len: int | None, created: float) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": int(created),
        "owned_by": "tuitune",
        "root": root,
        "parent": parent,
        "max_model_len": max_len,
    }
