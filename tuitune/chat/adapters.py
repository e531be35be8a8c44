"""Which adapters exist (the store) and which one this client answers with (the engine client), kept in step.

The active adapter's name is a store setting, so the CLI and the TUI start on the adapter the user chose last.
The engine server checks every adapter against its base before it loads it; this side never touches torch.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from typing import Any

from tuitune.client import AdapterError
from tuitune.config import Settings
from tuitune.model.adapters import read_metadata
from tuitune.private import make_private, private_mkdir
from tuitune.store import Store

ACTIVE = "active_adapter"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Adapters:
    def __init__(self, settings: Settings, store: Store, engine: Any):
        self.settings, self.store, self.engine = settings, store, engine

    @property
    def active_name(self) -> str | None:
        return self.store.get_setting(ACTIVE) or None

    def add(self, path: str | Path, name: str | None = None) -> str:
        """Copy an outside adapter into the home, have the engine check and load it against its base, register it."""
        source = Path(path).expanduser()
        name = name or source.name
        if not _NAME.match(name):
            raise AdapterError(f"{name!r} is not a usable adapter name (letters, digits, . _ -; at most 64)")
        if self.store.adapter(name) is not None:
            raise AdapterError(f"an adapter named {name!r} exists already; pass --name")
        target = self.settings.adapters_dir / name
        if target.exists():
            raise AdapterError(f"{target} exists already; pass another --name")
        private_mkdir(self.settings.adapters_dir)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.settings.adapters_dir))
        try:
            for file in ("adapter_config.json", "adapter_model.safetensors", "tuitune.json", "README.md"):
                _copy_inside(source, file, tmp)
            make_private(tmp)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        try:
            self.engine.load_adapter(name, str(target), activate=False)
        except Exception:
            shutil.rmtree(target, ignore_errors=True)
            raise
        meta = read_metadata(target)
        self.store.add_adapter(
            name, str(target), self.engine.info.name, method=meta.get("method"),
            template_fingerprint=meta.get("template_fingerprint"), metrics=meta.get("metrics"),
        )
        return name

    def use(self, name: str | None) -> float:
        """Make `name` (None = base) live in the engine and remember it; returns the swap's seconds."""
        seconds = 0.0
        if name is None:
            if self.engine.ready:
                seconds = self.engine.activate(None)
        else:
            adapter = self.store.adapter(name)
            if adapter is None:
                raise AdapterError(f"no adapter named {name!r}; `tuitune adapters` lists them")
            if self.engine.ready:
                if name in self.engine.loaded_adapters:
                    seconds = self.engine.activate(name)
                else:
                    seconds = self.engine.load_adapter(name, adapter.path)
        self.store.set_setting(ACTIVE, name or "")
        return seconds

    def restore(self) -> str | None:
        """Load the remembered adapter after the model loads; a broken one falls back to base and says why."""
        name = self.active_name
        if not name:
            return None
        try:
            self.use(name)
        except AdapterError:
            self.store.set_setting(ACTIVE, "")
            raise
        return name

    def remove(self, name: str) -> None:
        if self.store.adapter(name) is None:
            raise AdapterError(f"no adapter named {name!r}")
        if self.engine.ready:
            self.engine.unload_adapter(name)
        if self.active_name == name:
            self.store.set_setting(ACTIVE, "")
        self.store.delete_adapter(name)


def _copy_inside(source: Path, file: str, target: Path) -> None:
    """Copy one file of an adapter folder; a link that leads out of the folder is refused, never followed."""
    path = source / file
    if not path.is_file():
        return
    if path.is_symlink() and source.resolve() not in path.resolve().parents:
        raise AdapterError(f"{path}: a link that leaves the adapter folder; copy the real file in")
    shutil.copyfile(path, target / file)
