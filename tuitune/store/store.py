"""The Store: one open SQLite file, every table's reads and writes."""

from __future__ import annotations

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
    def open(cls, path: Path | str) -> Store:
        """Create the file (mode 0600) and its folder if needed, and bring the schema up to date."""
        path = Path(path)
        db = connect(path)
        try:
            migrate(db)
        except BaseException:
            db.close()
            raise
        return cls(db, path)

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
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
