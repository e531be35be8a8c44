"""A real browser for `tuitune web`: Debian's Chromium, headless, driven by Playwright for Python (no browser
download). textual-serve draws the app into an xterm.js terminal on a canvas, so the screen is read from that
terminal's own buffer: a script in the page keeps the Terminal object textual-serve makes."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

# textual-serve keeps its Terminal in a closure, as `this.terminal` of its page object: the first object given a
# `terminal` that has a buffer is kept as window.__xterm (the property is then set as if nothing were in between).
KEEP_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
    if (value && value.buffer && !window.__xterm) window.__xterm = value;
  },
});
"""
SCREEN = """() => {
  const terminal = window.__xterm;
  if (!terminal) return null;
  const buffer = terminal.buffer.active, rows = [];
  for (let y = 0; y < terminal.rows; y++) rows.push(buffer.getLine(buffer.viewportY + y).translateToString(true));
  return rows.join("\\n");
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(interval)
    return result


class Tab:
    """One browser tab on a textual-serve page: read its screen, type, press keys."""

    def __init__(self, page) -> None:
        self.page = page

    def screen(self) -> str:
        return self.page.evaluate(SCREEN) or ""

    def bottom(self) -> str:
        return self.screen().rstrip("\n").splitlines()[-1] if self.screen().strip() else ""

    def wait_for(self, text: str, timeout: float) -> str:
        try:
            return wait_until(lambda: text in (screen := self.screen()) and screen, timeout, f"{text!r} on screen")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the tab shows:\n{self.screen()}") from None

    def focus(self) -> None:
        """What a click on the terminal does: the page's terminal takes the keyboard and tells the app."""
        self.page.evaluate("() => window.__xterm.focus()")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium from the system (CI installs Debian's `chromium`); --no-sandbox: CI runs as root."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def open_tab(browser):
    """`open_tab(url)`: a new tab (its own browser context) on `url`, once its terminal exists."""
    contexts = []

    def open_(url: str) -> Tab:
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        contexts.append(context)
        # Only the page's own server: the page asks Google for a font, and CI has no network.
        context.route("**/*", lambda route: route.continue_() if "//localhost" in route.request.url else route.abort())
        page = context.new_page()
        page.add_init_script(KEEP_TERMINAL)
        page.goto(url, wait_until="domcontentloaded")
        wait_until(lambda: page.evaluate("() => Boolean(window.__xterm)"), 15, "the page's terminal")
        return Tab(page)

    yield open_
    for context in contexts:
        context.close()
