"""Opening the store: the file, its pragmas, the migrated schema, and two processes racing to create it."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import sqlite_utils

from tuitune.store import Store
from tuitune.store.migrations import MIGRATIONS

EXPECTED_COLUMNS = {
    "conversations": {
        "id", "title", "system_prompt", "created_at", "updated_at", "active_leaf_id", "deleted_at",
    },
    "messages": {
        "id", "conversation_id", "parent_id", "role", "content", "status", "adapter_id", "source",
        "model", "prompt_tokens", "new_tokens", "ttft_s", "tokens_per_s", "created_at", "excluded",
        "deleted_at", "writer_pid", "writer_started",
    },
    "judgements": {"id", "message_id", "value", "note", "created_at"},
    "adapters": {
        "id", "name", "path", "base_model", "method", "run_id", "parent_id", "metrics",
        "template_fingerprint", "example_counts", "created_at", "deleted_at", "promotion", "promotion_reason",
    },
    "runs": {
        "id", "status", "method", "reason", "params", "example_ids", "base_model",
        "template_fingerprint", "created_at", "started_at", "finished_at", "pid", "error",
        "log_path", "run_dir", "metrics", "adapter_id", "promotion", "promotion_reason", "job_id",
    },
    "settings": {"key", "value"},
    "open_conversations": {"pid", "pid_started", "conversation_id", "opened_at"},
}  # fmt: skip

with sqlite_utils.Database(memory=True) as _empty:
    ALL_MIGRATIONS = [m.name for m in MIGRATIONS.pending(_empty)]

OPEN_WHEN_RELEASED = """
import sys
from pathlib import Path
from tuitune.store import Store
print("ready", flush=True)
sys.stdin.readline()
with Store.open(Path(sys.argv[1])) as store:
    print(store.schema_version)
"""


def assert_schema(path: Path) -> None:
    db = sqlite_utils.Database(path)
    try:
        assert set(EXPECTED_COLUMNS) <= set(db.table_names())
        for table, columns in EXPECTED_COLUMNS.items():
            assert set(db[table].columns_dict) == columns, table
        applied = [
            row["name"]
            for row in db.query("SELECT name FROM _sqlite_migrations WHERE migration_set = 'tuitune'")
        ]
        assert applied == ALL_MIGRATIONS
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(applied)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        db.close()


def test_fresh_store_has_the_migrated_schema(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "tuitune.db"
    with Store.open(path) as store:
        assert store.path == path
        assert store.schema_version == len(ALL_MIGRATIONS) >= 1
    assert_schema(path)


def test_foreign_keys_are_declared(tmp_path: Path) -> None:
    Store.open(tmp_path / "t.db").close()
    db = sqlite_utils.Database(tmp_path / "t.db")
    targets = {(fk.table, fk.column): fk.other_table for t in db.tables for fk in t.foreign_keys}
    assert targets[("messages", "conversation_id")] == "conversations"
    assert targets[("messages", "parent_id")] == "messages"
    assert targets[("messages", "adapter_id")] == "adapters"
    assert targets[("judgements", "message_id")] == "messages"
    assert targets[("adapters", "run_id")] == "runs"
    assert targets[("adapters", "parent_id")] == "adapters"
    assert targets[("runs", "adapter_id")] == "adapters"
    db.close()


def test_pragmas(store: Store) -> None:
    conn = store._db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # SQLite waits a short step per try; the store tries again (saying so) up to its bound.
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 500
    from tuitune.store import db

    assert db.BUSY_WAIT_S >= 30
    # foreign keys are enforced, not just declared
    c = store.new_conversation()
    try:
        store.add_message(c, "assistant", "x", adapter_id=999)
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("a message naming a missing adapter was accepted")


def test_wal_persists_for_other_connections(tmp_path: Path) -> None:
    Store.open(tmp_path / "t.db").close()
    conn = sqlite3.connect(tmp_path / "t.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        store.add_message(store.new_conversation(), "user", "secret")
        for each in (path, path.with_name("t.db-wal"), path.with_name("t.db-shm")):
            assert stat.S_IMODE(each.stat().st_mode) == 0o600, each


def test_existing_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    path.chmod(0o644)
    Store.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_reopening_is_a_no_op_migration(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        conversation = store.new_conversation("kept")
        version = store.schema_version
    db = sqlite_utils.Database(path)
    before = list(db.query("SELECT * FROM _sqlite_migrations"))
    db.close()
    with Store.open(path) as store:
        assert store.schema_version == version
        assert store.conversation(conversation).title == "kept"
    db = sqlite_utils.Database(path)
    assert list(db.query("SELECT * FROM _sqlite_migrations")) == before
    db.close()


def test_two_processes_open_a_fresh_home_at_once(tmp_path: Path, python, together) -> None:
    path = tmp_path / "fresh" / "tuitune.db"
    procs = [python(OPEN_WHEN_RELEASED, str(path)) for _ in range(4)]
    outputs = together(procs)
    assert [int(out) for out in outputs] == [len(ALL_MIGRATIONS)] * 4
    assert_schema(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_context_manager_closes(tmp_path: Path) -> None:
    with Store.open(tmp_path / "t.db") as store:
        store.new_conversation()
    try:
        store.conversations()
    except sqlite3.ProgrammingError:
        pass
    else:
        raise AssertionError("a closed store still answered")


def test_import_touches_no_disk_and_no_heavy_modules(tmp_path: Path, python) -> None:
    code = (
        "import os, sys\n"
        "import tuitune.store\n"
        "heavy = ('torch', 'transformers', 'textual')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "print(os.listdir('.'))\n"
    )
    proc = python(code, cwd=tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.split("\n")[:2] == ["[]", "[]"]
