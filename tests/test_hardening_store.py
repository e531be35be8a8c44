"""Issue 9, the store under pressure: another process holding the write lock, a second process starting while an
answer streams, several processes importing one file at once, and a full disk."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tuitune.cli import cli
from tuitune.exchange import import_files
from tuitune import store as store_package
from tuitune.store import Store
from tuitune.store import db as store_db

import tuitune

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "tldr_conversations.jsonl"
# Child processes run the same tuitune as this one, whatever their working directory.
CODE = Path(tuitune.__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CODE), os.environ.get("PYTHONPATH", "")])}

HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


class LockHolder:
    """Another process holding the store's write lock until `release()`."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "home" / "tuitune.db"
    with Store.open(path) as store:
        import_files(store, [SAMPLE])
    return path


@pytest.fixture
def locked(db_path: Path) -> Iterator[LockHolder]:
    holder = LockHolder(db_path)
    yield holder
    holder.release()


def timed(action):
    start = time.monotonic()
    result = action()
    return result, time.monotonic() - start


# ---- a busy database: a wait, then a clear message ---------------------------------------------------------
def test_opening_and_reading_do_not_need_the_write_lock(db_path: Path) -> None:
    with Store.open(db_path) as writer:  # closed mid-answer, as a killed process leaves it
        c = writer.conversations()[0].id
        answer = writer.add_message(c, "assistant", "half", status="streaming")
    locked = LockHolder(db_path)
    store, took = timed(lambda: Store.open(db_path))
    with store:
        assert took < 2
        # Start-up bookkeeping never waits for the lock: the row is left for a later start to mark.
        marked, took = timed(store.mark_streaming_stopped)
        assert (marked, store.message(answer).status) == (0, "streaming") and took < 1
        dead, took = timed(lambda: store.fail_dead_runs(lambda pid: False))
        assert dead == [] and took < 1
        assert len(store.conversations()) == 80 and store.runs() == [] and store.adapters() == []
    locked.release()
    with Store.open(db_path) as store:
        assert store.mark_streaming_stopped() == 1


def test_a_write_waits_saying_so_then_ends_in_one_clear_line(db_path: Path, locked: LockHolder) -> None:
    notes: list[str] = []
    with Store.open(db_path, on_busy=lambda: notes.append("waiting"), busy_wait_s=1.5) as store:
        with pytest.raises(store_package.StoreBusy) as raised:
            timed(lambda: store.new_conversation("blocked"))
        message = str(raised.value)
        assert "busy" in message and "another tuitune process" in message and "\n" not in message
        assert isinstance(raised.value, OSError)  # the CLI prints OSErrors as one `tuitune: error:` line
        assert notes == ["waiting"]
        assert [c.title for c in store.conversations()].count("blocked") == 0

        # The lock clears while the write waits: it goes through, having said once that it waits.
        notes.clear()
        threading.Timer(store_db.BUSY_STEP_S + 0.5, locked.release).start()
        store._busy_wait_s = 10
        conversation, took = timed(lambda: store.new_conversation("after the wait"))
        assert store.conversation(conversation).title == "after the wait"
        assert notes == ["waiting"] and 1 < took < 6


def test_try_update_message_never_waits_and_keeps_nothing_half_saved(db_path: Path) -> None:
    with Store.open(db_path) as store:
        c = store.conversations()[0].id
        answer = store.add_message(c, "assistant", "", status="streaming")
        assert store.try_update_message(answer, content="Hel") is True
        holder = LockHolder(db_path)
        try:
            saved, took = timed(lambda: store.try_update_message(answer, content="Hello wor"))
            assert saved is False and took < 0.5
            assert store.message(answer).content == "Hel"  # the caller still holds "Hello wor" in memory
        finally:
            holder.release()
        assert store.try_update_message(answer, content="Hello world", status="complete") is True
        m = store.message(answer)
        assert (m.content, m.status) == ("Hello world", "complete")


