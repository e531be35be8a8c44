"""What every verb shares: settings, the store (opened and migrated on first use) and the engine (loaded once)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import click

from tuitune.config import Settings, SettingsError, load_settings
from tuitune.textsafe import inline

T = TypeVar("T")


class UserError(Exception):
    """A mistake the user can fix: printed as one line, exit status 2."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Error types that mean 'bad input', not 'bug'; imported lazily so --help stays light."""
    kinds: list[type[BaseException]] = [UserError, SettingsError, OSError, ValueError]
    if "tuitune.client" in sys.modules:
        from tuitune.client import EngineError

        kinds.append(EngineError)
    if "tuitune.model" in sys.modules:
        from tuitune.model import AdapterError, EngineError, ModelSourceError, PromptTooLong

        kinds += [AdapterError, EngineError, ModelSourceError, PromptTooLong]
    if "tuitune.chat" in sys.modules:
        from tuitune.chat import ChatError

        kinds.append(ChatError)
    return tuple(kinds)


def run_guarded(action: Callable[[], T]) -> T:
    try:
        return action()
    except click.exceptions.Exit:
        raise
    except click.ClickException:
        raise
    except user_errors() as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        click.echo(f"tuitune: error: {inline(message)}", err=True)
        sys.exit(2)


@dataclass
class CliContext:
    settings: Settings
    _store: Any = field(default=None, repr=False)
    _engine: Any = field(default=None, repr=False)

    @classmethod
    def create(cls, home: str | None, overrides: dict[str, Any]) -> "CliContext":
        return cls(load_settings(home, overrides))

    @property
    def store(self):
        if self._store is None:
            from tuitune.store import Store

            self._store = Store.open(self.settings.db_path)
            self._store.mark_streaming_stopped()
        return self._store

    def engine(self, quiet: bool = False):
        """A client attached to the home's engine server (started detached when none runs) or to engine.url."""
        if self._engine is None:
            from tuitune.client import EngineClient

            engine = EngineClient(self.settings)
            info = engine.load(progress=(lambda _: None) if quiet else (lambda msg: click.echo(msg, err=True)))
            if not quiet:
                click.echo(f"engine: {info.name}, {info.quant} on {info.device} at {info.address}", err=True)
            self._engine = engine
        return self._engine

    def adapters(self, load_engine: bool = True):
        from tuitune.chat.adapters import Adapters
        from tuitune.client import EngineClient

        engine = self.engine(quiet=True) if load_engine else (self._engine or EngineClient(self.settings))
        return Adapters(self.settings, self.store, engine)
