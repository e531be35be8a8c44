"""The database file and its connection: permissions, pragmas, transactions, how text crosses into SQLite."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tuitune.errors import TuituneError
from tuitune.private import private_mkdir
from tuitune.textsafe import one_line

T = TypeVar("T")


@contextmanager
def _modules_hidden(*names: str) -> Iterator[None]:
    """Inside the block `import name` raises ImportError for each of `names` not imported yet; after it, sys.modules
    holds for them what it held before (nothing), so they import normally for everyone else."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` raise ImportError
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def _import_sqlite_utils():
    """sqlite-utils imports pandas and numpy when they are installed (0.4 s here) only to map their types in inserts,
    which the store never makes; hiding them for that one import keeps the app's first paint fast. Only the first
    import is shielded, and only for its duration; once sqlite-utils is loaded nothing is hidden again."""
    if "sqlite_utils" in sys.modules:
        return sys.modules["sqlite_utils"]
    with _modules_hidden("pandas", "numpy"):
        import sqlite_utils
    return sqlite_utils


if TYPE_CHECKING:  # the checker sees the module itself
    import sqlite_utils
else:
    sqlite_utils = _import_sqlite_utils()

log = logging.getLogger(__name__)

# SQLite's own busy handler waits this long per try; after the first try the store says it is waiting (on_busy)
# and tries again until BUSY_WAIT_S have passed in all. Read at call time, so tests may shorten them.
BUSY_STEP_S = 1.0
BUSY_WAIT_S = 60.0
BUSY_NOTE = "tuitune: the store is busy (another tuitune process is writing); waiting…"


class NotFound(TuituneError, LookupError):
    """A row asked for by id or name is not in the store."""


class StoreError(TuituneError, OSError):
    """The store could not do what was asked for a reason outside tuitune (another process, the disk); the
    message is one line for the user. An OSError, so the CLI prints it as one `tuitune: error:` line."""


class StoreBusy(StoreError):
    """Another process held the write lock for longer than the store waits; nothing was written."""


class StoreFull(StoreError):
    """The disk is full (or failed) while writing; that write was undone, everything before it is intact."""


def error_kind(exc: sqlite3.Error) -> str:
    """'busy', 'full', 'io' or '' for an error from SQLite."""
    name = getattr(exc, "sqlite_errorname", "") or ""  # Python 3.11+
    text = str(exc)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "is locked" in text:
        return "busy"
    if name == "SQLITE_FULL" or "database or disk is full" in text:
        return "full"
    if name.startswith("SQLITE_IOERR") or "disk I/O error" in text:
        return "io"
    return ""


def translated(exc: BaseException, path: Path, waited_s: float = 0.0) -> BaseException:
    """The one-line StoreError for a busy, full or failing disk; any other error as it is."""
    if not isinstance(exc, sqlite3.OperationalError):
        return exc
    kind = error_kind(exc)
    if kind == "busy":
        held = f" for {waited_s:.0f} s" if waited_s >= 1 else ""
        return StoreBusy(
            f"the store is busy: another tuitune process has been writing to {_shown(path)}{held}; "
            "nothing was changed, try again when it is done"
        )
    if kind in ("full", "io"):
        what = "the disk is full" if kind == "full" or _disk_full(path) else f"the disk failed ({exc})"
        return StoreFull(
            f"could not write to {_shown(path)}: {what}; this change was not saved (everything saved before is "
            "intact), free some space and try again"
        )
    return exc


def _disk_full(path: Path) -> bool:
    try:
        info = os.statvfs(path.parent)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < 1 << 20


def _shown(path: Path) -> str:
    return one_line(str(path))


def note_on_stderr() -> None:
    print(BUSY_NOTE, file=sys.stderr, flush=True)


def retry_busy(
    action: Callable[[], T], path: Path, on_busy: Callable[[], None] | None, wait_s: float | None = None
) -> T:
    """`action()`, tried again while another process holds the lock it needs, for up to `wait_s` seconds in
    all; `on_busy` hears once that it is waiting. Ends in StoreBusy (or StoreFull) rather than SQLite's error."""
    wait_s = BUSY_WAIT_S if wait_s is None else wait_s
    start = time.monotonic()
    noted = False
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            waited = time.monotonic() - start
            if error_kind(exc) != "busy" or waited >= wait_s:
                error = translated(exc, path, waited)
                if error is exc:
                    raise
                raise error from exc
            if not noted:
                noted = True
                (on_busy or note_on_stderr)()
            time.sleep(0.05)


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


def _journal_mode(conn: sqlite3.Connection) -> str:
    return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()


