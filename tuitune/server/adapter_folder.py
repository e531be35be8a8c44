"""What `/v1/load_lora_adapter` is given, checked before the engine's lock is taken: a path the system can look up,
a folder, and in it only regular files of sane size where tuitune and peft will read.

Opening a FIFO blocks until someone writes to it, and reading a device or a 10 GB "config" never ends in time:
inside the engine's lock, either would stop every chat behind it. Looking (stat) never blocks, so it is done
first; a file swapped for a FIFO in the instant between this check and the load is the user's own race.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from tuitune.server.protocol import ApiError
from tuitune.textsafe import one_line

# What the engine (tuitune.model.adapters) and peft open in an adapter folder, and how large each may be.
_READ_FILES = {
    "adapter_config.json": 2**20,
    "tuitune.json": 16 * 2**20,  # a run's metadata lists its example ids
    "adapter_model.safetensors": None,  # read through its header; the engine matches every shape to the base
    "adapter_model.bin": None,  # never opened, only named in a refusal
}


def checked_folder(path: Any) -> str:
    """`path` as the engine may load it, or ApiError 400 saying why not."""
    if not isinstance(path, str) or not path:
        raise ApiError(400, "'lora_path' must be the adapter's folder", "lora_path")
    if "\x00" in path:
        raise ApiError(400, "'lora_path' holds a NUL character", "lora_path")
    if not os.path.isabs(path):
        raise ApiError(400, "'lora_path' must be an absolute path (the server's folder is not yours)", "lora_path")
    shown = one_line(path, 160)
    info = _stat(path, shown)
    if not stat.S_ISDIR(info.st_mode):
        raise ApiError(400, f"{shown}: not a folder", "lora_path")
    for name, limit in _READ_FILES.items():
        try:
            file = os.stat(os.path.join(path, name))
        except FileNotFoundError:
            continue  # the engine says what is missing
        except OSError as exc:
            raise ApiError(400, f"{shown}/{name}: {exc.strerror or exc}", "lora_path") from None
        if not stat.S_ISREG(file.st_mode):
            raise ApiError(400, f"{shown}/{name}: not a regular file", "lora_path")
        if limit is not None and file.st_size > limit:
            too_big = f"{shown}/{name}: {file.st_size:,} bytes, over the {limit:,} an adapter needs"
            raise ApiError(400, too_big, "lora_path")
    return path


def _stat(path: str, shown: str) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as exc:  # ENOENT, ENAMETOOLONG, ELOOP, EACCES, ENOTDIR: all the caller's to fix
        raise ApiError(400, f"{shown}: {exc.strerror or exc}", "lora_path") from None
