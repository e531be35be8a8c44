"""Which adapters exist (the store) and which one this client answers with (the engine client), kept in step.

The active adapter's name is a store setting, so the CLI and the TUI start on the adapter the user chose last;
beside it, the one live before the last switch, which roll back returns to. Both are written here only, together,
and every change of the live adapter is told to whoever `subscribe`d (the TUI turns it into a Textual Signal).
The engine server checks every adapter against its base before it loads it; this side never touches torch.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.config import Settings
from tuitune.errors import AdapterError
from tuitune.model.adapters import read_metadata
from tuitune.private import make_private, private_mkdir
from tuitune.store import Store

ACTIVE = "active_adapter"
PREVIOUS = "previous_adapter"  # live before the last switch: "" is the base, no row means no switch yet
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Swap:
    """`name` (None: the base) is live now, after `seconds`; `previous` was live before."""

    name: str | None
    previous: str | None
    seconds: float = 0.0


class Adapters:
    def __init__(self, settings: Settings, store: Store, engine: Any):
        self.settings, self.store, self.engine = settings, store, engine
        self._listeners: list[Callable[[Swap], None]] = []
        self._listeners_lock = threading.Lock()

    def subscribe(self, listener: Callable[[Swap], None]) -> Callable[[], None]:
        """`listener` hears every change of the live adapter, on the thread that made it; call what this returns
        to stop."""
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _announce(self, swap: Swap) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(swap)

    @property
    def active_name(self) -> str | None:
        return self.store.get_setting(ACTIVE) or None

    @property
    def previous_name(self) -> str | None:
        """The adapter live before the last switch: "" for the base, None when there was no switch yet."""
        return self.store.get_setting(PREVIOUS)

    def rollback_target(self) -> str | None:
        """Where roll back goes (None: the base); AdapterError when there is nowhere yet or that adapter is gone."""
        previous = self.previous_name
        if previous is None:
            raise AdapterError("nothing to roll back to yet")
        if previous and self.store.adapter(previous) is None:
            raise AdapterError(f"{previous} was deleted; pick another")
        return previous or None

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
            name,
            str(target),
            self.engine.info.name,
            method=meta.get("method"),
            template_fingerprint=meta.get("template_fingerprint"),
            metrics=meta.get("metrics"),
        )
        return name

    def use(self, name: str | None) -> float:
        """Make `name` (None = base) live in the engine and remember it, and the one it replaces as the rollback
        target; returns the swap's seconds. A held-back adapter made live is marked promoted by hand."""
        previous = self.active_name
        seconds = 0.0
        adapter = None
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
        with self.store.transaction():
            self.store.set_setting(ACTIVE, name or "")
            if name != previous:
                self.store.set_setting(PREVIOUS, previous or "")
            if adapter is not None and adapter.promotion == "held_back" and adapter.run_id is not None:
                self.store.set_promotion(
                    adapter.run_id, "promoted_by_hand", f"promoted by hand; held back: {adapter.promotion_reason}"
                )
        self._announce(Swap(name, previous, seconds))
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
        """Unload and forget `name`; when it was live, the base is live now. Roll back never goes to it after."""
        if self.store.adapter(name) is None:
            raise AdapterError(f"no adapter named {name!r}")
        if self.engine.ready:
            self.engine.unload_adapter(name)
        was_live = self.active_name == name
        with self.store.transaction():
            if was_live:
                self.store.set_setting(ACTIVE, "")
            if was_live or self.previous_name == name:
                self.store.set_setting(PREVIOUS, None)
            self.store.delete_adapter(name)
        if was_live:
            self._announce(Swap(None, name))


def _copy_inside(source: Path, file: str, target: Path) -> None:
    """Copy one file of an adapter folder; a link that leads out of the folder is refused, never followed."""
    path = source / file
    if not path.is_file():
        return
    if path.is_symlink() and source.resolve() not in path.resolve().parents:
        raise AdapterError(f"{path}: a link that leaves the adapter folder; copy the real file in")
    shutil.copyfile(path, target / file)
