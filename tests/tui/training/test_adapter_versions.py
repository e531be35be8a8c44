"""The versions the runs trained, on the adapters screen (F7): the trend of agreement and checks per version with the
live one marked, and p, which makes a version the gate held back live anyway and records that a person did."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

import tuitune
from tuitune.store.records import Adapter
from tuitune.tui.training.adapters_screen import AdaptersScreen
from tuitune.tui.training.trend import BLOCKS, GAP, MAX_VERSIONS, Trend, Version, block, trend_text, versions

from ..helpers import SIZE, screen_text, settle, widget_text
from .conftest import wait_until
from .test_train_keys import record_notices

TCSS = Path(tuitune.__file__).resolve().parent / "tui" / "app.tcss"
FEW = {"n": 5, "enough": False}
HELD_BACK = "too few held-out judgements to tell: 5 held-out judgements, 8 needed"


def enough(adapter: float) -> dict:
    return {"n": 12, "enough": True, "base": 0.5, "live": 0.5, "adapter": adapter, "adapter_ci": [0.3, 0.9],
            "wins": 6, "losses": 1, "p": 0.06}  # fmt: skip


def checks(base: float, adapter: float) -> dict:
    return {"checks_n": 30, "base_accuracy": base, "adapter_accuracy": adapter}


def trained(store, name: str, metrics: dict, promotion: tuple[str, str] | None, path: str = "") -> int:
    """An adapter as a finished run registers it; returns the run's id."""
    run_id = store.create_run("sft", params={}, example_ids=[1, 2], base_model="m", status="running")
    store.update_run(run_id, metrics=metrics)
    store.finish_run(run_id, adapter={"name": name, "path": path or f"/nowhere/{name}"}, promotion=promotion)
    return run_id


class TrendHost(App):
    """The trend alone, with the real stylesheet, showing the store's adapters."""

    CSS_PATH = TCSS

    def __init__(self, adapters: list[Adapter], live: str | None) -> None:
        super().__init__()
        self.adapters, self.live = adapters, live

    def compose(self) -> ComposeResult:
        yield Trend(id="adapters-trend")

    def on_mount(self) -> None:
        self.query_one(Trend).show(self.adapters, self.live)


async def test_the_trend_has_a_column_per_trained_version_and_marks_the_live_one(store):
    # oldest to newest: too few judgements to tell; agreement 0.75 with checks that fell; no checks measured
    trained(store, "v1", {"agreement": FEW, "effect": checks(0.5, 0.5)}, ("held_back", HELD_BACK))
    trained(store, "v2[b]", {"agreement": enough(0.75), "effect": checks(0.5, 0.25)}, ("promoted", "better"))
    store.add_adapter("imported", "/nowhere/imported", "m")  # from outside, no run: not a version
    trained(store, "v3", {"agreement": enough(1.0)}, ("held_back", "not better than the live model by evidence"))
    app = TrendHost(store.adapters(), "v2[b]")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        lines = widget_text(app, app.query_one(Trend)).splitlines()
    assert [line.strip() for line in lines] == [
        f"agreement ·{BLOCKS[6]}{BLOCKS[7]} 1.00",  # 0.75 is the seventh eighth, 1.0 the top
        f"checks    {BLOCKS[4]}{BLOCKS[2]}· —",  # the newest has no checks: its value is a dash
        "live       ▲  v2[b] · 3 versions, oldest → newest",  # the name is text, never markup
    ]
    text = trend_text(versions(store.adapters()), "v2[b]")
    fell = [span for span in text.spans if text.plain[span.start : span.end] == BLOCKS[2]]
    assert [span.style for span in fell] == ["bold red"]  # the checks that fell stand out as in the table


async def test_the_trend_says_when_the_live_model_is_no_trained_version(store):
    trained(store, "v1", {"effect": checks(0.5, 0.625)}, None)
    app = TrendHost(store.adapters(), None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        lines = widget_text(app, app.query_one(Trend)).splitlines()
    assert [line.strip() for line in lines] == [
        "agreement · —",
        f"checks    {BLOCKS[5]} 0.62",
        "live      base (no version in the trend) · 1 version, oldest → newest",
    ]


def test_the_trend_keeps_the_newest_versions_that_fit():
    many = [Version(f"v{i}", None, i / 100, False) for i in range(MAX_VERSIONS + 2)]
    agreement, checks_row, marker = trend_text(many, "v1").plain.splitlines()
    assert checks_row.split()[1] == "".join(block(i / 100) for i in range(2, MAX_VERSIONS + 2))  # v0, v1 fell off
    assert agreement.split() == ["agreement", GAP * MAX_VERSIONS, "—"]
    assert marker.startswith("live      v1 (no version in the trend)") and "the 2 oldest left out" in marker




async def test_p_promotes_a_held_back_version_by_hand(app_for, clean_engine, store, make_adapter):
    one = trained(store, "one", {"agreement": enough(0.75), "effect": checks(0.5, 0.5)}, ("promoted", "better"),
                  str(make_adapter("one", seed=1)))
    two = trained(store, "two", {"agreement": FEW, "effect": checks(0.5, 0.5)}, ("held_back", HELD_BACK),
                  str(make_adapter("two", seed=2)))
    app = app_for(clean_engine)
    shown = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f7")
        screen = app.screen
        assert isinstance(screen, AdaptersScreen)
        table = screen.query_one("#adapters-table")

        await pilot.press("p")  # on the base: nothing to promote
        assert clean_engine.active_adapter is None and any("pick an adapter" in text for text in shown)

        table.move_cursor(row=[row.value for row in table.rows].index("two"))
        await pilot.pause()
        verdict = widget_text(app, screen.query_one("#adapters-verdict")).strip()
        assert verdict.startswith(f"held back: {HELD_BACK[:40]}")
        assert "held back" in widget_text(app, table)

        await pilot.press("p")
        await wait_until(pilot, lambda: clean_engine.active_adapter == "two" and not screen.busy, 60, "promoting two")
        assert store.get_setting("active_adapter") == "two"
        reason = store.adapter("two").promotion_reason
        assert reason.startswith("promoted by hand; held back") and reason.endswith(HELD_BACK)
        assert store.adapter("two").promotion == store.run(two).promotion == "promoted_by_hand"
        assert store.run(two).promotion_reason == reason
        assert (store.run(one).promotion, store.adapter("one").promotion) == ("promoted", "promoted")
        assert any(text.startswith("two is live") and reason in text for text in shown)
        assert "live: two" in screen_text(app) and "by hand" in widget_text(app, table)
        assert widget_text(app, screen.query_one("#adapters-verdict")).strip().startswith("promoted by hand; held")
        marker = widget_text(app, screen.query_one(Trend)).splitlines()[-1]
        assert marker.split()[:3] == ["live", "▲", "two"] and marker.index("▲") == marker.index("live") + 11
