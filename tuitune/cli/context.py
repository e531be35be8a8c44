"""What every verb shares: the settings, and the services wired from them on first use (`tuitune.services`: the
store opened and migrated, the engine client attached once when a verb needs the model)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from tuitune.config import Settings, default_home, load_settings
from tuitune.errors import TuituneError, report_unexpected
from tuitune.textsafe import inline

if TYPE_CHECKING:  # the verbs that need them import them: `tuitune --help` stays quick
    from tuitune.chat.adapters import Adapters
    from tuitune.client import EngineClient
    from tuitune.services import Services
    from tuitune.store import Store

T = TypeVar("T")
EX_SOFTWARE = 70  # sysexits.h: an internal error, told apart from a user's mistake (2) and a failed run (1)


class UserError(TuituneError):
    """A mistake the user can fix: printed as one line, exit status 2."""


# What the user can fix besides a TuituneError: a path they named (or the home) that is missing, in the way, or not
# theirs to use. Any other exception is a bug or an unforeseen failure, for `fail_unexpectedly`.
PATH_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)
USER_ERRORS = (TuituneError, *PATH_ERRORS)


def run_guarded(action: Callable[[], T]) -> T:
    """`action()`, with a user's mistake printed as one `tuitune: error:` line and exit status 2."""
    try:
        return action()
    except USER_ERRORS as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        click.echo(f"tuitune: error: {inline(message)}", err=True)
        sys.exit(2)


def fail_unexpectedly(ctx: click.Context, exc: BaseException) -> NoReturn:
    """The end of an exception nothing expected: its traceback to the home's error log, one line naming the log on
    stderr, exit status EX_SOFTWARE."""
    home = ctx.obj.settings.home if isinstance(ctx.obj, CliContext) else _home_asked(ctx)
    what = " ".join(["tuitune", *([ctx.invoked_subcommand] if ctx.invoked_subcommand else [])])
    click.echo(f"tuitune: error: {report_unexpected(home, exc, what)}", err=True)
    sys.exit(EX_SOFTWARE)


def _home_asked(ctx: click.Context) -> Path:
    """The home when the settings did not load: the flag's, or the environment's, or the default."""
    return absolute_home(ctx.params.get("home"))


def absolute_home(home: str | None) -> Path:
    """The home a flag or TUITUNE_HOME names, made absolute once here: paths recorded under it (adapters, runs)
    and the engine server, which runs in a folder of its own, must not depend on where a command ran."""
    return Path(os.path.abspath(Path(home).expanduser() if home else default_home()))


@dataclass
class CliContext:
    settings: Settings
    _services: Services | None = field(default=None, repr=False)

    @classmethod
    def create(cls, home: str | None, overrides: dict[str, Any]) -> CliContext:
        return cls(load_settings(absolute_home(home), overrides))

    def override(self, values: Mapping[str, Any]) -> None:
        """A verb's own flags over the group's settings (`with_overrides`), before anything is wired from them."""
        if self._services is not None:
            raise RuntimeError("a verb's settings change before the store or the engine is used")
        self.settings = self.settings.with_overrides(values)

    @property
    def services(self) -> Services:
        if self._services is None:
            from tuitune.services import open_services

            self._services = open_services(self.settings)
        return self._services

    @property
    def store(self) -> Store:
        return self.services.store

    def engine(self, quiet: bool = False) -> EngineClient:
        """The client, attached (once) to the home's engine server (started detached when none runs) or to
        engine.url."""
        engine = self.services.engine
        if not engine.ready:
            info = engine.load(progress=(lambda _: None) if quiet else (lambda msg: click.echo(msg, err=True)))
            if not quiet:
                click.echo(f"engine: {info.name}, {info.quant} on {info.device} at {info.address}", err=True)
        return engine

    def adapters(self, load_engine: bool = True) -> Adapters:
        """The adapters service; its engine client attached first unless `load_engine` is false (then it acts on
        the engine only if it is attached already)."""
        if load_engine:
            self.engine(quiet=True)
        return self.services.adapters
