"""One line at the bottom: the model, its quantization and device, the live adapter, the judgement counts (what
trains, and how many held-out judgements measure), the judgements left before a run starts by itself
(train.auto_after) and the last answer's speed."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tuitune.textsafe import one_line


class StatusBar(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.model = "model: starting…"
        self.adapter = ""
        self.counts = {"good": 0, "bad": 0, "pairs": 0}
        self.speed = ""
        self.activity = ""
        self.training = ""
        self.auto = ""  # train.auto_after: judgements left before a run starts by itself

    def show(
        self,
        *,
        model: str | None = None,
        adapter: str | None = None,
        counts: dict[str, int] | None = None,
        speed: str | None = None,
        activity: str | None = None,
        training: str | None = None,
        auto: str | None = None,
    ) -> None:
        if model is not None:
            self.model = model
        if adapter is not None:
            self.adapter = adapter
        if counts is not None:
            self.counts = counts
        if speed is not None:
            self.speed = speed
        if activity is not None:
            self.activity = activity
        if training is not None:
            self.training = training
        if auto is not None:
            self.auto = auto
        self.update(self._render_line())

    def _render_line(self) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(one_line(self.model), style="bold")
        if self.adapter:
            line.append(" · ")
            line.append(one_line(self.adapter, 24), style="bold")
        if self.training:  # training progress, or how long the last swap took: before the counts, to be seen
            line.append(f" · {one_line(self.training)}", style="italic")
        if self.auto:  # the countdown to the next run by itself: before the counts, to be seen on a narrow line
            line.append(f" · {self.auto}", style="italic")
        c = self.counts
        line.append(f" · ▲{c['good']} ▼{c['bad']} pairs {c['pairs']}")
        if c.get("heldout"):
            line.append(f" · {c['heldout']} held out")
        if self.activity:
            line.append(f" · {one_line(self.activity)}", style="italic")
        elif self.speed:
            line.append(f" · {self.speed}")
        return line
