"""A Textual app with no bindings of its own that appends the name of every key it is given to the file named on
its command line: what reaches an app through the browser, xterm.js and textual-serve."""

from __future__ import annotations

import sys

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Static


class KeyEcho(App, inherit_bindings=False):
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        yield Static("keys go to the file")

    def on_key(self, event: events.Key) -> None:
        with open(self.path, "a", encoding="utf-8") as log:
            log.write(event.key + "\n")


if __name__ == "__main__":
    KeyEcho(sys.argv[1]).run()
