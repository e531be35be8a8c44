"""Where a home's engine server lives and how clients find, start and stop it. Light: no torch, no Starlette.

One server per home. It holds an exclusive lock on `engine.lock` for its whole life, so "is one running?" is
answered by the lock, not by a pid file that a kill -9 leaves behind. Files, all in the home and private:
`engine.sock` (the Unix socket, 0600), `engine.json` (pid, address, model), `engine.log`, `engine.key` (the bearer
key for TCP serving, 0600).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.config import Settings
from tuitune.errors import TuituneError
from tuitune.private import private_mkdir, private_open

_SOCKET_PATH_MAX = 100  # AF_UNIX paths are cut at 107 bytes on Linux


class ServerError(TuituneError, RuntimeError):
    """The engine server cannot be started, found or stopped; the message is for the user."""


@dataclass(frozen=True)
class EnginePaths:
    home: Path

    @property
    def lock(self) -> Path:
        return self.home / "engine.lock"

    @property
    def info(self) -> Path:
        return self.home / "engine.json"

    @property
    def log(self) -> Path:
        return self.home / "engine.log"

    @property
    def key(self) -> Path:
        return self.home / "engine.key"

    @property
    def socket(self) -> Path:
        path = self.home / "engine.sock"
        if len(str(path)) <= _SOCKET_PATH_MAX:
            return path
        # A deep home: the socket goes in a private folder of this user's under the temp dir, named by the home.
        digest = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"tuitune-{os.getuid()}" / f"{digest}.sock"


def private_dir(path: Path) -> Path:
    """Create `path` 0700 (whatever the umask) and refuse one that someone else owns; narrow one others can enter."""
    private_mkdir(path)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise ServerError(f"{path} belongs to another user; refusing to put the engine's socket there")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def running(paths: EnginePaths) -> bool:
    """Whether a server holds this home's lock right now."""
    if not paths.lock.exists():
        return False
    with open(paths.lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def read_info(paths: EnginePaths) -> dict[str, Any]:
    try:
        return json.loads(paths.info.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def api_key(paths: EnginePaths, create: bool) -> str:
    """The home's bearer key for TCP serving; created (random, 0600) when asked and missing."""
    if paths.key.is_file():
        return paths.key.read_text(encoding="ascii").strip()
    if not create:
        return ""
    private_dir(paths.home)
    key = secrets.token_urlsafe(32)
    with private_open(paths.key, "x", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


def tuitune_argv(settings: Settings) -> list[str]:
    """`tuitune` on this home with the model settings this client uses; a verb goes after it."""
    return [
        sys.executable,
        "-m",
        "tuitune",
        "--home",
        str(settings.home),
        "--model",
        settings.model.spec,
        "--quant",
        settings.model.quant,
    ]


def serve_argv(settings: Settings) -> list[str]:
    """The command that runs this home's server in the foreground, with the model settings this client uses."""
    return [*tuitune_argv(settings), "serve"]


def serve_env(settings: Settings) -> dict[str, str]:
    """The environment for it: this client's own, plus the model cache it was told to use."""
    env = dict(os.environ)
    if settings.model.cache_dir:
        env["TUITUNE_MODEL_CACHE"] = settings.model.cache_dir
    return env


def spawn(settings: Settings) -> subprocess.Popen:
    """Start the home's server detached: its own session (an SSH hang-up or a quit does not reach it), output to
    engine.log. A server that finds another already holding the lock exits at once, so racing clients are safe."""
    paths = EnginePaths(settings.home)
    private_dir(paths.home)
    with private_open(paths.log, "ab") as log:
        process = subprocess.Popen(
            serve_argv(settings),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=serve_env(settings),
            start_new_session=True,
            close_fds=True,
        )
    # Reap it when it ends, so a long-lived client (the TUI) never keeps a zombie.
    threading.Thread(target=process.wait, name="engine-reaper", daemon=True).start()
    return process


def log_tail(paths: EnginePaths, lines: int = 3) -> str:
    try:
        text = paths.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def stop(paths: EnginePaths, timeout_s: float = 15.0) -> int | None:
    """End the home's server (SIGTERM, then SIGKILL after `timeout_s`); returns its pid, None if none ran."""
    if not running(paths):
        return None
    pid = int(read_info(paths).get("pid") or 0)
    if pid <= 0:
        raise ServerError(f"a server holds {paths.lock} but {paths.info} names no pid")
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while running(paths) and time.monotonic() < deadline:
            time.sleep(0.1)
        if running(paths):
            os.kill(pid, signal.SIGKILL)
            while running(paths):
                time.sleep(0.05)
    except ProcessLookupError:
        pass
    return pid
