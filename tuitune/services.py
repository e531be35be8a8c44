"""What a front end works with, wired once: `open_services` is the one factory, used by the TUI's `make_app`, the
CLI's context and the tests, so none of them assembles the parts on its own.

Settings are frozen, so every part sees the same values for as long as the object lives. The store is opened and
migrated here; the engine client is created but not attached (the TUI attaches in a thread worker, the CLI when a
verb first needs the model). Nothing here imports Textual or torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tuitune.chat import Chat
from tuitune.chat.adapters import Adapters
from tuitune.client import EngineClient
from tuitune.client.jobs import ServerJobs
from tuitune.config import Settings
from tuitune.store import Store
from tuitune.training import Launcher


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    engine: EngineClient  # or a stand-in with its interface (the tests' scripted engines)
    chat: Chat  # conversation actions: send, answer, regenerate, edit
    adapters: Adapters  # which adapters exist, which one is live, where roll back goes
    training: Launcher  # start, find and follow training runs


def open_services(
    settings: Settings,
    *,
    store: Store | None = None,
    engine: EngineClient | None = None,
    busy_wait_s: float | None = None,
    on_busy: Callable[[], None] | None = None,
) -> Services:
    """Everything over `settings`. The store is opened (with `busy_wait_s` and `on_busy`, see `Store.open`) and the
    engine client created unless given; answers a killed process left streaming are marked stopped."""
    if store is None:
        store = Store.open(settings.db_path, busy_wait_s=busy_wait_s, on_busy=on_busy)
    store.mark_streaming_stopped()
    if engine is None:
        engine = EngineClient(settings)
    return Services(
        settings=settings,
        store=store,
        engine=engine,
        chat=Chat(settings, store, engine),
        adapters=Adapters(settings, store, engine),
        training=Launcher(settings, store, ServerJobs(engine) if isinstance(engine, EngineClient) else None),
    )
