"""The Store: one open SQLite file, every table's reads and writes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from .ab import Comparisons
from .curate import Curate
from .db import connect
from .exchange import Exchange
from .judgements import Judgements
from .migrations import migrate
from .runs import Runs


class Store(Exchange, Curate, Comparisons, Judgements, Runs):
    """Conversations, messages, judgements, adapters, runs and settings in one SQLite file.

    Open it with `Store.open(path)`; the methods are grouped by table in the modules this class joins.
    One Store may be shared between threads: a lock serializes them on its single connection.
    """

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        on_busy: Callable[[], None] | None = None,
        busy_wait_s: float | None = None,
    ) -> Store:
        """Create the file (mode 0600) and its folder (0700) if needed, and bring the schema up to date.

        Opening writes nothing to an up-to-date store, so it works while another process writes and on a
        full disk. A write that finds another process holding the lock waits up to `busy_wait_s` (default
        db.BUSY_WAIT_S), calling `on_busy` once when it starts waiting (default: a note on stderr), then raises
        StoreBusy; a write on a full disk raises StoreFull. Both are OSErrors with a one-line message."""
        path = Path(path)
        db = connect(path, on_busy, busy_wait_s)
        store = cls(db, path, on_busy=on_busy, busy_wait_s=busy_wait_s)
        try:
            migrate(db, store.transaction)
        except BaseException:
            db.close()
            raise
        return store

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._forget_streaming()
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"
