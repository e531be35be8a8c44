"""`tuitune import`: read every record of every file first, then write them all in one transaction.

A file's format is decided by its first record and every other record must match it; the first record that does
not parse stops the import with its file and line number, before anything is written. Each conversation is
recorded under a key (a hash of what was read), so importing the same file twice adds it once; a lossless export
imported into the home it came from is recognised by its conversations' creation times.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuitune.data.rows import count, usable
from tuitune.errors import TuituneError
from tuitune.exchange.formats import FormatError, detect, key, parse
from tuitune.store import Store
from tuitune.store.exchange import ConversationRecord

# Far above any real file and any real record's nesting (4 levels), far below what exhausts memory or the
# interpreter's stack.
MAX_FILE_BYTES = 1 << 30
MAX_DEPTH = 64


class ImportFileError(TuituneError, ValueError):
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
        """Count the record's answers as the store will count them once imported (`tuitune.data.rows`)."""
        self.conversations += 1
        self.messages += len(record.messages)
        judged = []
        for m in record.messages:
            value = m.judgements[-1].value if m.judgements else None
            answer = m.role == "assistant" and usable(excluded=m.excluded, parent=m.parent, content=m.content)
            if answer and value is not None:
                judged.append((m.parent, value))
        counts = count(judged)
        self.good += counts["good"]
        self.bad += counts["bad"]
        self.pairs += counts["pairs"]

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
    keyed = [(p, record, key(record)) for p in parsed for record in p.records]
    if dry_run:
        report, _ = _plan(store, parsed, keyed)
        return report
    # "Already imported?" is asked under the write lock that the inserts then use, so several processes
    # importing one file at once import it once: each waits for the one before and sees what it wrote.
    with store.transaction():
        report, todo = _plan(store, parsed, keyed)
        for p, record, record_key in todo:
            store.insert_conversation(record, key=record_key, source=p.path.name)
    return report


def _plan(
    store: Store, parsed: list[ParsedFile], keyed: list[tuple[ParsedFile, ConversationRecord, str]]
) -> tuple[ImportReport, list[tuple[ParsedFile, ConversationRecord, str]]]:
    """What to insert (and the report of it): every record not already in the store nor earlier in the files."""
    report = ImportReport(formats={str(p.path): p.format for p in parsed})
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
    return report, todo


def _rows(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, record) for each record: JSON lines, a JSON array, or Parquet rows."""
    data = _read_bytes(path)
    if path.suffix.lower() == ".parquet":
        yield from _parquet_rows(path, data)
        return
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
        yield where, _loads(text, f"{path} {where}")


def _read_bytes(path: Path) -> bytes:
    """The whole file, if it is a regular file within the size limit. Opened without blocking and judged on the
    open file, so a FIFO, a device (/dev/zero) or a folder is refused before a byte is read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImportFileError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot open it ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ImportFileError(f"{path}: is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise ImportFileError(f"{path}: is {_file_kind(info.st_mode)}, not a regular file; import reads files")
        if info.st_size > MAX_FILE_BYTES:
            raise ImportFileError(f"{path}: is {_size(info.st_size)}; the import limit is {_size(MAX_FILE_BYTES)}")
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb", buffering=0) as handle:
        try:
            data = handle.read(MAX_FILE_BYTES + 1)  # a file still growing cannot take it past the limit
        except OSError as exc:
            raise ImportFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(f"{path}: is over the import limit of {_size(MAX_FILE_BYTES)}")
    return data


def _loads(text: str, where: str, *, whole_file: bool = False) -> Any:
    """One JSON value, with every way a hostile one can fail turned into one line that says where."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if whole_file:
            where = f"{where} line {exc.lineno}"
        raise ImportFileError(f"{where}: not valid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise ImportFileError(f"{where}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # a number beyond int's digit limit (CVE-2020-10735), and the like
        detail = str(exc).split(";")[0]
        raise ImportFileError(f"{where}: not valid JSON: {detail}") from None
    _check_depth(value, where)
    return value


def _check_depth(value: Any, where: str) -> None:
    """Refuse a value nested deeper than any real record; walked without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise ImportFileError(f"{where}: nested deeper than {MAX_DEPTH} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _array_rows(path: Path, data: bytes) -> Iterator[tuple[str, Any]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path}: not UTF-8 text (byte {exc.start + 1})") from None
    rows = _loads(text, str(path), whole_file=True)
    if not isinstance(rows, list):  # "[1] {...}" and the like: not one array after all
        raise ImportFileError(f"{path}: not a valid JSON array")
    for number, row in enumerate(rows, 1):
        yield f"record {number}", row


def _parquet_rows(path: Path, data: bytes) -> Iterator[tuple[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(pa.BufferReader(data)).to_pylist()
    except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
        raise ImportFileError(f"{path}: not a readable Parquet file: {exc}") from None
    for number, row in enumerate(rows, 1):
        # Parquet gives every row every column; a column a row did not have comes back as null.
        row = {k: v for k, v in row.items() if v is not None}
        _check_depth(row, f"{path} row {number}")
        yield f"row {number}", row


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def _size(count: int) -> str:
    return f"{count / (1 << 20):,.0f} MiB" if count >= 1 << 20 else f"{count:,} bytes"


__all__ = ["ImportFileError", "ImportReport", "import_files", "read_file"]
