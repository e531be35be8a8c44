"""The tuitune app and `make_app`, the one factory the CLI and the tests share; the parts it works with come wired
from `tuitune.services.open_services`.

The model lives in the engine server, not here: the window paints first, then a thread worker attaches to the
home's server (starting it when none runs) and a message sent before it is ready waits for it. Quitting leaves the
server and its loaded model running for the next start."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.signal import Signal
from textual.widgets import Footer

from tuitune.chat.adapters import Swap
from tuitune.client import EngineClient
from tuitune.client.engine import KEEPALIVE_INTERVAL_S
from tuitune.config import EMBEDDED, Settings
from tuitune.errors import TuituneError
from tuitune.generation import BASE
from tuitune.model.source import EMBEDDED_NAME
from tuitune.services import Services, open_services
from tuitune.store import Store
from tuitune.textsafe import one_line
from tuitune.tui import keys
from tuitune.tui.curate.dialogs import open_export
from tuitune.tui.errors import ReportsWorkerErrors, unexpected
from tuitune.tui.screens.chat import ChatScreen


class TuituneApp(ReportsWorkerErrors, App):
    CSS_PATH = "app.tcss"
    TITLE = "tuitune"
    BINDINGS = keys.Application.bindings()

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

    class AdapterChanged(Message):
        """Brings a change of the live adapter from the thread that made it onto the event loop."""

        def __init__(self, swap: Swap) -> None:
            super().__init__()
            self.swap = swap

    def __init__(self, services: Services, continue_latest: bool = False) -> None:
        super().__init__()
        self.services = services
        self.continue_latest = continue_latest
        self.model_ready = threading.Event()  # set when loading ends, well or badly
        self.model_error = ""  # why it ended badly; written before model_ready is set
        self.crash_line = ""  # set when an exception nothing caught ended the app: what failed, where it is logged
        self.adapter_changed: Signal[Swap] = Signal(self, "adapter-changed")
        services.adapters.subscribe(self._adapter_changed_anywhere)
        self.chat_screen = ChatScreen(self)

    def _adapter_changed_anywhere(self, swap: Swap) -> None:
        """Called on the thread that swapped (a worker, mostly): only posting a message is safe there."""
        self.post_message(self.AdapterChanged(swap))

    def get_default_screen(self) -> Screen:
        return self.chat_screen

    def on_ready(self) -> None:
        self.chat_screen.show_model(f"{self._model_name()} · loading…")
        self._load_model()
        if hasattr(self.services.engine, "keepalive"):
            self.set_interval(KEEPALIVE_INTERVAL_S, self._keepalive)
        self.chat_screen.bindings_updated_signal.subscribe(self, self._draw_blurred_footer)
        self.chat_screen.refresh_bindings()

    @work(thread=True, exit_on_error=False, exclusive=True, group="keepalive")
    def _keepalive(self) -> None:
        """An open app holds the engine server: its idle timeout (engine.idle_timeout_s) ends only a forgotten one."""
        self.services.engine.keepalive()

    def _draw_blurred_footer(self, screen: Screen) -> None:
        """Textual's Footer draws its keys only while the app has focus, and in a browser the app starts without it
        (the page's terminal has none until clicked): a new tab showed a blank footer until the first key. A footer
        that has drawn nothing yet draws now, focus or not."""
        if not self.app_focus:
            for footer in screen.query(Footer):
                if not footer.children:
                    footer.call_next(footer.recompose)  # in the footer's own context, as Textual's compose needs

    def get_key_display(self, binding: Binding) -> str:
        """In a browser, a key the browser keeps for itself is told as the key it leaves to the page (keys.py)."""
        told = keys.browser_key(binding.key) if self.is_web else None
        return super().get_key_display(binding.with_key(told) if told else binding)

    def _model_name(self) -> str:
        settings = self.services.settings
        spec = settings.engine.url or settings.model.spec
        return EMBEDDED_NAME if spec == EMBEDDED else spec

    def engine_line(self) -> str:
        """Which engine this app is attached to: model, quantization, device, then '@sock' (the home's server on
        its Unix socket) or the backend and URL."""
        info = self.services.engine.info
        if info is None:  # not attached yet
            return ""
        where = getattr(info, "address", "") or ""
        backend = getattr(info, "backend", "local")
        if where.startswith("unix:"):
            where = "@sock" if backend == "local" else f"@{backend} sock"
        elif where:
            where = f"@{backend} {where.split('://', 1)[-1]}"
        return " ".join(part for part in (info.name, info.quant, info.device, where) if part and part != "?")

    @work(thread=True, exit_on_error=False, group="model")
    def _load_model(self) -> None:
        engine = self.services.engine

        def progress(text: str) -> None:
            self.post_message(self.ModelProgress(text))

        try:
            if not engine.ready:
                engine.load(progress=progress)
        except TuituneError as exc:  # a missing or broken model is a message in the app, never a traceback
            self._model_failed(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
            return
        except Exception as exc:  # a bug: logged, and the app still stops waiting for the model
            self._model_failed(unexpected(self, exc, "loading the model"))
            return
        note = ""
        try:
            self.services.adapters.restore()
        except TuituneError as exc:
            note = f"the last adapter could not be loaded, using the base model: {exc}"
        except Exception as exc:  # still the base model, and the app goes on
            note = unexpected(self, exc, "restoring the last adapter")
        self.model_ready.set()
        self.post_message(self.ModelLoaded(note))

    def _model_failed(self, error: str) -> None:
        self.model_error = error
        self.model_ready.set()
        self.post_message(self.ModelFailed(error))

    def on_tuitune_app_model_progress(self, event: ModelProgress) -> None:
        if event.text == "ready" and self.services.engine.ready:  # the engine client reattached to a new server
            self.chat_screen.show_model(self.engine_line())
        else:
            self.chat_screen.show_model(f"model: {event.text}")

    def on_tuitune_app_model_loaded(self, event: ModelLoaded) -> None:
        self.chat_screen.show_model(self.engine_line(), self.services.engine.active_adapter or BASE)
        if event.note:
            self.notify(one_line(event.note, 300), severity="warning", markup=False)

    def on_tuitune_app_model_failed(self, event: ModelFailed) -> None:
        self.chat_screen.show_model(f"no model: {event.error}")
        self.notify(
            one_line(f"the model could not be loaded: {event.error}", 300), severity="error", markup=False, timeout=30
        )

    def on_tuitune_app_adapter_changed(self, event: AdapterChanged) -> None:
        self.adapter_changed.publish(event.swap)

    def _handle_exception(self, error: Exception) -> None:
        # Textual has no public hook for an exception nothing caught (a bug in a handler): it ends the app and prints
        # the traceback to a terminal that is about to be cleared. Logged here first, the CLI can name the log.
        self.crash_line = unexpected(self, error, "the app")
        super()._handle_exception(error)

    async def action_quit(self) -> None:
        # The generation thread checks this flag every token, so the app does not wait on a long answer; a client
        # still waiting for the engine server to load gives up at once (the server goes on loading for next time).
        self.chat_screen.stop_generation()
        engine = self.services.engine
        close = getattr(engine, "close", None)
        if close is not None and not engine.ready:
            close()
        self.exit()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if screen is self.chat_screen:
            yield from keys.palette(self, screen)

    def action_export(self) -> None:
        """Ask for a format and a path, then export (the palette's Export)."""
        open_export(self, self.services.store, self.services.settings)


def make_app(
    settings: Settings,
    *,
    store: Store | None = None,
    engine: EngineClient | None = None,
    continue_latest: bool = False,
) -> TuituneApp:
    """The app over `settings`; the store is opened and the engine client created unless given (`open_services`).
    It opens a conversation of its own (an empty one nobody else shows, or a new one), or with `continue_latest`
    the latest.
    A store opened here waits briefly: a write must never freeze the event loop for long while another process
    holds the store."""
    services = open_services(settings, store=store, engine=engine, busy_wait_s=2.0, on_busy=lambda: None)
    return TuituneApp(services, continue_latest)
