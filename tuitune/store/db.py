"""The database file and its connection: permissions, pragmas, transactions, how text crosses into SQLite."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def _import_sqlite_utils():
    """sqlite-utils imports pandas and numpy when they are installed (0.4 s here) only to map their types in inserts,
    which the store never makes; hiding them for that one import keeps the app's first paint fast."""
    hidden = [name for name in ("pandas", "numpy") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` raise ImportError
    try:
        import sqlite_utils
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return sqlite_utils


sqlite_utils = _import_sqlite_utils()

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 10.0


class NotFound(LookupError):
    """A row asked for by id or name is not in the store."""


def utc_now() -> str:
    # Fixed width (microseconds, +00:00) so that string order is time order.
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def to_sql(value: Any) -> Any:
    """Make a parameter bindable. Python's sqlite3 refuses strings holding lone surrogates (they have no
    UTF-8 form, yet file names and pasted text carry them), so those go in as a BLOB of their
    surrogatepass bytes; `from_sql` turns every BLOB back into the same string."""
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogatepass")
    return value


def from_sql(value: Any) -> Any:
    # No column holds real binary data, so a BLOB is always text that `to_sql` had to protect.
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogatepass")
    return value


def _private_file(path: Path) -> None:
    # Create the file ourselves so it is never, even briefly, readable by others: chats are private.
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if stat.S_IMODE(each.stat().st_mode) != 0o600:
                os.chmod(each, 0o600)
        except FileNotFoundError:
            pass


def _use_wal(conn: sqlite3.Connection) -> None:
    # Switching a fresh file to WAL needs an exclusive lock; two processes opening a new home at the same
    # moment can see "locked" here rather than wait in the busy handler, so retry up to the busy timeout.
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    if str(mode).lower() != "wal":
        # Some network filesystems cannot share the WAL index; the store still works, with less concurrency.
        log.warning("SQLite refused WAL for %s (journal_mode=%s)", conn, mode)


def connect(path: Path) -> sqlite_utils.Database:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _private_file(path)
    # isolation_level=None: the driver opens no implicit transactions; `transaction()` decides.
    # check_same_thread=False: generation threads write streamed tokens; a lock serializes use.
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        _use_wal(conn)
        # In WAL mode NORMAL survives a crash or kill -9 of the app and keeps the file consistent; only a
        # power cut may drop the last commits. FULL would fsync once per streamed update.
        conn.execute("PRAGMA synchronous = NORMAL")
        return sqlite_utils.Database(conn, execute_plugins=False)
    except BaseException:
        conn.close()
        raise


class StoreBase:
    """The connection, its lock, and the helpers every table's methods share."""

    def __init__(self, db: sqlite_utils.Database, path: Path) -> None:
        self._db = db
        self.path = path
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction. BEGIN IMMEDIATE takes the write lock up front, so a read-then-write
        never finds its snapshot stale at the first write (SQLITE_BUSY_SNAPSHOT skips the busy handler).
        Nested use joins the outer transaction."""
        with self._lock:
            conn = self._db.conn
            if conn.in_transaction:
                yield
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, [to_sql(p) for p in params])

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [
                {name: from_sql(value) for name, value in zip(names, row)}
                for row in cursor.fetchall()
            ]

    def _row(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            row = self._execute(sql, params).fetchone()
        return None if row is None else from_sql(row[0])
