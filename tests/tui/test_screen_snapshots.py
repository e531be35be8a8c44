"""Layout snapshots (pytest-textual-snapshot) of every screen besides the chat: curate, adapters (F7), the training
panel after a finished run, blind A/B, and the dialogs a user meets most (edit, exchange, delete, train options,
before/after). The scripted engine stands in for the model; the store is filled directly under a fixed clock, so
nothing in a picture depends on when or where the test runs. Regenerate after a deliberate layout change with

    .venv/bin/python -m pytest tests/tui/test_screen_snapshots.py --snapshot-update
"""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import random
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from textual.widgets import Input, TextArea

import tuitune.store
from tuitune.chat import ab as chat_ab
from tuitune.chat.adapters import ACTIVE
from tuitune.training import RunHandle
from tuitune.tui.app import make_app
from tuitune.tui.training import panel as panel_module
from tuitune.tui.training.panel import TrainingPanel

from .scripted import ScriptedEngine

SIZE = (100, 30)
START = datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)


class SwappingEngine(ScriptedEngine):
    """The scripted engine, able to load and switch adapters (each swap takes a made-up, fixed time)."""

    SWAP_S = 0.42

    def __init__(self, settings, replies: list[str] | None = None) -> None:
        super().__init__(replies)
        self.settings = settings  # the before/after comparison reads the chat's max_new_tokens

    def load_adapter(self, name: str, folder: str, activate: bool = True) -> float:
        self.loaded_adapters[name] = folder
        if activate:
            self.active_adapter = name
        return self.SWAP_S

    def activate(self, name: str | None) -> float:
        self.active_adapter = name
        return self.SWAP_S

    def unload_adapter(self, name: str) -> None:
        self.loaded_adapters.pop(name, None)
        if self.active_adapter == name:
            self.active_adapter = None


class ReplayedRun(RunHandle):
    """A run handle whose events are the given dicts, as a trainer would have written them; no process runs."""

    def __init__(self, recorded: list[dict[str, Any]], **fields: Any) -> None:
        super().__init__(**fields)
        self.recorded = recorded

    def events(self, poll_s: float = 0.2, stop=None):
        yield from self.recorded

    def cancel(self) -> None:  # pragma: no cover - nothing to cancel
        pass


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """Every store timestamp from a counter: 2024-05-06 09:00, then a minute later each time one is taken."""
    ticks = itertools.count()

    def now() -> str:
        return (START + timedelta(minutes=next(ticks))).isoformat(timespec="microseconds")

    for info in pkgutil.iter_modules(tuitune.store.__path__):
        module = importlib.import_module(f"tuitune.store.{info.name}")
        if hasattr(module, "utc_now"):
            monkeypatch.setattr(module, "utc_now", now)


def story(store) -> dict[str, int]:
    """Two adapters (the second trained on top of the first) and judged answers from the base and from both: a DPO
    pair, an excluded answer, and one blind A/B pick. Opened last (so shown first): "Colours"."""
    one = store.add_adapter("tldr-1", "/nowhere/tldr-1", "scripted-model", method="sft",
                            metrics={"final_loss": 1.234, "train_s": 42.0,
                                     "effect": {"rule": "first line ~ ^TL;DR:", "behaviour_n": 28, "checks_n": 30, "base_rate": 0.0, "adapter_rate": 0.964, "base_accuracy": 0.567, "adapter_accuracy": 0.433}}, example_counts={"rows": 24})
    two = store.add_adapter("tldr-2", "/nowhere/tldr-2", "scripted-model", method="dpo", parent_id=one,
                            metrics={"final_loss": 0.876, "train_s": 31.5,
                                     "effect": {"rule": "first line ~ ^TL;DR:", "behaviour_n": 28, "checks_n": 30, "base_rate": 0.0, "adapter_rate": 1.0, "base_accuracy": 0.567, "adapter_accuracy": 0.667}}, example_counts={"rows": 12})
    ids = {"tldr-1": one, "tldr-2": two}

    c = store.new_conversation("Printing")
    q = store.add_message(c, "user", "Who invented the printing press?")
    ids["good"] = store.add_message(c, "assistant", "Johannes Gutenberg, around 1440, in Mainz.", q)
    store.judge(ids["good"], "good")
    ids["bad"] = store.add_message(c, "assistant", "Thomas Edison invented it.", q, source="regenerate")
    store.judge(ids["bad"], "bad")

    c = store.new_conversation("Volcanoes")
    q = store.add_message(c, "user", "Why do volcanoes erupt?")
    ids["volcano"] = store.add_message(c, "assistant", "Magma pressure builds until it escapes.", q, adapter_id=one)
    store.judge(ids["volcano"], "good")

    c = store.new_conversation("Tides")
    q = store.add_message(c, "user", "What causes the tides?")
    ids["tides"] = store.add_message(c, "assistant", "The wind pushes the sea about.", q, adapter_id=two)
    store.judge(ids["tides"], "bad")
    store.set_excluded(ids["tides"], True)

    c = store.new_conversation("Colours")
    q = store.add_message(c, "user", "Name a colour.")
    a = store.add_message(c, "assistant", "Blue.", q, source="ab", adapter_id=two)
    b = store.add_message(c, "assistant", "A colour.", q, source="ab", adapter_id=one)
    store.record_comparison(q, a, b, "a")
    ids["colours"], ids["colour_question"] = c, q
    return ids


