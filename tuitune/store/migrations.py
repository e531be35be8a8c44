"""The schema, as named migrations. Append new ones at the end; never edit or reorder one that has shipped,
since every store on disk records by name which of them it has applied."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from .db import sqlite_utils

Migrations = sqlite_utils.Migrations

MIGRATIONS = Migrations("tuitune")
log = logging.getLogger(__name__)


@MIGRATIONS(name="0001_initial")
def _initial(db: sqlite_utils.Database) -> None:
    # Enumerations other than role and judgement value are checked in Python, not with CHECK: widening a
    # CHECK means rebuilding the table, and new statuses or sources are the likeliest schema change.
    db.executescript(
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            system_prompt TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            active_leaf_id INTEGER REFERENCES messages(id),
            deleted_at TEXT
        );
        CREATE INDEX conversations_by_update ON conversations(updated_at);

        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            status TEXT NOT NULL,
            method TEXT NOT NULL,
            reason TEXT,
            params TEXT NOT NULL DEFAULT '{}',
            example_ids TEXT NOT NULL DEFAULT '[]',
            base_model TEXT NOT NULL,
            template_fingerprint TEXT,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            pid INTEGER,
            error TEXT,
            log_path TEXT,
            run_dir TEXT,
            metrics TEXT NOT NULL DEFAULT '{}',
            adapter_id INTEGER REFERENCES adapters(id)
        );
        CREATE INDEX runs_by_status ON runs(status);

        CREATE TABLE adapters (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            base_model TEXT NOT NULL,
            method TEXT,
            run_id INTEGER REFERENCES runs(id),
            parent_id INTEGER REFERENCES adapters(id),
            metrics TEXT NOT NULL DEFAULT '{}',
            template_fingerprint TEXT,
            example_counts TEXT,
            created_at TEXT NOT NULL,
            deleted_at TEXT
        );
        -- Unique among live adapters only, so a deleted name can be trained again.
        CREATE UNIQUE INDEX adapters_live_name ON adapters(name) WHERE deleted_at IS NULL;

        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            parent_id INTEGER REFERENCES messages(id),
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
            content TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'complete',
            adapter_id INTEGER REFERENCES adapters(id),
            source TEXT NOT NULL DEFAULT 'chat',
            model TEXT,
            prompt_tokens INTEGER,
            new_tokens INTEGER,
            ttft_s REAL,
            tokens_per_s REAL,
            created_at TEXT NOT NULL,
            excluded INTEGER NOT NULL DEFAULT 0 CHECK (excluded IN (0, 1)),
            deleted_at TEXT
        );
        CREATE INDEX messages_by_parent ON messages(conversation_id, parent_id);
        CREATE INDEX messages_by_parent_id ON messages(parent_id);
        CREATE INDEX messages_by_adapter ON messages(adapter_id);
        -- Tiny: only rows a killed process left mid-answer, which app start looks for.
        CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming';

        CREATE TABLE judgements (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id),
            value TEXT CHECK (value IN ('good', 'bad')),
            note TEXT,
            created_at TEXT NOT NULL
        );
        -- The current judgement is the newest row per message: (message_id, id) finds it in one probe.
        CREATE INDEX judgements_by_message ON judgements(message_id, id);

        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT
        );
        """
    )


