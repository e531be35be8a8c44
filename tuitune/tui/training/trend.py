"""The adapters screen's trend: how each version the runs trained did, oldest to newest, one column per version.

Two rows of block characters, agreement with the held-out judgements and accuracy on the check questions, over a row
that marks the live version. Both figures are shares, so both rows share one scale (▁ is 0, █ is 1) and a version
without a figure (not measured, or too few held-out judgements to tell) is a gap."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.widgets import Static

from tuitune.generation import BASE
from tuitune.store.records import Adapter
from tuitune.textsafe import one_line
from tuitune.training.verdict import harmed

BLOCKS = "▁▂▃▄▅▆▇█"
GAP = "·"
LIVE = "▲"
MAX_VERSIONS = 48  # the newest this many; with the labels and values they fit an 80-column terminal
LABEL_WIDTH = 10


@dataclass(frozen=True)
class Version:
    """An adapter a run trained, with the figures the trend plots; None where there is none."""

    name: str
    agreement: float | None
    checks: float | None
    harmed: bool  # the checks fell further from the base than the gate allows


def _share(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def agreement_share(metrics: dict[str, Any]) -> float | None:
    """The adapter's agreement with the held-out judgements, where there were enough of them to tell."""
    figures = metrics.get("agreement")
    if not isinstance(figures, dict) or not figures.get("enough") or figures.get("error"):
        return None
    return _share(figures.get("adapter"))


def checks_share(metrics: dict[str, Any]) -> float | None:
    effect = metrics.get("effect")
    if not isinstance(effect, dict) or effect.get("error"):
        return None
    return _share(effect.get("adapter_accuracy"))


def versions(adapters: Iterable[Adapter]) -> list[Version]:
    """The adapters that came from runs, oldest first; an imported adapter is no version of the user's own."""
    trained = sorted((adapter for adapter in adapters if adapter.run_id is not None), key=lambda adapter: adapter.id)
    return [
        Version(
            adapter.name,
            agreement_share(adapter.metrics or {}),
            checks_share(adapter.metrics or {}),
            harmed((adapter.metrics or {}).get("effect")),
        )
        for adapter in trained
    ]


def block(share: float | None) -> str:
    if share is None:
        return GAP
    return BLOCKS[min(max(int(share * len(BLOCKS)), 0), len(BLOCKS) - 1)]


def trend_text(all_versions: list[Version], live: str | None) -> Text:
    """The three rows; the names are data, so they go in as plain text, never as markup."""
    if not all_versions:
        return Text("trend: no adapter from a training run yet", style="dim")
    shown = all_versions[-MAX_VERSIONS:]
    text = Text(no_wrap=True, overflow="ellipsis")
    for figure in ("agreement", "checks"):
        text.append(f"{figure:<{LABEL_WIDTH}}", style="bold")
        for version in shown:
            share = getattr(version, figure)
            style = "dim" if share is None else "bold red" if figure == "checks" and version.harmed else ""
            text.append(block(share), style=style)
        latest = getattr(shown[-1], figure)
        text.append(" —\n" if latest is None else f" {latest:.2f}\n")
    text.append(f"{'live':<{LABEL_WIDTH}}", style="bold")
    names = [version.name for version in shown]
    if live in names:
        column = names.index(live)
        text.append(" " * column)
        text.append(LIVE, style="bold green")
        text.append(" " * (len(shown) - column))
        text.append(one_line(live or "", 32), style="bold")
    else:
        text.append(one_line(live or BASE, 32), style="bold")
        text.append(" (no version in the trend)")
    count, older = len(all_versions), len(all_versions) - len(shown)
    text.append(f" · {count} version{'s' if count > 1 else ''}, oldest → newest")
    text.append(f", the {older} oldest left out" if older else "")
    return text


class Trend(Static):
    """Agreement and checks per trained version, oldest to newest, the live one marked."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)

    def show(self, adapters: Iterable[Adapter], live: str | None) -> None:
        self.update(trend_text(versions(adapters), live))
