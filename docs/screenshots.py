"""The README's pictures, drawn by the real app (`make screenshots`): docs/chat.svg, the chat mid-loop (a judged
answer and a training run in progress), and docs/adapters.svg, the adapters screen with its trend.

The app runs headless (Textual's Pilot) over a temporary home: the sample judgements as `tuitune import` loads
them, and six earlier runs as the trainer records them. The scripted engine of the layout tests stands in for
the model and the trainer's events are replayed, so a picture takes seconds, needs no model, and changes only when
the screens do (the store's clock is fixed too)."""

from __future__ import annotations

import asyncio
import itertools
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tuitune.model.source import EMBEDDED_NAME

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the scripted engine of the layout tests (tests/tui/scripted.py)

SIZE = (110, 32)
QUESTION = (
    "Summarise: the council voted to close the old library on Friday. A new one opens across town in the spring, "
    "with longer hours and a café."
)
ANSWER = (
    "TL;DR: the old library closes Friday; a bigger one opens across town in spring.\n\n"
    "The council's vote ends the old building's run. Its replacement keeps longer hours and adds a café."
)
# Earlier runs, each trained on top of the one before: (name, method, examples, final loss, agreement with the
# held-out judgements, accuracy on the check questions, promoted). The fifth fell on the checks and was held back.
EARLIER_RUNS = [
    ("tldr-1", "sft", 24, 1.62, 0.45, 0.57, True),
    ("tldr-2", "sft", 31, 1.48, 0.55, 0.57, True),
    ("tldr-3", "kto", 38, 0.71, 0.64, 0.60, True),
    ("tldr-4", "dpo", 12, 0.52, 0.73, 0.60, True),
    ("tldr-5", "dpo", 16, 0.44, 0.77, 0.47, False),
    ("tldr-6", "dpo", 20, 0.48, 0.82, 0.63, True),
]
BASE_CHECKS = 0.57
RUN_ID = len(EARLIER_RUNS) + 1
LOSSES = (2.41, 2.02, 1.71, 1.52, 1.43)
RUN = [  # the trainer's events up to the fifth of twelve steps: the run is in progress in the picture
    {"event": "start", "run_id": RUN_ID, "method": "dpo", "examples": 24},
    {"event": "phase", "name": "load", "t": 0.4},
    {"event": "phase", "name": "prepare", "t": 3.1, "rows": 24, "dropped": 0},
    {"event": "phase", "name": "train", "t": 3.5, "total": 12},
    *[
        {"event": "progress", "step": step, "total": 12, "loss": loss, "lr": 5e-5, "tokens_per_s": 812.0,
         "eta_s": 4.0 * (12 - step), "memory_mb": 1536.0}
        for step, loss in enumerate(LOSSES, 1)
    ],
]  # fmt: skip


def fix_the_clock() -> None:
    """Every store timestamp from a counter: 2024-05-06 09:00, then a minute later each time one is taken."""
    import importlib
    import pkgutil

    import tuitune.store

    start, ticks = datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc), itertools.count()

    def now() -> str:
        return (start + timedelta(minutes=next(ticks))).isoformat(timespec="microseconds")

    for info in pkgutil.iter_modules(tuitune.store.__path__):
        module = importlib.import_module(f"tuitune.store.{info.name}")
        if hasattr(module, "utc_now"):
            module.utc_now = now


def fill(store, adapters_dir: Path) -> None:
    """The sample judgements, then the earlier runs as the trainer records them; the newest promoted one is live."""
    from tuitune.chat.adapters import ACTIVE
    from tuitune.exchange import import_files

    import_files(store, [REPO / "sample_data" / "tldr_conversations.jsonl"])
    parent, live, live_agreement = None, None, 0.41
    for name, method, examples, loss, agreement, checks, promoted in EARLIER_RUNS:
        run = store.create_run(method, params={}, example_ids=[], base_model=EMBEDDED_NAME, status="running")
        metrics = {
            "final_loss": loss,
            "train_s": 31.5,
            "agreement": {"n": 11, "pairs": 8, "thumbs": 3, "enough": True, "base": 0.41, "live": live_agreement,
                          "adapter": agreement, "base_ci": [0.18, 0.68], "live_ci": interval(live_agreement),
                          "adapter_ci": interval(agreement), "wins": 5, "losses": 1, "p": 0.11},
            "effect": {"rule": "first line ~ ^TL;DR:", "behaviour_n": 28, "checks_n": 30, "base_rate": 0.0,
                       "adapter_rate": min(agreement + 0.2, 1.0), "base_accuracy": BASE_CHECKS,
                       "adapter_accuracy": checks},
        }  # fmt: skip
        adapter = {"name": name, "path": str(adapters_dir / name), "parent_id": parent, "metrics": metrics,
                   "example_counts": {"rows": examples}}  # fmt: skip
        promotion = ("promoted", "better than the live model") if promoted else ("held_back", "the checks fell")
        adapter_id = store.finish_run(run, adapter=adapter, promotion=promotion)
        if promoted:
            parent, live, live_agreement = adapter_id, name, agreement
    store.set_setting(ACTIVE, live)


