"""Files and folders that only the user can read: folders 0700, files 0600, whatever the umask.

Everything under the home holds the user's conversations or decides what tuitune runs, so whoever creates
something there goes through these helpers. `secure_home` narrows what an older version (or another tool) left
readable by others; nothing here ever widens a mode or touches what belongs to someone else.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Any

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_mkdir(path: str | os.PathLike[str]) -> Path:
    """Create `path` and every missing parent as 0700 folders and return it. Folders that already exist are
    left as they are (a model cache may deliberately be shared); `secure_home` narrows the home's own."""
    path = Path(path)
    missing: list[Path] = []
    here = path
    while not os.path.lexists(here):
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, FOLDER_MODE)
        except FileExistsError:  # another process made it meanwhile
            continue
        # mkdir's mode goes through the umask, which may also have taken the owner's own bits.
        os.chmod(folder, FOLDER_MODE)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a folder")
    return path


def private_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> IO[Any]:
    """`open(path, mode)` for writing, the file 0600 from its first byte (an existing file is narrowed too).
    The mode must write ('w', 'a', 'x', with 'b' or '+' as usual); kwargs go to `open` (encoding, newline)."""
    if not any(flag in mode for flag in "wax"):
        raise ValueError(f"private_open is for writing, not mode {mode!r}")
    flags = os.O_CREAT | (os.O_RDWR if "+" in mode else os.O_WRONLY)
    if "x" in mode:
        flags |= os.O_EXCL
    elif "a" in mode:
        flags |= os.O_APPEND
    else:
        flags |= os.O_TRUNC
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
        return open(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def private_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """`Path.write_text`, but the file is 0600."""
    with private_open(path, "w", encoding=encoding) as handle:
        handle.write(text)


def make_private(path: str | os.PathLike[str], depth: int | None = None) -> list[Path]:
    """Take every permission for the group and others from `path` and everything below it that this user owns
    (so folders become 0700 and files 0600), down to `depth` levels below `path` (None: all the way). Symlinks
    are never followed (a chmod through one would change its target). Returns what was changed."""
    path = Path(path)
    changed: list[Path] = []
    uid = os.geteuid()

    def narrow(where: Path, info: os.stat_result) -> None:
        # Only the group's and others' bits go; the owner's stay as they are (a read-only file stays so).
        if info.st_uid == uid and stat.S_IMODE(info.st_mode) & 0o077:
            try:
                os.chmod(where, stat.S_IMODE(info.st_mode) & 0o700)
            except OSError:  # read-only filesystem and the like: nothing more can be done from here
                return
            changed.append(where)

    try:
        top = os.lstat(path)
    except FileNotFoundError:
        return changed
    if not (stat.S_ISDIR(top.st_mode) or stat.S_ISREG(top.st_mode)):
        return changed
    narrow(path, top)
    stack = [(path, 0)] if stat.S_ISDIR(top.st_mode) else []
    while stack:
        folder, level = stack.pop()
        if depth is not None and level >= depth:
            continue
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                narrow(Path(entry.path), info)
                stack.append((Path(entry.path), level + 1))
            elif stat.S_ISREG(info.st_mode):
                narrow(Path(entry.path), info)
            # Sockets, FIFOs and symlinks keep their modes: a socket's server checks its own peers.
    return changed


def trusted_file_problem(path: Path, info: os.stat_result) -> str | None:
    """Why a file that decides what tuitune runs must not be trusted, or None: owned by someone else, or
    writable by someone else (as OpenSSH judges its config: a group write is fine in the user's own group)."""
    if info.st_uid != os.geteuid():
        return f"it belongs to another user (uid {info.st_uid})"
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o002 or (mode & 0o020 and not _own_group(info.st_gid)):
        who = "every user" if mode & 0o002 else "other users in its group"
        return f"{who} can write it (mode {mode:04o}); if you wrote it yourself, run `chmod go-w` on it"
    return None


def _own_group(gid: int) -> bool:
    """Whether `gid` is this user's private group: named after the user, with no other members."""
    try:
        import grp
        import pwd

        user = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(gid)
    except (ImportError, KeyError):
        return False
    return group.gr_name == user and set(group.gr_mem) <= {user}
