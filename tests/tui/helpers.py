"""Driving the app headless: wait for answers, send a message, read the screen as text."""

from __future__ import annotations

import html
import re

SIZE = (80, 24)


async def settle(pilot) -> None:
    """Wait until the model is in and no answer is streaming, and the screen has caught up."""
    app = pilot.app
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert app.model_ready.is_set()


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in text])


async def send(pilot, text: str) -> None:
    await settle(pilot)
    pilot.app.chat_screen.query_one("#input").focus()
    pilot.app.chat_screen.query_one("#input").load_text(text)
    await pilot.press("enter")
    await settle(pilot)


_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', re.DOTALL)
# Rich's SVG export puts cell (col, row) at x = col * 12.2, y = row * 24.4 + 20.
CHAR_W, LINE_H, BASE = 12.2, 24.4, 20.0


def screen_lines(app) -> list[str]:
    """What the terminal shows, one string per row (read from the app's own SVG screenshot)."""
    width, height = app.size
    grid = [[" "] * width for _ in range(height)]
    for x, y, chunk in _TEXT.findall(app.export_screenshot()):
        row, col = round((float(y) - BASE) / LINE_H), round(float(x) / CHAR_W)
        for offset, char in enumerate(html.unescape(chunk).replace("\xa0", " ")):
            if 0 <= row < height and 0 <= col + offset < width:
                grid[row][col + offset] = char
    return ["".join(row).rstrip() for row in grid]


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))


def widget_text(app, widget) -> str:
    """The part of the screen a widget covers."""
    region = widget.region
    lines = screen_lines(app)[region.y : region.bottom]
    return "\n".join(line[region.x : region.right].rstrip() for line in lines)


def record_notices(app) -> list[str]:
    """Every notification the app shows from now on, as text (the list fills as it shows them)."""
    shown: list[str] = []
    notify = app.notify

    def recording(message, *args, **kwargs):
        shown.append(str(message))
        return notify(message, *args, **kwargs)

    app.notify = recording
    return shown