def interval(share: float) -> list[float]:
    """A 95% interval about `share` as wide as 11 judgements give, near enough for a picture."""
    return [round(max(share - 0.27, 0.0), 3), round(min(share + 0.15, 1.0), 3)]


def replayed_run(store, run_dir: Path):
    """A run handle whose events are RUN's, then none until the app closes: a trainer mid-run, no process."""
    from tuitune.training import RunHandle

    class Replayed(RunHandle):
        def events(self, poll_s: float = 0.2, stop: threading.Event | None = None) -> Iterator[dict[str, Any]]:
            yield from RUN
            if stop is not None:
                stop.wait()

    reason = "DPO on 24 pairs of a better and a worse answer to one prompt"
    return Replayed(run_id=RUN_ID, run_dir=run_dir, store=store, method="dpo", reason=reason, adapter_name="tldr-7")


async def settle(pilot) -> None:
    """Every worker done but the run's follower (which waits for the app to close), and the screen caught up."""
    for _ in range(4):
        while any(worker.is_running for worker in pilot.app.workers if worker.group != "training"):
            await asyncio.sleep(0.02)
        await pilot.pause()


async def still(pilot) -> None:
    """No blinking cursor and no toast (both run on a clock)."""
    from textual.widgets import TextArea

    for area in pilot.app.screen.query(TextArea):
        area.cursor_blink = False
    pilot.app.clear_notifications()
    await pilot.pause()


async def draw(out: Path) -> None:
    from textual.widgets import TextArea
    from tui.scripted import ScriptedEngine

    from tuitune.config import load_settings
    from tuitune.store import Store
    from tuitune.tui.app import make_app
    from tuitune.tui.training.panel import TrainingPanel

    class Engine(ScriptedEngine):  # the embedded model's name; adapters load and swap at once
        def __init__(self, replies: list[str]) -> None:
            super().__init__(replies)
            self.info = replace(self.info, name=EMBEDDED_NAME)

        def load_adapter(self, name: str, folder: str, activate: bool = True) -> float:
            self.loaded_adapters[name] = folder
            self.active_adapter = name if activate else self.active_adapter
            return 0.42

        def activate(self, name: str | None) -> float:
            self.active_adapter = name
            return 0.42

    with tempfile.TemporaryDirectory(prefix="tuitune-screenshots-") as folder:
        home = Path(folder) / "home"
        settings = load_settings(home)
        with Store.open(settings.db_path) as store:
            fill(store, settings.adapters_dir)
            app = make_app(settings, store=store, engine=Engine([ANSWER]))
            async with app.run_test(size=SIZE) as pilot:
                await settle(pilot)
                app.chat_screen.query_one("#input", TextArea).load_text(QUESTION)
                await pilot.press("enter")
                await settle(pilot)
                await pilot.press("f2")
                panel = app.chat_screen.query_one(TrainingPanel)
                panel.post_message(TrainingPanel.Started(replayed_run(store, Path(folder) / f"run-{RUN_ID}")))
                while len(panel.losses) < len(LOSSES):
                    await pilot.pause(0.05)
                await settle(pilot)
                await still(pilot)
                print(app.save_screenshot("chat.svg", str(out)))
                await pilot.press("f7", "down")  # the live adapter's row, with its promotion in the detail line
                await settle(pilot)
                await still(pilot)
                print(app.save_screenshot("adapters.svg", str(out)))
                app.exit()


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs"
    out.mkdir(parents=True, exist_ok=True)
    fix_the_clock()
    asyncio.run(draw(out))


if __name__ == "__main__":
    main()
