"""Who writes a streaming answer, and whether that writer still runs: a process is known by its pid and by a
token for when it started, so a pid that a later process reuses is not mistaken for the writer."""

from __future__ import annotations

import os
import sys
from functools import lru_cache

# (database file, message id) of the answers that open Stores of this process are writing. A process cannot
# judge its own answers by pid: a Store closed mid-answer (the app was stopped) leaves its answer to be marked,
# one still open in this process does not.
STREAMING_HERE: set[tuple[str, int]] = set()


def start_token(pid: int) -> str | None:
    """When process `pid` started, as an opaque string; None when it is gone or this system cannot tell."""
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            return None
        if fields[0] in (b"Z", b"X"):  # exited, not yet reaped: it will write nothing more
            return None
        # Field 22 of stat, clock ticks since boot; with the boot's id it names one process for good.
        return f"{_boot_id()}:{fields[19].decode()}"
    try:
        import psutil
    except ImportError:
        return None
    try:
        return f"{psutil.Process(pid).create_time():.3f}"
    except Exception:  # psutil.NoSuchProcess, AccessDenied
        return None


@lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def this_process() -> tuple[int, str | None]:
    pid = os.getpid()
    return pid, start_token(pid)


def is_alive(pid: int | None, started: str | None, file_key: str, message_id: int) -> bool:
    """Whether the writer recorded for an answer may still be writing it."""
    if pid is None:  # written before writers were recorded, or imported: nobody is writing it
        return False
    if pid == os.getpid() and (started is None or started == start_token(pid)):
        return (file_key, message_id) in STREAMING_HERE
    return process_alive(pid, started)


def process_alive(pid: int, started: str | None) -> bool:
    """Whether process `pid`, started at `started` (a `start_token`; None: unknown), still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process has that pid: the token decides
        pass
    if started is None:
        return True
    now = start_token(pid)
    if now is None:
        # On Linux: gone, or a zombie. Elsewhere (no psutil): no evidence against a live pid.
        return not sys.platform.startswith("linux")
    return now == started
