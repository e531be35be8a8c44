"""`tuitune export`: the store as trl-ready SFT, DPO or KTO rows, or losslessly as conversation trees.

The sft/dpo/kto rows are the very rows training builds (tuitune.data.rows), minus the bookkeeping column, so
an exported file trains in trl's trainers unchanged. `conversations` writes tuitune's own tree format with every
field the store keeps for a live conversation; importing it into an empty home gives back the same export.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tuitune.config import Settings
from tuitune.data.rows import ROW_BUILDERS
from tuitune.errors import TuituneError
from tuitune.exchange.formats import TUITUNE_FORMAT
from tuitune.exchange.names import CONVERSATIONS, EXPORT_FORMATS
from tuitune.store import Store
from tuitune.store.exchange import ConversationTree
from tuitune.store.records import STAT_FIELDS

# Valid JSON may carry these raw; escaped, a file is safe to `cat` to a terminal and still loads the same text.
_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


class ExportError(TuituneError, ValueError):
    """This export cannot be made (an unknown format, a folder for a file, text Parquet cannot hold)."""


class ExportWriteError(TuituneError, OSError):
    """The export file could not be written (a full disk, no permission); nothing was written."""


def rows(store: Store, settings: Settings, fmt: str) -> list[dict[str, Any]]:
    """The records of one export format, in order."""
    if fmt == CONVERSATIONS:
        return [conversation_record(tree) for tree in store.conversation_trees()]
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
    return [{k: v for k, v in row.items() if k != "message_ids"} for row in ROW_BUILDERS[fmt](store, settings)]


def export(store: Store, settings: Settings, fmt: str, out: Path | str | None = None) -> int:
    """Write the export as JSON lines (to stdout when `out` is None) or Parquet (`out` ends in .parquet);
    a file is written whole or not at all. Returns the number of records."""
    records = rows(store, settings, fmt)
    if out is None:
        write_jsonl(records, sys.stdout)
        sys.stdout.flush()
        return len(records)
    out = Path(out)
    if out.is_dir():
        raise ExportError(f"{out}: is a folder; give the name of a file to write")
    parquet = out.suffix.lower() == ".parquet"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp makes the file 0600: an export holds the user's conversations.
        handle, temp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise _write_error(out, exc) from exc
    try:
        if parquet:
            os.close(handle)
            _write_parquet(records, Path(temp))
        else:
            with open(handle, "w", encoding="utf-8", newline="\n") as stream:
                write_jsonl(records, stream)
        os.replace(temp, out)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(out, exc) from exc
        raise
    return len(records)


def _write_error(out: Path, exc: OSError) -> ExportWriteError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ExportWriteError(
            f"could not write {out}: the disk is full; nothing was written (free some space, or --out elsewhere)"
        )
    return ExportWriteError(f"could not write {out}: {exc.strerror or exc}; nothing was written")


def write_jsonl(records: list[dict[str, Any]], stream: IO[str]) -> None:
    for record in records:
        stream.write(dumps(record) + "\n")


def dumps(record: dict[str, Any]) -> str:
    text = json.dumps(record, ensure_ascii=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _write_parquet(records: list[dict[str, Any]], path: Path) -> None:
    if not records:
        raise ExportError("nothing to export: a Parquet file needs at least one row")
    from datasets import Dataset

    try:
        Dataset.from_list(records).to_parquet(str(path))
    except UnicodeEncodeError as exc:
        # Arrow strings are UTF-8, which has no form for a lone surrogate; JSON lines escape it.
        raise ExportError(
            f"Parquet cannot hold this text (a lone surrogate, {exc.object[exc.start]!r}); export to .jsonl instead"
        ) from None


# ---- the lossless tree format ------------------------------------------------------------------------------
def conversation_record(tree: ConversationTree) -> dict[str, Any]:
    """One conversation as tuitune's tree format; ids are local, numbered from 1 in the order written."""
    local: dict[int | None, int] = {m.id: number for number, m in enumerate(tree.messages, 1)}
    conversation = tree.conversation
    return {
        "format": TUITUNE_FORMAT,
        "title": conversation.title,
        "system_prompt": conversation.system_prompt,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "active_leaf": local.get(_visible_leaf(tree)),
        "messages": [
            {
                "id": local[m.id],
                "parent": local.get(m.parent_id),
                "role": m.role,
                "content": m.content,
                "judgement": m.judgement,
                "judgements": [
                    {"value": value, "note": note, "time": time} for value, note, time in tree.judgements.get(m.id, [])
                ],
                "source": m.source,
                "status": m.status,
                "adapter": m.adapter,
                "model": m.model,
                "stats": {name: getattr(m, name) for name in STAT_FIELDS},
                "excluded": m.excluded,
                "created_at": m.created_at,
            }
            for m in tree.messages
        ],
    }


def _visible_leaf(tree: ConversationTree) -> int | None:
    """The branch the user sees: the active leaf, or without a live one the newest answers all the way down,
    as the store's `branch` picks it. Written out explicitly so that an import shows the same branch."""
    live = {m.id for m in tree.messages}
    leaf = tree.conversation.active_leaf_id
    if leaf in live:
        return leaf
    children: dict[int | None, list[int]] = {}
    for m in tree.messages:
        children.setdefault(m.parent_id, []).append(m.id)
    leaf = None
    for step in _descend(children):
        leaf = step
    return leaf


def _descend(children: dict[int | None, list[int]]) -> Iterator[int]:
    here = max(children.get(None, []), default=None)
    while here is not None:
        yield here
        here = max(children.get(here, []), default=None)
