"""The app-wide signal that a different adapter went live; the panel and the adapters screen post it to the app."""

from __future__ import annotations

from textual.message import Message

# Store setting: the adapter that was live before the last switch ("" = base); "roll back" returns to it.
PREVIOUS = "previous_adapter"


class AdapterSwapped(Message):
    """`name` (None = base) is live now, after `seconds`; `previous` was live before."""

    def __init__(self, name: str | None, seconds: float, previous: str | None) -> None:
        super().__init__()
        self.name, self.seconds, self.previous = name, seconds, previous
