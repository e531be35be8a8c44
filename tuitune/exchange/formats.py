"""The file formats `tuitune import` reads, each turned into the store's neutral conversation record.

| format      | a line holds                                             | becomes                                     |
| tuitune     | {"format": "tuitune.conversation/1", "messages": [tree]} | the tree as it was, judgements and all      |
| messages    | {"messages": [...]} (trl SFT conversational, OpenAI)     | the chat; its last answer judged good       |
| sft         | {"prompt", "completion"}                                 | prompt, then the completion judged good     |
| text        | {"text"}                                                 | an empty user turn, the text judged good    |
| dpo         | {"prompt", "chosen", "rejected"}                         | a good and a bad answer to the same prompt  |
| kto         | {"prompt", "completion", "label"}                        | the completion judged good or bad by label  |

trl's rows come conversational (lists of {"role", "content"}) or as plain text (strings); both are read. A DPO row
without "prompt" (trl's implicit prompt) takes the messages that "chosen" and "rejected" share as the prompt.
Text is stored exactly as it is in the file: control characters and markup are data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from tuitune.errors import TuituneError
from tuitune.store.exchange import ConversationRecord, JudgementRecord, MessageRecord
from tuitune.store.records import JUDGEMENTS, MESSAGE_STATUSES, SOURCES, STAT_FIELDS

TUITUNE_FORMAT = "tuitune.conversation/1"
FORMATS = ("tuitune", "messages", "sft", "text", "dpo", "kto")
DESCRIPTIONS = {
    "tuitune": f'tuitune conversations ("format": "{TUITUNE_FORMAT}")',
    "messages": 'chat messages ("messages")',
    "sft": 'SFT prompt/completion ("prompt", "completion")',
    "text": 'plain text ("text")',
    "dpo": 'DPO preferences ("prompt", "chosen", "rejected")',
    "kto": 'KTO labelled completions ("prompt", "completion", "label")',
}
TITLE_WIDTH = 60
# OpenAI's newer name for the system role.
ROLE_ALIASES = {"developer": "system"}


class FormatError(TuituneError, ValueError):
    """One record does not fit its format; the importer adds where it is."""


def detect(row: Any) -> str:
    """The format a record is in, from its keys."""
    if not isinstance(row, dict):
        raise FormatError(f"expected a JSON object, found {_kind(row)}")
    keys = set(row)
    if "format" in keys:
        if row["format"] != TUITUNE_FORMAT:
            raise FormatError(f"unknown format {row['format']!r}; this version reads {TUITUNE_FORMAT!r}")
        return "tuitune"
    if {"chosen", "rejected"} <= keys:
        return "dpo"
    if {"prompt", "completion", "label"} <= keys:
        return "kto"
    if {"prompt", "completion"} <= keys:
        return "sft"
    if "messages" in keys:
        return "messages"
    if "text" in keys:
        return "text"
    raise FormatError(
        "no known format: expected one of " + "; ".join(DESCRIPTIONS.values()) + f", found keys {sorted(keys)}"
    )


def parse(row: Any, fmt: str) -> ConversationRecord:
    """The record for one line, already checked against everything the store would refuse."""
    found = detect(row)
    if found != fmt:
        raise FormatError(f"expected {DESCRIPTIONS[fmt]} like the first record, found {DESCRIPTIONS[found]}")
    record = _PARSERS[fmt](row)
    if not record.messages:
        raise FormatError("no messages")
    try:
        record.check()
    except (TypeError, ValueError) as exc:
        raise FormatError(str(exc)) from None
    return record


def key(record: ConversationRecord) -> str:
    """What identifies an imported conversation, so that importing it twice adds it once."""
    canonical = json.dumps(asdict(record), sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


# ---- tuitune's own tree format -----------------------------------------------------------------------------
def _tuitune(row: dict[str, Any]) -> ConversationRecord:
    items = _field(row, "messages", list)
    index: dict[Any, int] = {}
    messages: list[MessageRecord] = []
    for position, item in enumerate(items, 1):
        where = f"message {position}"
        if not isinstance(item, dict):
            raise FormatError(f"{where}: expected an object, found {_kind(item)}")
        local_id = item.get("id")
        if isinstance(local_id, bool) or not isinstance(local_id, (int, str)):
            raise FormatError(f'{where}: needs an "id" (a number or a string)')
        if local_id in index:
            raise FormatError(f"{where}: id {local_id!r} is used twice")
        parent = item.get("parent")
        if parent is not None and (not isinstance(parent, (int, str)) or parent not in index):
            raise FormatError(f"{where}: parent {parent!r} is not an earlier message's id")
        index[local_id] = len(messages)
        messages.append(_tree_message(item, None if parent is None else index[parent], where))
    leaf = row.get("active_leaf")
    if leaf is not None and (not isinstance(leaf, (int, str)) or leaf not in index):
        raise FormatError(f"active_leaf {leaf!r} is not a message's id")
    title = _optional(row, "title", str)
    return ConversationRecord(
        title=_title(messages) if title is None else title,
        system_prompt=_optional(row, "system_prompt", str),
        messages=tuple(messages),
        created_at=_optional(row, "created_at", str),
        updated_at=_optional(row, "updated_at", str),
        active_leaf=None if leaf is None else index[leaf],
    )


def _tree_message(item: dict[str, Any], parent: int | None, where: str) -> MessageRecord:
    role = _role(item.get("role"), where)
    content = item.get("content")
    if not isinstance(content, str):
        raise FormatError(f'{where}: "content" must be a string, found {_kind(content)}')
    judgement = item.get("judgement")
    if judgement is not None and judgement not in JUDGEMENTS:
        raise FormatError(f"{where}: judgement must be good, bad or null, not {judgement!r}")
    history = _history(item.get("judgements"), where)
    if history:
        if "judgement" in item and history[-1].value != judgement:
            raise FormatError(f"{where}: judgement {judgement!r} is not the last of its judgements")
    elif judgement is not None:
        history = (JudgementRecord(judgement, _optional(item, "note", str, where)),)
    status = item.get("status", "complete")
    if status not in MESSAGE_STATUSES:
        raise FormatError(f"{where}: status must be one of {sorted(MESSAGE_STATUSES)}, not {status!r}")
    source = item.get("source") or "import"
    if source not in SOURCES:
        raise FormatError(f"{where}: source must be one of {sorted(SOURCES)}, not {source!r}")
    excluded = item.get("excluded", False)
    if not isinstance(excluded, bool):
        raise FormatError(f"{where}: excluded must be true or false")
    return MessageRecord(
        parent=parent,
        role=role,
        content=content,
        judgements=history,
        status=status,
        source=source,
        adapter=_optional(item, "adapter", str, where),
        model=_optional(item, "model", str, where),
        stats=_stats(item.get("stats"), where),
        excluded=excluded,
        created_at=_optional(item, "created_at", str, where),
    )


def _history(value: Any, where: str) -> tuple[JudgementRecord, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FormatError(f"{where}: judgements must be a list")
    history = []
    for item in value:
        if not isinstance(item, dict) or item.get("value") not in (*JUDGEMENTS, None):
            raise FormatError(f"{where}: each judgement needs a value of good, bad or null")
        history.append(
            JudgementRecord(item["value"], _optional(item, "note", str, where), _optional(item, "time", str, where))
        )
    return tuple(history)


def _stats(value: Any, where: str) -> tuple[tuple[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or set(value) - set(STAT_FIELDS):
        raise FormatError(f"{where}: stats must be an object with keys among {list(STAT_FIELDS)}")
    for name, number in value.items():
        if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))):
            raise FormatError(f"{where}: stats {name} must be a number")
    return tuple((name, value[name]) for name in STAT_FIELDS if value.get(name) is not None)


# ---- trl's formats and OpenAI's messages -------------------------------------------------------------------
def _messages(row: dict[str, Any]) -> ConversationRecord:
    turns = _turns(row["messages"], "messages")
    weighted = any("weight" in turn for turn in row["messages"])
    last_answer = max((i for i, (role, _) in enumerate(turns) if role == "assistant"), default=None)

    def judgement(i: int) -> str | None:
        if turns[i][0] != "assistant":
            return None
        if weighted:  # OpenAI's fine-tuning files mark the answers to learn with weight 1
            return "good" if row["messages"][i].get("weight", 1) == 1 else None
        return "good" if i == last_answer else None

    return _chain(turns, [judgement(i) for i in range(len(turns))])


def _sft(row: dict[str, Any]) -> ConversationRecord:
    return _prompt_and(row, [(_answer(row["completion"], "completion"), "good")])


def _text(row: dict[str, Any]) -> ConversationRecord:
    text = _field(row, "text", str)
    # trl trains on the whole text; an empty user turn keeps it a trainable answer to "no prompt".
    return _chain([("user", ""), ("assistant", text)], [None, "good"], title=_one_line(text))


def _kto(row: dict[str, Any]) -> ConversationRecord:
    label = row["label"]
    if not isinstance(label, bool):
        raise FormatError(f"label must be true or false, found {_kind(label)}")
    return _prompt_and(row, [(_answer(row["completion"], "completion"), "good" if label else "bad")])


def _dpo(row: dict[str, Any]) -> ConversationRecord:
    chosen, rejected = row["chosen"], row["rejected"]
    if "prompt" not in row:
        if not (isinstance(chosen, list) and isinstance(rejected, list)):
            raise FormatError('a DPO row without "prompt" must be conversational (lists of messages)')
        shared = 0
        while shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]:
            shared += 1
        row = {"prompt": chosen[:shared], "chosen": chosen[shared:], "rejected": rejected[shared:]}
        chosen, rejected = row["chosen"], row["rejected"]
    return _prompt_and(row, [(_answer(chosen, "chosen"), "good"), (_answer(rejected, "rejected"), "bad")])


def _prompt_and(row: dict[str, Any], answers: list[tuple[list[tuple[str, str]], str]]) -> ConversationRecord:
    """The prompt as a chain, then each answer as a branch under its last message, judged on its last turn."""
    prompt = row["prompt"]
    turns = [("user", prompt)] if isinstance(prompt, str) else _turns(prompt, "prompt")
    base = _chain(turns, [None] * len(turns))
    messages = list(base.messages)
    tip = len(messages) - 1 if messages else None
    for answer, value in answers:
        parent = tip
        for i, (role, content) in enumerate(answer):
            judged = (JudgementRecord(value),) if i == len(answer) - 1 else ()
            messages.append(MessageRecord(parent=parent, role=role, content=content, judgements=judged))
            parent = len(messages) - 1
    return ConversationRecord(base.title, base.system_prompt, tuple(messages))


def _answer(value: Any, name: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [("assistant", value)]
    turns = _turns(value, name)
    if not turns or turns[-1][0] != "assistant":
        raise FormatError(f'"{name}" must end with an assistant message')
    return turns


def _chain(
    turns: list[tuple[str, str]], judgements: list[str | None], *, title: str | None = None
) -> ConversationRecord:
    """Turns one after another; a leading system message becomes the conversation's system prompt."""
    system = None
    if turns and turns[0][0] == "system":
        system = turns[0][1]
        turns, judgements = turns[1:], judgements[1:]
    messages = tuple(
        MessageRecord(
            parent=None if i == 0 else i - 1,
            role=role,
            content=content,
            judgements=(JudgementRecord(value),) if value else (),
        )
        for i, ((role, content), value) in enumerate(zip(turns, judgements, strict=True))
    )
    return ConversationRecord(title or _title(messages), system, messages)


