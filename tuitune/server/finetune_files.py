"""Uploaded training files (`POST /v1/files`, purpose `fine-tune`): checked line by line, kept private in the home.

Three line formats, one per method, as OpenAI's fine-tuning API writes them plus one extension:

    supervised  {"messages": [..., {"role": "assistant", "content": "..."}]}            (the last answer trains)
    dpo         {"input": {"messages": [...]}, "preferred_output": [{"role": "assistant", ...}],
                 "non_preferred_output": [{"role": "assistant", ...}]}
    kto         {"prompt": [...messages], "completion": [{"role": "assistant", ...}], "label": true}  (tuitune's)

Each line becomes the row trl's trainer takes (prompt/completion, prompt/chosen/rejected, prompt/completion/label).
A validation file holds the held-out judgements a new adapter is measured on: dpo lines are pairs, kto lines
thumbs. A file is written under a temporary name and renamed when whole; a refused upload leaves nothing.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from tuitune.private import private_mkdir, private_write_text
from tuitune.server.protocol import ApiError

MAX_FILE_BYTES = 64 * 2**20
MAX_HELD_BYTES = 1024 * 2**20  # all uploads together
MAX_LINES = 100_000
LINE_KINDS = ("supervised", "dpo", "kto")
_ROLES = ("system", "user", "assistant")


def line_kind(row: Any) -> str:
    """Which of the three formats a parsed line is in; ValueError says what is wrong."""
    if not isinstance(row, dict):
        raise ValueError("a line must be a JSON object")
    if "messages" in row:
        return "supervised"
    if "preferred_output" in row or "non_preferred_output" in row:
        return "dpo"
    if "label" in row:
        return "kto"
    raise ValueError("a line needs 'messages' (supervised), 'preferred_output' (dpo) or 'label' (kto)")


def training_row(row: dict[str, Any]) -> dict[str, Any]:
    """The trl row of one line (ValueError names the problem)."""
    kind = line_kind(row)
    if kind == "supervised":
        messages = _messages(row["messages"], "messages")
        if len(messages) < 2 or messages[-1]["role"] != "assistant":
            raise ValueError("'messages' must end with the assistant's answer, after at least one user message")
        return {"prompt": _prompt(messages[:-1], "messages"), "completion": [messages[-1]]}
    if kind == "dpo":
        source = row.get("input")
        if not isinstance(source, dict):
            raise ValueError("'input' must be an object holding 'messages'")
        prompt = _prompt(_messages(source.get("messages"), "input.messages"), "input.messages")
        return {
            "prompt": prompt,
            "chosen": _answer(row.get("preferred_output"), "preferred_output"),
            "rejected": _answer(row.get("non_preferred_output"), "non_preferred_output"),
        }
    if not isinstance(row["label"], bool):
        raise ValueError("'label' must be true or false")
    prompt = _prompt(_messages(row.get("prompt"), "prompt"), "prompt")
    return {"prompt": prompt, "completion": _answer(row.get("completion"), "completion"), "label": row["label"]}


def heldout_unit(row: dict[str, Any], index: int) -> dict[str, Any]:
    """A validation line as the held-out judgement the trainer scores (`tuitune.data.heldout.units`)."""
    trl = training_row(row)
    extra = row["tuitune"] if isinstance(row.get("tuitune"), dict) else {}
    turn = extra.get("turn_id") if isinstance(extra.get("turn_id"), int) else index
    if "chosen" in trl:
        return {
            "kind": "pair",
            "prompt": trl["prompt"],
            "better": trl["chosen"][0]["content"],
            "worse": trl["rejected"][0]["content"],
            "turn_id": turn,
        }
    if "label" not in trl:
        raise ValueError("a validation line is a dpo pair or a kto thumb, not a supervised example")
    return {"kind": "thumb", "prompt": trl["prompt"], "answer": trl["completion"][0]["content"], "good": trl["label"],
            "turn_id": turn}  # fmt: skip


def _messages(value: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"'{where}' must be a non-empty list of messages")
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise ValueError(f"{where}[{i}] needs a role of {', '.join(_ROLES)}")
        if not isinstance(message.get("content"), str):
            raise ValueError(f"{where}[{i}].content must be text")
        out.append({"role": message["role"], "content": message["content"]})
    return out


def _prompt(messages: list[dict[str, str]], where: str) -> list[dict[str, str]]:
    if messages[-1]["role"] != "user":
        raise ValueError(f"'{where}' must end with a user message")
    return messages


def _answer(value: Any, where: str) -> list[dict[str, str]]:
    messages = _messages(value, where)
    if len(messages) != 1 or messages[0]["role"] != "assistant":
        raise ValueError(f"'{where}' must be one assistant message")
    return messages


def parse_file(raw: bytes) -> tuple[str, int]:
    """(the one line format of the whole file, its line count); ApiError(400) names the first bad line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the file is not UTF-8 text (JSON lines expected)", "file") from None
    kinds: set[str] = set()
    count = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        count += 1
        if count > MAX_LINES:
            raise ApiError(400, f"the file has more than {MAX_LINES} lines", "file")
        try:
            row = json.loads(line)
            training_row(row)
            kinds.add(line_kind(row))
        except (ValueError, RecursionError) as exc:
            reason = str(exc) if not isinstance(exc, json.JSONDecodeError) else "not valid JSON"
            raise ApiError(400, f"line {number}: {reason}"[:300], "file") from None
    if not count:
        raise ApiError(400, "the file holds no examples", "file")
    if len(kinds) > 1 and "supervised" in kinds:
        raise ApiError(400, "a file mixes supervised lines with other formats", "file")
    return (kinds.pop() if len(kinds) == 1 else "mixed"), count  # mixed: pairs and thumbs, for validation


