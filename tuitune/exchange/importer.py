"""`tuitune import`: read every record of every file first, then write them all in one transaction.

A file's format is decided by its first record and every other record must match it; the first record that does
not parse stops the import with its file and line number, before anything is written. Each conversation is
recorded under a key (a hash of what was read), so importing the same file twice adds it once; a lossless export
imported into the home it came from is recognised by its conversations' creation times.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuitune.exchange.formats import FormatError, detect, key, parse
from tuitune.store import Store
from tuitune.store.exchange import ConversationRecord


class ImportFileError(ValueError):
    """A file that cannot be imported, with where: one line, meant for the user."""


@dataclass
class ImportReport:
    formats: dict[str, str] = field(default_factory=dict)  # file -> format
    conversations: int = 0
    messages: int = 0
    good: int = 0
    bad: int = 0
    pairs: int = 0
    skipped: int = 0  # conversations already in the store (or twice in the files)

    def add(self, record: ConversationRecord) -> None:
        self.conversations += 1
        self.messages += len(record.messages)
        per_parent: dict[int | None, list[str]] = defaultdict(list)
        for m in record.messages:
            value = m.judgements[-1].value if m.judgements else None
            if m.role == "assistant" and value is not None and not m.excluded:
                per_parent[m.parent].append(value)
        for values in per_parent.values():
            good, bad = values.count("good"), values.count("bad")
            self.good += good
            self.bad += bad
            self.pairs += good * bad

    def summary(self) -> str:
        text = (
            f"imported {self.conversations} conversations, {self.messages} messages: "
            f"{self.good} good, {self.bad} bad, {self.pairs} pairs"
        )
        if self.skipped:
            text += f"; skipped {self.skipped} already imported"
        return text


@dataclass(frozen=True)
class ParsedFile:
    path: Path
    format: str
    records: list[ConversationRecord]


def read_file(path: Path | str) -> ParsedFile:
    """Every record of one file, parsed and checked; ImportFileError names the first bad one."""
    path = Path(path)
    fmt: str | None = None
    records = []
    for where, row in _rows(path):
        try:
            fmt = fmt or detect(row)
            records.append(parse(row, fmt))
        except FormatError as exc:
            raise ImportFileError(f"{path} {where}: {exc}") from None
    if fmt is None:
        raise ImportFileError(f"{path}: no records to import")
    return ParsedFile(path, fmt, records)


def import_files(store: Store, paths: Iterable[Path | str], *, dry_run: bool = False) -> ImportReport:
    """Import every file, all or nothing; with `dry_run`, check and count without writing."""
    parsed = [read_file(path) for path in paths]
    report = ImportReport(formats={str(p.path): p.format for p in parsed})
    keyed = [(p, record, key(record)) for p in parsed for record in p.records]
    seen = store.imported_keys(k for _, _, k in keyed)
    present = store.conversation_created_times()
    todo = []
    for p, record, record_key in keyed:
        if record_key in seen or (record.created_at is not None and record.created_at in present):
            report.skipped += 1
            continue
        seen.add(record_key)
        report.add(record)
        todo.append((p, record, record_key))
    if not dry_run:
        with store.transaction():
            for p, record, record_key in todo:
                store.insert_conversation(record, key=record_key, source=p.path.name)
    return report


def _rows(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, record) for each record: JSON lines, a JSON array, or Parquet rows."""
    if path.suffix.lower() == ".parquet":
        yield from _parquet_rows(path)
        return
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ImportFileError(f"{path}: is a folder, not a file") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.lstrip()[:1] == b"[":
        yield from _array_rows(path, data)
        return
    for number, raw in enumerate(data.split(b"\n"), 1):
        where = f"line {number}"
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"{path} {where}: not UTF-8 text (byte {exc.start + 1})") from None
        try:
            yield where, json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFileError(f"{path} {where}: not valid JSON: {exc.msg} (column {exc.colno})") from None


def _array_rows(path: Path, data: bytes) -> Iterator[tuple[str, Any]]:
    try:
        rows = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFileError(f"{path}: not a valid JSON array: {exc}") from None
    for number, row in enumerate(rows, 1):
        yield f"record {number}", row


def _parquet_rows(path: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
        raise ImportFileError(f"{path}: not a readable Parquet file: {exc}") from None
    for number, row in enumerate(rows, 1):
        # Parquet gives every row every column; a column a row did not have comes back as null.
        yield f"row {number}", {k: v for k, v in row.items() if v is not None}


__all__ = ["ImportFileError", "ImportReport", "import_files", "read_file"]