def _use_wal(conn: sqlite3.Connection) -> None:
    # Only a file not yet in WAL is switched: setting the mode writes, and opening must work on a full disk and
    # while another process writes. A fresh file's switch needs an exclusive lock that two processes opening a
    # new home at once contend for (retry_busy waits that out).
    mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
    if mode != "wal":
        # Some network filesystems cannot share the WAL index; the store still works, with less concurrency.
        log.warning("SQLite refused WAL for %s (journal_mode=%s)", conn, mode)


def _sqlite_connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: the driver opens no implicit transactions; `transaction()` decides.
    # check_same_thread=False: generation threads write streamed tokens; a lock serializes use.
    return sqlite3.connect(path, timeout=BUSY_STEP_S, isolation_level=None, check_same_thread=False)


def connect(
    path: Path, on_busy: Callable[[], None] | None = None, busy_wait_s: float | None = None
) -> sqlite_utils.Database:
    """Open the file for reading without writing anything to it: on a full disk and while another process holds
    the write lock, every read works. Only a file that is not in WAL mode yet is switched to it."""
    private_mkdir(path.parent)
    _private_file(path)
    conn = _sqlite_connect(path)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        try:
            mode = retry_busy(lambda: _journal_mode(conn), path, on_busy, busy_wait_s)
        except StoreFull:
            # A WAL reader maps a shared-memory index (the -shm file), which a full disk has no room to grow.
            # In exclusive locking mode SQLite keeps that index in this process's memory instead; the price is
            # that other processes wait while this one has the file open, which only happens on a full disk.
            conn.close()
            conn = _sqlite_connect(path)
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            mode = retry_busy(lambda: _journal_mode(conn), path, on_busy, busy_wait_s)
        if mode != "wal":
            retry_busy(lambda: _use_wal(conn), path, on_busy, busy_wait_s)
        # In WAL mode NORMAL survives a crash or kill -9 of the app and keeps the file consistent; only a
        # power cut may drop the last commits. FULL would fsync once per streamed update.
        conn.execute("PRAGMA synchronous = NORMAL")
        return sqlite_utils.Database(conn, execute_plugins=False)
    except BaseException:
        conn.close()
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite rolls back by itself after some errors (a full disk among them); a rollback that fails in turn
    # must not hide the error that caused it.
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.warning("rollback failed", exc_info=True)


class StoreBase:
    """The connection, its lock, and the helpers every table's methods share."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        path: Path,
        *,
        on_busy: Callable[[], None] | None = None,
        busy_wait_s: float | None = None,
    ) -> None:
        self._db = db
        self.path = path
        self._lock = threading.RLock()
        self._on_busy = on_busy
        self._busy_wait_s = busy_wait_s
        self._file_key = os.path.realpath(path)
        self._streaming: set[int] = set()  # answers this Store is writing (see Messages.mark_streaming_stopped)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction. BEGIN IMMEDIATE takes the write lock up front, so a read-then-write
        never finds its snapshot stale at the first write (SQLITE_BUSY_SNAPSHOT skips the busy handler).
        Nested use joins the outer transaction. While another process holds the lock it waits (saying so once
        through on_busy) up to the busy bound, then raises StoreBusy; a full disk raises StoreFull."""
        with self._lock:
            conn = self._db.conn
            if conn.in_transaction:
                yield
                return
            retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"), self.path, self._on_busy, self._busy_wait_s)
            with self._committing(conn):
                yield

    def _write_now(self, action: Callable[[], None]) -> bool:
        """Run `action` in a write transaction if the write lock is free this instant; False (nothing written)
        when another process or thread holds it. StoreFull when the disk is full."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            conn = self._db.conn
            if conn.in_transaction:  # this thread's own transaction: join it
                action()
                return True
            conn.execute("PRAGMA busy_timeout = 0")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if error_kind(exc) == "busy":
                    return False
                raise translated(exc, self.path) from exc
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(BUSY_STEP_S * 1000)}")
            with self._committing(conn):
                action()
            return True
        finally:
            self._lock.release()

    @contextmanager
    def _committing(self, conn: sqlite3.Connection) -> Iterator[None]:
        """Commit what the block wrote, or roll it back and raise the store's own error for what went wrong."""
        try:
            yield
            conn.execute("COMMIT")
        except BaseException as exc:
            _rollback(conn)
            error = translated(exc, self.path)
            if error is exc:
                raise
            raise error from exc

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            bound = [to_sql(p) for p in params]
            if self._db.conn.in_transaction:
                return self._db.execute(sql, bound)
            # A read outside a transaction: WAL readers do not wait for writers, but a checkpoint or recovery in
            # another process can still make one wait briefly.
            return retry_busy(lambda: self._db.execute(sql, bound), self.path, self._on_busy, self._busy_wait_s)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [
                {name: from_sql(value) for name, value in zip(names, row, strict=True)} for row in cursor.fetchall()
            ]

    def _row(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            row = self._execute(sql, params).fetchone()
        return None if row is None else from_sql(row[0])
