"""What the processes of one run tell each other through its folder: which rank this is, why a rank failed, and
whether a stop was a cancel. Plain files, no torch, so the parent (launcher.py) reads them too.

A launcher (`accelerate launch`, `torchrun`) that loses one worker stops the others with SIGTERM, the signal a
cancel sends as well; the `cancel` file, written by whoever cancels before signalling, tells the two apart.
"""

from __future__ import annotations

import os
import re
from contextlib import suppress
from pathlib import Path

from tuitune.private import private_write_text

CANCEL_FILE = "cancel"
_ERROR = re.compile(r"rank-(\d+)\.error$")


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return rank() == 0


def request_cancel(run_dir: str | Path) -> None:
    Path(run_dir, CANCEL_FILE).touch(mode=0o600)


def cancel_requested(run_dir: str | Path) -> bool:
    return Path(run_dir, CANCEL_FILE).exists()


def record_failure(run_dir: str | Path, message: str) -> None:
    """This rank's reason, in one line, for rank 0 (or the parent) to report."""
    with suppress(OSError):  # a full disk must not hide the original error
        private_write_text(Path(run_dir, f"rank-{rank()}.error"), message + "\n")


def failures(run_dir: str | Path, *, besides: int | None = None) -> dict[int, str]:
    """Each failed rank's reason, lowest rank first."""
    found: dict[int, str] = {}
    folder = Path(run_dir)
    if not folder.is_dir():
        return found
    for path in folder.iterdir():
        match = _ERROR.match(path.name)
        if match and int(match.group(1)) != besides:
            try:
                found[int(match.group(1))] = path.read_text(encoding="utf-8").strip()
            except OSError:
                continue
    return dict(sorted(found.items()))


def failure_summary(run_dir: str | Path, *, besides: int | None = None) -> str:
    """'rank 1 failed: RuntimeError: …' for the first failed rank, or ''."""
    found = failures(run_dir, besides=besides)
    if not found:
        return ""
    first, message = next(iter(found.items()))
    return f"rank {first} of the run failed: {message}"
