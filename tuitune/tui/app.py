"""The tuitune app and `make_app`, the one factory the CLI and the tests share.

The model lives in the engine server, not here: the window paints first, then a thread worker attaches to the
home's server (starting it when none runs) and a message sent before it is ready waits for it. Quitting leaves the
server and its loaded model running for the next start."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from tuitune.chat import Chat
from tuitune.chat.adapters import Adapters
from tuitune.config import Settings
from tuitune.store import Store
from tuitune.textsafe import one_line
from tuitune.tui.curate.dialogs import open_export
from tuitune.tui.screens.chat import ChatScreen
from tuitune.tui.training.commands import training_commands
from tuitune.tui.training.signals import AdapterSwapped


class TuituneApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "tuitune"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    class ModelProgress(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class ModelLoaded(Message):
        def __init__(self, note: str = "") -> None:
            super().__init__()
            self.note = note

    class ModelFailed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, settings: Settings, store: Store, engine: Any) -> None:
        super().__init__()
        self.settings, self.store, self.engine = settings, store, engine
        self.chat = Chat(settings, store, engine)
        self.adapters = Adapters(settings, store, engine)
        self.model_ready = threading.Event()  # set when loading ends, well or badly
        self.model_error = ""  # why it ended badly; written before model_ready is set
        self.chat_screen = ChatScreen(self.chat, store, self)

    def get_default_screen(self) -> Screen:
        return self.chat_screen

    def on_ready(self) -> None:
        self.chat_screen.show_model(f"{self._model_name()} · loading…")
        self._load_model()

    def _model_name(self) -> str:
        spec = self.settings.engine.url or self.settings.model.spec
        return "SmolLM2-135M-Instruct" if spec == "embedded" else spec

    def engine_line(self) -> str:
        """Which engine this app is attached to: model, quantization, device, then '@sock' (the home's server on
        its Unix socket) or the backend and URL."""
        info = self.engine.info
        where = getattr(info, "address", "") or ""
        backend = getattr(info, "backend", "local")
        if where.startswith("unix:"):
            where = "@sock" if backend == "local" else f"@{backend} sock"
        elif where:
            where = f"@{backend} {where.split('://', 1)[-1]}"
        return " ".join(part for part in (info.name, info.quant, info.device, where) if part and part != "?")

    @work(thread=True, exit_on_error=False, group="model")
    def _load_model(self) -> None:
        try:
            if not self.engine.ready:
                self.engine.load(progress=lambda text: self.post_message(self.ModelProgress(text)))
        except Exception as exc:  # a missing or broken model is a message in the app, never a traceback
            self.model_error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            self.model_ready.set()
            self.post_message(self.ModelFailed(self.model_error))
            return
        note = ""
        try:
            self.adapters.restore()
        except Exception as exc:
            note = f"the last adapter could not be loaded, using the base model: {exc}"
        self.model_ready.set()
        self.post_message(self.ModelLoaded(note))

    def on_tuitune_app_model_progress(self, event: ModelProgress) -> None:
        if event.text == "ready" and self.engine.ready:  # the engine client reattached to a new server
            self.chat_screen.show_model(self.engine_line())
        else:
            self.chat_screen.show_model(f"model: {event.text}")

    def on_tuitune_app_model_loaded(self, event: ModelLoaded) -> None:
        info = self.engine.info
        self.chat_screen.show_model(self.engine_line(), self.engine.active_adapter or "base")
        if event.note:
            self.notify(one_line(event.note, 300), severity="warning", markup=False)

    def on_tuitune_app_model_failed(self, event: ModelFailed) -> None:
        self.chat_screen.show_model(f"no model: {event.error}")
        self.notify(one_line(f"the model could not be loaded: {event.error}", 300), severity="error",
                    markup=False, timeout=30)

    def on_adapter_swapped(self, event: AdapterSwapped) -> None:
        self.chat_screen.status.show(adapter=event.name or "base")

    async def action_quit(self) -> None:
        # The generation thread checks this flag every token, so the app does not wait on a long answer; a client
        # still waiting for the engine server to load gives up at once (the server goes on loading for next time).
        self.chat_screen.stop_generation()
        close = getattr(self.engine, "close", None)
        if close is not None and not self.engine.ready:
            close()
        self.exit()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        chat = self.chat_screen
        if screen is not chat:
            return
        yield SystemCommand("New conversation", "Start a new conversation (ctrl+n)", chat.action_new_conversation)
        yield SystemCommand("Rename conversation", "Rename the open conversation", chat.action_rename_conversation)
        yield SystemCommand("Delete conversation", "Delete the open conversation (asks first)",
                            chat.action_delete_conversation)
        yield SystemCommand("System prompt", "Pick or type this conversation's system prompt (F6)",
                            chat.action_system_prompt)
        yield SystemCommand("Toggle conversation list", "Show or hide the list (ctrl+s)",
                            chat.action_toggle_conversations)
        yield SystemCommand("Judge good", "Mark the selected answer good (F2)", lambda: chat.action_judge("good"))
        yield SystemCommand("Judge bad", "Mark the selected answer bad (F3)", lambda: chat.action_judge("bad"))
        yield SystemCommand("Edit message", "Edit the selected message (e)", chat.action_edit)
        yield SystemCommand("Regenerate answer", "A new sibling answer (F4)", chat.action_regenerate)
        yield SystemCommand("Stop generating", "Stop the answer in flight (Esc)", chat.action_stop)
        yield SystemCommand("Curate judged answers", "Filter, search, re-judge, exclude, delete (F8)",
                            chat.action_curate)
        yield SystemCommand("Blind A/B", "Two adapters (or one and base) answer the latest turn blind (F9)",
                            chat.action_ab_test)
        yield SystemCommand("Export", "Judged data as sft / dpo / kto / conversations JSONL or Parquet",
                            lambda: open_export(self, self.store, self.settings))
        yield from training_commands(chat)
        yield SystemCommand("Keys", "Every key binding (F1)", chat.action_help)


def make_app(settings: Settings, *, store: Store | None = None, engine: Any = None) -> TuituneApp:
    """The app over `settings`; the store is opened and the engine client created here unless given."""
    if store is None:
        # A short bound: a write must never freeze the event loop for long while another process holds the store.
        store = Store.open(settings.db_path, busy_wait_s=2.0, on_busy=lambda: None)
    store.mark_streaming_stopped()
    if engine is None:
        from tuitune.client import EngineClient

        engine = EngineClient(settings)
    return TuituneApp(settings, store, engine)