class FileStore:
    """The uploaded files of one server home: `file-<hex>.jsonl` with its `file-<hex>.json` description."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def add(self, raw: bytes, filename: str, purpose: str) -> dict[str, Any]:
        if purpose != "fine-tune":
            raise ApiError(400, "only purpose 'fine-tune' is accepted here", "purpose")
        if len(raw) > MAX_FILE_BYTES:
            raise ApiError(413, f"the file is over {MAX_FILE_BYTES // 2**20} MB", "file")
        held = sum(path.stat().st_size for path in self.folder.glob("file-*.jsonl")) if self.folder.is_dir() else 0
        if held + len(raw) > MAX_HELD_BYTES:
            raise ApiError(413, f"the server holds {held // 2**20} MB of uploads already (at most "
                                f"{MAX_HELD_BYTES // 2**20} MB): DELETE /v1/files/{{id}} some", "file")  # fmt: skip
        kind, lines = parse_file(raw)
        file_id = f"file-{secrets.token_hex(12)}"
        name = "".join(ch for ch in filename if ch.isprintable())[:200] or "upload.jsonl"
        card = {
            "id": file_id,
            "object": "file",
            "bytes": len(raw),
            "created_at": int(time.time()),
            "filename": os.path.basename(name) or "upload.jsonl",
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
            "tuitune": {"format": kind, "lines": lines},
        }
        private_mkdir(self.folder)
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
            private_write_text(self.folder / f"{file_id}.json", json.dumps(card))
            os.rename(tmp, self.folder / f"{file_id}.jsonl")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            (self.folder / f"{file_id}.json").unlink(missing_ok=True)
            raise
        return card

    def get(self, file_id: Any) -> dict[str, Any]:
        if not is_id(file_id, "file-"):
            raise ApiError(404, f"No such File object: {str(file_id)[:80]}", "file_id")
        try:
            card = json.loads((self.folder / f"{file_id}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ApiError(404, f"No such File object: {file_id}", "file_id") from None
        if not (self.folder / f"{file_id}.jsonl").is_file():
            raise ApiError(404, f"No such File object: {file_id}", "file_id")
        return card

    def cards(self) -> list[dict[str, Any]]:
        cards = []
        for path in sorted(self.folder.glob("file-*.json")) if self.folder.is_dir() else []:
            try:
                cards.append(self.get(path.stem))
            except ApiError:
                continue
        return sorted(cards, key=lambda card: card["created_at"], reverse=True)

    def delete(self, file_id: str) -> dict[str, Any]:
        self.get(file_id)
        (self.folder / f"{file_id}.jsonl").unlink(missing_ok=True)
        (self.folder / f"{file_id}.json").unlink(missing_ok=True)
        return {"id": file_id, "object": "file", "deleted": True}

    def lines(self, file_id: str) -> list[dict[str, Any]]:
        self.get(file_id)
        with (self.folder / f"{file_id}.jsonl").open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]


def is_id(value: Any, prefix: str) -> bool:
    """An id this server made: `prefix` then 1-48 lowercase hex digits (so never a path)."""
    if not isinstance(value, str) or not value.startswith(prefix):
        return False
    rest = value[len(prefix) :]
    return 0 < len(rest) <= 48 and set(rest) <= set("0123456789abcdef")