def _turns(value: Any, name: str) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        raise FormatError(f'"{name}" must be a string or a list of messages, found {_kind(value)}')
    turns = []
    for position, item in enumerate(value, 1):
        where = f"{name} message {position}"
        if not isinstance(item, dict):
            raise FormatError(f"{where}: expected an object with role and content, found {_kind(item)}")
        turns.append((_role(item.get("role"), where), _content(item.get("content"), where)))
    return turns


def _content(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    # OpenAI's content parts: text only, a picture or a sound has nowhere to go.
    if isinstance(value, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in value
    ):
        return "".join(p["text"] for p in value)
    raise FormatError(f"{where}: content must be a string (or text parts), found {_kind(value)}")


def _role(value: Any, where: str) -> str:
    role = ROLE_ALIASES.get(value, value) if isinstance(value, str) else value
    if role not in ("user", "assistant", "system"):
        raise FormatError(f"{where}: role must be user, assistant or system, not {value!r}")
    return role


# ---- small helpers -----------------------------------------------------------------------------------------
def _field(row: Mapping[str, Any], name: str, kind: type) -> Any:
    value = row.get(name)
    if not isinstance(value, kind):
        raise FormatError(f'"{name}" must be a {kind.__name__}, found {_kind(value)}')
    return value


def _optional(row: Mapping[str, Any], name: str, kind: type, where: str = "") -> Any:
    value = row.get(name)
    if value is not None and not isinstance(value, kind):
        prefix = f"{where}: " if where else ""
        raise FormatError(f'{prefix}"{name}" must be a {kind.__name__} or null, found {_kind(value)}')
    return value


def _title(messages: tuple[MessageRecord, ...] | list[MessageRecord]) -> str:
    first = next((m.content for m in messages if m.role == "user" and m.content.strip()), "")
    return _one_line(first) or "Imported chat"


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= TITLE_WIDTH else flat[: TITLE_WIDTH - 1] + "…"


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


_PARSERS = {"tuitune": _tuitune, "messages": _messages, "sft": _sft, "text": _text, "dpo": _dpo, "kto": _kto}
