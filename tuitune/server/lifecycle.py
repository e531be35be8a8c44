"""Where a home's engine server lives and how clients find, start and stop it. Light: no torch, no Starlette.

One server per home. It holds an exclusive lock on `engine.lock` for its whole life, so "is one running?" is
answered by the lock, not by a pid file that a kill -9 leaves behind. Files, all in the home and private:
`engine.sock` (the Unix socket, 0600), `engine.json` (pid, address, model), `engine.log`, `engine.key` (the bearer
key for TCP serving, 0600). The address in engine.json is where clients attach: the home's socket, a short socket
elsewhere for a home whose path is too long for one, or the TCP address of `serve --host`.
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
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.config import Settings
from tuitune.errors import TuituneError
from tuitune.private import private_mkdir, private_open

_SOCKET_PATH_MAX = 107  # bytes: sockaddr_un holds 108 with the final NUL on Linux


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
        """engine.sock in the home, or, where that path is too long for AF_UNIX in bytes (a deep or non-ASCII
        home), a short private one named by the home. The server records the one it bound in engine.json."""
        path = self.home / "engine.sock"
        if len(os.fsencode(path)) <= _SOCKET_PATH_MAX:
            return path
        name = hashlib.sha256(os.fsencode(self.home.resolve())).hexdigest()[:16] + ".sock"
        return _short_socket_dir() / name


def _short_socket_dir() -> Path:
    """This user's own runtime folder where it has one (XDG_RUNTIME_DIR: 0700, emptied at logout), else a folder
    of this user's in /tmp; `private_dir` makes it 0700 and refuses one another user planted."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime) and len(os.fsencode(runtime)) <= _SOCKET_PATH_MAX - 40:
        try:
            if os.stat(runtime).st_uid == os.getuid():
                return Path(runtime) / "tuitune"
        except OSError:
            pass
    return Path("/tmp") / f"tuitune-{os.getuid()}"


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
        info = json.loads(paths.info.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def listening_at(paths: EnginePaths) -> str:
    """Where the home's running server listens ("unix:PATH" or "http://HOST:PORT"); '' when none runs or it has
    not said yet."""
    if not running(paths):
        return ""
    address = read_info(paths).get("address")
    return address if isinstance(address, str) and address.startswith(("unix:", "http://")) else ""


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