async def settled(pilot) -> None:
    """Workers done, the screen caught up, no blinking cursor and no toast: toasts time out on a clock."""
    app = pilot.app
    for _ in range(4):
        await app.workers.wait_for_complete()
        await pilot.pause()
    for screen in {app.screen, app.chat_screen}:
        for widget in [*screen.query(Input), *screen.query(TextArea)]:
            widget.cursor_blink = False
    app.clear_notifications()
    await pilot.pause()


def app_with(settings, store, replies: list[str] | None = None):
    return make_app(settings, store=store, engine=SwappingEngine(settings, replies), continue_latest=True)


# ---- curate (F8) ---------------------------------------------------------------------------------------------------
def test_curate_screen(snap_compare, settings, store):
    """The curate table: five judged answers newest first (one excluded), the counts per training set."""
    story(store)

    async def open_curate(pilot) -> None:
        await settled(pilot)
        await pilot.press("f8")
        await settled(pilot)

    assert snap_compare(app_with(settings, store), terminal_size=SIZE, run_before=open_curate)


def test_curate_exchange_dialog(snap_compare, settings, store):
    """Enter on a curate row: the whole exchange down to that answer."""
    story(store)

    async def open_row(pilot) -> None:
        await settled(pilot)
        await pilot.press("f8")
        await settled(pilot)
        await pilot.press("down", "enter")
        await settled(pilot)

    assert snap_compare(app_with(settings, store), terminal_size=SIZE, run_before=open_row)


def test_curate_delete_confirm_dialog(snap_compare, settings, store):
    """d on a curate row asks first."""
    story(store)

    async def ask_delete(pilot) -> None:
        await settled(pilot)
        await pilot.press("f8")
        await settled(pilot)
        await pilot.press("d")
        await settled(pilot)

    assert snap_compare(app_with(settings, store), terminal_size=SIZE, run_before=ask_delete)


# ---- adapters (F7) -------------------------------------------------------------------------------------------------
def test_adapters_screen(snap_compare, settings, store):
    """The base and both adapters with method, examples, loss, approval, A/B record, date and parent; tldr-2 live."""
    story(store)
    store.set_setting(ACTIVE, "tldr-2")  # restored into the engine at start, as after a restart

    async def open_adapters(pilot) -> None:
        await settled(pilot)
        await pilot.press("f7")
        await settled(pilot)

    assert snap_compare(app_with(settings, store), terminal_size=SIZE, run_before=open_adapters)


# ---- the training panel --------------------------------------------------------------------------------------------
HOLDOUT = [[{"role": "user", "content": "What causes the tides?"}],
           [{"role": "user", "content": "Why is the sky blue?"}]]
BEFORE_AFTER = ["The wind pushes the sea about.", "Because it reflects the sea.",
                "The pull of the Moon and the Sun.", "Sunlight scatters off the air, blue most of all."]
RUN_EVENTS: list[dict[str, Any]] = [
    {"event": "start", "run_id": 7, "method": "sft", "reason": "only good answers so far", "examples": 24},
    {"event": "phase", "name": "load", "t": 0.4},
    {"event": "phase", "name": "prepare", "t": 3.1, "rows": 24, "dropped": 0},
    {"event": "phase", "name": "train", "t": 3.5, "total": 6},
    *[
        {"event": "progress", "step": step, "total": 6, "loss": loss, "lr": 2e-4, "tokens_per_s": 812.0,
         "eta_s": 4.0 * (6 - step), "memory_mb": 1536.0}
        for step, loss in enumerate((2.41, 2.02, 1.71, 1.43, 1.30, 1.21), 1)
    ],
    {"event": "phase", "name": "measure", "t": 25.0},
    {"event": "measure", "part": "agreement", "done": 22, "total": 44, "eta_s": 3.0},
    {"event": "phase", "name": "save", "t": 28.0},
    {"event": "done", "adapter_path": "/nowhere/tldr-3", "adapter_name": "tldr-3", "t": 29.0,
     "metrics": {"train_loss": 1.68, "final_loss": 1.21, "steps": 6, "train_s": 24.5,
                 "agreement": {"n": 11, "pairs": 8, "thumbs": 3, "enough": True, "base": 0.409, "live": 0.409,
                               "adapter": 0.818, "base_ci": [0.181, 0.684], "live_ci": [0.181, 0.684],
                               "adapter_ci": [0.523, 0.949], "wins": 6, "losses": 0, "p": 0.0156},
                 "decision": {"promote": True, "mode": "better", "reason": "better than the live model: agreement 0.82 vs live 0.41 on 11 held-out judgements (6 better, 0 worse, p=0.016); checks 0.53→0.60"},
                 "effect": {"rule": "first line ~ ^TL;DR:", "behaviour_n": 28, "checks_n": 30, "base_rate": 0.0, "adapter_rate": 1.0, "base_accuracy": 0.533, "adapter_accuracy": 0.6}}},
]