# Import dedup keys: one row per imported conversation, so importing the same file twice adds nothing.
@MIGRATIONS(name="0002_imports")
def _imports(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE imports (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            source TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX imports_by_key ON imports(key);
        """
    )


# The curate screen: full-text search over every message's text, and which answers a run trained on.
# The FTS index reads its text from `messages` (external content, no second copy) and triggers keep it in step
# whatever writes the rows. The update trigger fires only when `content` is assigned, so flagging, soft-deleting
# and restoring do not reindex. Search matches words as prefixes while the user types; the 2- and 3-letter prefix
# indexes (about as big again as the index) make a short prefix that matches half the store 10x quicker. Content
# holding lone surrogates is a BLOB (see db.to_sql); FTS5 reads a BLOB's bytes as its text, the same bytes at insert
# and at delete, so such a row stays findable by its other words.
# `run_examples` unpacks runs.example_ids so "has a run used this answer" is one index probe.
@MIGRATIONS(name="0003_curate")
def _curate(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2',
            prefix='2 3'
        );
        INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END;
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        END;
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END;

        CREATE TABLE run_examples (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            message_id INTEGER NOT NULL,
            PRIMARY KEY (message_id, run_id)
        ) WITHOUT ROWID;
        INSERT OR IGNORE INTO run_examples (run_id, message_id)
            SELECT runs.id, CAST(e.value AS INTEGER) FROM runs, json_each(runs.example_ids) e;
        CREATE TRIGGER run_examples_insert AFTER INSERT ON runs BEGIN
            INSERT OR IGNORE INTO run_examples (run_id, message_id)
                SELECT new.id, CAST(value AS INTEGER) FROM json_each(new.example_ids);
        END;
        CREATE TRIGGER run_examples_update AFTER UPDATE OF example_ids ON runs BEGIN
            DELETE FROM run_examples WHERE run_id = old.id;
            INSERT OR IGNORE INTO run_examples (run_id, message_id)
                SELECT new.id, CAST(value AS INTEGER) FROM json_each(new.example_ids);
        END;
        """
    )


# Blind A/B picks, in the order made: each adapter's wins, losses and Elo rating are computed from these.
# a_adapter / b_adapter copy the answers' adapter ids (NULL: the base model) so a rating survives a deleted answer.
@MIGRATIONS(name="0004_comparisons")
def _comparisons(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE comparisons (
            id INTEGER PRIMARY KEY,
            user_message_id INTEGER NOT NULL REFERENCES messages(id),
            a_message_id INTEGER NOT NULL REFERENCES messages(id),
            b_message_id INTEGER NOT NULL REFERENCES messages(id),
            a_adapter INTEGER REFERENCES adapters(id),
            b_adapter INTEGER REFERENCES adapters(id),
            winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie', 'both_bad')),
            created_at TEXT NOT NULL
        );
        """
    )


# Which process writes a streaming answer (its pid, and a token for that process's start so a reused pid is
# not mistaken for it): a process that starts marks 'stopped' only the answers whose writer is gone.
@MIGRATIONS(name="0005_message_writers")
def _message_writers(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        ALTER TABLE messages ADD COLUMN writer_pid INTEGER;
        ALTER TABLE messages ADD COLUMN writer_started TEXT;
        """
    )


# Whether a finished run's adapter went live (train.promote and the held-out judgements decide) and why, in one
# line: 'promoted', 'held_back' or 'promoted_by_hand', on the run and on its adapter.
@MIGRATIONS(name="0006_promotion")
def _promotion(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        ALTER TABLE runs ADD COLUMN promotion TEXT;
        ALTER TABLE runs ADD COLUMN promotion_reason TEXT;
        ALTER TABLE adapters ADD COLUMN promotion TEXT;
        ALTER TABLE adapters ADD COLUMN promotion_reason TEXT;
        """
    )


# A run trained by the engine server as a fine-tuning job: its job's id. Such a run is followed through the server
# (the client that started it may be gone), never failed for a dead local trainer.
@MIGRATIONS(name="0007_run_jobs")
def _run_jobs(db: sqlite_utils.Database) -> None:
    db.executescript("ALTER TABLE runs ADD COLUMN job_id TEXT;")


# A question follows an answer, never another question. Two clients sending into one conversation at once could
# store a question under the other client's question (its parent came from the conversation's latest message, not
# from the sender's own screen); each such question moves under its nearest answer (or to the root), where it is a
# sibling branch. Imported trees keep what their file held. `open_conversations`: the conversation each app process
# shows, so the list can mark the ones another client has open (the row of a process that is gone means nothing).
@MIGRATIONS(name="0008_turns_and_clients")
def _turns_and_clients(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE open_conversations (
            pid INTEGER PRIMARY KEY,
            pid_started TEXT,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            opened_at TEXT NOT NULL
        );
        """
    )
    rows = db.execute("SELECT id, parent_id, role, source FROM messages").fetchall()
    parent = {row[0]: row[1] for row in rows}
    role = {row[0]: row[2] for row in rows}
    moved = 0
    for message_id, parent_id, this_role, source in rows:
        if this_role != "user" or source == "import" or parent_id is None or role.get(parent_id) != "user":
            continue
        while parent_id is not None and role.get(parent_id) == "user":
            parent_id = parent.get(parent_id)
        db.execute("UPDATE messages SET parent_id = ? WHERE id = ?", (parent_id, message_id))
        moved += 1
    if moved:
        log.warning("moved %d questions stored under another question to their nearest answer", moved)


def schema_version(db: sqlite_utils.Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite_utils.Database, transaction: Callable[[], AbstractContextManager[None]] | None = None) -> int:
    """Apply pending migrations and return the schema version (the number applied). `transaction` opens the
    write transaction (the Store's, which waits out a busy lock); by default a plain BEGIN IMMEDIATE."""
    # The read-only check first: reopening an up-to-date store must not wait on another writer's lock.
    if not MIGRATIONS.pending(db):
        return schema_version(db)
    # Under the write lock `apply` re-reads what is applied, so when two processes open a fresh home at
    # once the second finds nothing left to do; each migration nests inside as a savepoint.
    with (transaction or (lambda: _immediate(db)))():
        MIGRATIONS.apply(db)
        version = len(MIGRATIONS.applied(db))
        # user_version mirrors the count so that `sqlite3 tuitune.db 'PRAGMA user_version'` tells it too.
        db.execute(f"PRAGMA user_version = {version:d}")
    return version


@contextmanager
def _immediate(db: sqlite_utils.Database) -> Iterator[None]:
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
