"""vLLM holds each adapter under a name per version: `tldr@3f2a9c01d4e5` for what tuitune calls `tldr`.

Reloading another version under a name vLLM already used can serve the old one: with `load_inplace` it rereads the
adapter from disk on every step (vLLM #33791), and after any reload the prefix cache, whose keys carry the adapter's
name, hands back KV blocks the earlier version computed (#42125). A version is the folder with its files' sizes and
times: the same folder unchanged is the same name (already loaded, nothing to do), a rewritten one is a new name.
Requests and answers go by the served name; everything above the client sees tuitune's.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import suppress
from pathlib import Path

_SERVED = re.compile(r"^(?P<name>.+)@[0-9a-f]{12}$")  # tuitune's own names have no "@"
_VERSIONED_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")


def served_name(name: str, folder: str) -> str:
    """The name vLLM holds `folder`'s adapter under, as it is on disk now."""
    digest = hashlib.sha256(str(folder).encode())
    for file in _VERSIONED_FILES:
        with suppress(OSError):  # a folder only vLLM's machine can read is versioned by its path alone
            stat = (Path(folder) / file).stat()
            digest.update(f"{file}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f"{name}@{digest.hexdigest()[:12]}"


def tuitune_name(served: str) -> str:
    """The name tuitune knows a served adapter by (any other name as it is)."""
    match = _SERVED.match(served)
    return match["name"] if match else served