async def finish_a_run(pilot, store, tmp_path) -> None:
    """Replay a whole run's events through the panel, as its watcher would, up to the before/after dialog."""
    await settled(pilot)
    # The trainer registers the adapter before it says "done"; the panel swaps it in and compares.
    store.add_adapter("tldr-3", "/nowhere/tldr-3", "scripted-model", method="sft",
                      metrics=RUN_EVENTS[-1]["metrics"], example_counts={"rows": 24})
    handle = ReplayedRun(RUN_EVENTS, run_id=7, run_dir=tmp_path / "run-7", store=store, method="sft",
                         reason="only good answers so far", adapter_name="tldr-3", holdout=HOLDOUT)
    panel = pilot.app.chat_screen.query_one(TrainingPanel)
    panel.post_message(TrainingPanel.Started(handle))
    await settled(pilot)
    assert panel.state == "done", panel.state


def test_training_panel_finished_run(snap_compare, settings, store, tmp_path, monkeypatch):
    """The panel after the run: full bar, the loss curve, the new adapter live; the before/after closed."""
    monkeypatch.setattr(panel_module, "HIDE_AFTER_S", 3600.0)  # the panel hides itself after a while
    story(store)

    async def run_and_close_before_after(pilot) -> None:
        await finish_a_run(pilot, store, tmp_path)
        await pilot.press("escape")
        await settled(pilot)

    app = app_with(settings, store, list(BEFORE_AFTER))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_and_close_before_after)


def test_before_after_dialog(snap_compare, settings, store, tmp_path, monkeypatch):
    """What a finished run opens: the held-out prompts answered before and after the swap."""
    monkeypatch.setattr(panel_module, "HIDE_AFTER_S", 3600.0)
    story(store)

    async def run(pilot) -> None:
        await finish_a_run(pilot, store, tmp_path)

    app = app_with(settings, store, list(BEFORE_AFTER))
    assert snap_compare(app, terminal_size=SIZE, run_before=run)


def test_train_options_dialog(snap_compare, settings, store):
    """ctrl+t: the method and the common settings, with what auto would pick."""
    story(store)

    async def open_options(pilot) -> None:
        await settled(pilot)
        await pilot.press("ctrl+t")
        await settled(pilot)

    assert snap_compare(app_with(settings, store), terminal_size=SIZE, run_before=open_options)


# ---- blind A/B (F9) ------------------------------------------------------------------------------------------------
AB_REPLIES = ["Red, like a ripe tomato.", "Green."]


def test_ab_contenders_dialog(snap_compare, settings, store):
    """F9: the base and both adapters with their records so far; the two newest picked."""
    story(store)

    async def open_contenders(pilot) -> None:
        await settled(pilot)
        await pilot.press("f9")
        await settled(pilot)

    assert snap_compare(app_with(settings, store, list(AB_REPLIES)), terminal_size=SIZE, run_before=open_contenders)


def test_ab_screen_blind(snap_compare, settings, store):
    """Both answers written, labelled only A and B, waiting for the pick."""
    story(store)

    async def round_written(pilot) -> None:
        await settled(pilot)
        await pilot.press("f9")
        await settled(pilot)
        await pilot.press("s")
        await settled(pilot)

    assert snap_compare(app_with(settings, store, list(AB_REPLIES)), terminal_size=SIZE, run_before=round_written)


def test_ab_screen_revealed(snap_compare, settings, store, monkeypatch):
    """After picking A: who was who, and the chosen side marked."""
    seeded = SimpleNamespace(Random=lambda *_: random.Random(1))  # which contender is A, fixed
    monkeypatch.setattr(chat_ab, "random", seeded)
    story(store)

    async def pick_a(pilot) -> None:
        await settled(pilot)
        await pilot.press("f9")
        await settled(pilot)
        await pilot.press("s")
        await settled(pilot)
        await pilot.press("1")
        await settled(pilot)

    assert snap_compare(app_with(settings, store, list(AB_REPLIES)), terminal_size=SIZE, run_before=pick_a)


# ---- chat dialogs --------------------------------------------------------------------------------------------------
def test_edit_dialog(snap_compare, settings, store):
    """e on the selected answer: the answer in an editor, saved as a better sibling."""
    story(store)

    async def edit_latest_answer(pilot) -> None:
        await settled(pilot)
        pilot.app.chat_screen.action_focus_messages()  # selects the latest message: the answer "Blue."
        await pilot.pause()
        await pilot.press("e")
        await settled(pilot)

    assert snap_compare(app_with(settings, store), terminal_size=SIZE, run_before=edit_latest_answer)