def test_cli_while_another_process_writes(db_path: Path, locked: LockHolder, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(store_db, "BUSY_WAIT_S", 1.5)
    home = str(db_path.parent)
    runner = CliRunner()
    for verb in (["runs"], ["adapters"], ["export", "--format", "conversations"]):
        result, took = timed(lambda: runner.invoke(cli, ["--home", home, *verb]))
        assert result.exit_code == 0, (verb, result.output, result.exception)
        assert took < 3, verb
    fresh = tmp_path / "fresh.jsonl"
    fresh.write_text('{"prompt": "a new question", "completion": "an answer"}\n', encoding="utf-8")
    result = runner.invoke(cli, ["--home", home, "import", str(fresh)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == store_db.BUSY_NOTE
    assert len(lines) == 2 and lines[1].startswith("tuitune: error: the store is busy")
    assert "Traceback" not in result.output


# ---- a process that starts marks 'stopped' only the answers whose writer is gone ---------------------------
STREAM_AND_WAIT = """
import sys
from pathlib import Path
from tuitune.store import Store
store = Store.open(Path(sys.argv[1]))
c = store.new_conversation("streaming elsewhere")
answer = store.add_message(c, "assistant", "", status="streaming")
store.update_message(answer, content="still coming")
print(answer, flush=True)
sys.stdin.readline()
"""


def test_a_second_process_leaves_a_live_answer_streaming(db_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", STREAM_AND_WAIT, str(db_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, env=ENV,
    )
    try:
        assert writer.stdout is not None
        answer = int(writer.stdout.readline())
        with Store.open(db_path) as store:
            assert store.mark_streaming_stopped() == 0
            assert store.message(answer).status == "streaming"
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        with Store.open(db_path) as store:
            assert store.mark_streaming_stopped() == 1
            m = store.message(answer)
            assert (m.status, m.content) == ("stopped", "still coming")
    finally:
        writer.kill()
        writer.wait()


def test_a_reused_pid_is_not_the_writer(db_path: Path) -> None:
    with Store.open(db_path) as store:
        c = store.conversations()[0].id
        mine = store.add_message(c, "assistant", "", status="streaming")
        reused = store.add_message(c, "assistant", "", status="streaming")
        store._execute("UPDATE messages SET writer_pid = 1, writer_started = 'another process' WHERE id = ?", (reused,))
        assert store.mark_streaming_stopped() == 1  # this Store still writes `mine`
        assert (store.message(mine).status, store.message(reused).status) == ("streaming", "stopped")
    with Store.open(db_path) as store:  # the Store that wrote it was closed mid-answer
        assert store.mark_streaming_stopped() == 1
        assert store.message(mine).status == "stopped"


# ---- several processes importing one file at once import it once -------------------------------------------
IMPORT_WHEN_RELEASED = """
import sys
from pathlib import Path
from tuitune.exchange import import_files
from tuitune.store import Store
store = Store.open(Path(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
print(import_files(store, [sys.argv[2]]).conversations, flush=True)
store.close()
"""


def test_concurrent_imports_of_one_file_import_it_once(tmp_path: Path) -> None:
    path = tmp_path / "home" / "tuitune.db"
    Store.open(path).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", IMPORT_WHEN_RELEASED, str(path), str(SAMPLE)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        )
        for _ in range(4)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.communicate()[1]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    counts = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        counts.append(int(out))
    assert sorted(counts) == [0, 0, 0, 80]
    with Store.open(path) as store:
        assert len(store.conversations()) == 80


# ---- a full disk: reading works, a write is one clear line, nothing stored is lost -------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB filesystem of its own (tmpfs); skipped where this machine cannot mount one."""
    mount = tmp_path / "small"
    mount.mkdir()
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    filler = folder / f"filler-{uuid.uuid4().hex}"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:  # ENOSPC: full
        pass
    finally:
        os.close(fd)
    return filler


def tuitune(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tuitune", *args]
    return subprocess.run(command, capture_output=True, text=True, env={**ENV, "HF_HUB_OFFLINE": "1"}, timeout=120)


def test_a_full_disk_reads_and_fails_writes_in_one_line(small_disk: Path, tmp_path: Path) -> None:
    home = small_disk / "home"
    with Store.open(home / "tuitune.db") as store:
        import_files(store, [SAMPLE])
    filler = fill(small_disk)
    assert shutil.disk_usage(small_disk).free < 8192

    for verb in (["runs"], ["adapters"], ["export", "--format", "conversations"]):
        done = tuitune("--home", str(home), *verb)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (verb, done.stderr)
    done = tuitune("--home", str(home), "export", "--format", "conversations")
    assert len(done.stdout.splitlines()) == 80
    out = tmp_path / "export.jsonl"
    done = tuitune("--home", str(home), "export", "--format", "sft", "--out", str(out))
    assert done.returncode == 0 and out.read_text(encoding="utf-8").count("\n") == 68, done.stderr

    fresh = tmp_path / "fresh.jsonl"
    fresh.write_text('{"prompt": "a new question", "completion": "an answer"}\n', encoding="utf-8")
    for verb in (["import", str(fresh)], ["export", "--format", "sft", "--out", str(small_disk / "x.jsonl")]):
        done = tuitune("--home", str(home), *verb)
        lines = done.stderr.splitlines()
        assert done.returncode == 2 and len(lines) == 1, (verb, done.stderr)
        assert lines[0].startswith("tuitune: error:") and "disk is full" in lines[0]

    filler.unlink()
    with Store.open(home / "tuitune.db") as store:
        assert len(store.conversations()) == 80
        assert store._scalar("PRAGMA integrity_check") == "ok"
    assert tuitune("--home", str(home), "import", str(fresh)).returncode == 0


def test_a_write_that_meets_a_full_disk_is_undone_and_says_so(db_path: Path) -> None:
    """Where no small filesystem can be mounted: SQLite's page limit gives the same SQLITE_FULL."""
    with Store.open(db_path) as store:
        c = store.conversations()[0].id
        answer = store.add_message(c, "assistant", "kept", status="streaming")
        pages = store._scalar("PRAGMA page_count")
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(store_package.StoreFull) as raised:
            store.update_message(answer, content="x" * 200_000)
        assert "disk is full" in str(raised.value) and isinstance(raised.value, OSError)
        with pytest.raises(store_package.StoreFull):
            store.try_update_message(answer, content="y" * 200_000)
        assert store.message(answer).content == "kept"
        store._db.execute("PRAGMA max_page_count = 1073741823")
        store.update_message(answer, content="saved once there is room", status="complete")
        assert store.message(answer).content == "saved once there is room"


def test_store_errors_are_one_line_oserrors() -> None:
    locked = store_db.translated(sqlite3.OperationalError("database is locked"), Path("/h/tuitune.db"), 61)
    assert isinstance(locked, store_package.StoreBusy) and "61 s" in str(locked)
    full = store_db.translated(sqlite3.OperationalError("database or disk is full"), Path("/h/tuitune.db"))
    assert isinstance(full, store_package.StoreFull) and "\n" not in str(full)
    other = sqlite3.OperationalError("no such table: x")
    assert store_db.translated(other, Path("/h/tuitune.db")) is other
