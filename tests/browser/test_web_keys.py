"""Every key the app binds, pressed in headless Chromium on a textual-serve page (the page `tuitune web` serves),
reaches a Textual app under the name the app binds, but Shift+Enter and Alt+Enter, which the page sends as ctrl+j.

Headless Chromium takes keys through DevTools, below the browser's own shortcuts, so this cannot show which keys a
desktop browser keeps for itself (Chromium ctrl+n, ctrl+t, ctrl+w; Firefox on Linux ctrl+q): keys.py names those,
and here the keys told instead of them arrive like every other."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tuitune.tui import keys

from .conftest import free_port, wait_until

pytestmark = pytest.mark.browser

KEY_ECHO = Path(__file__).with_name("keyecho.py")
# Playwright's names for the keys Textual names otherwise.
PRESSED = {"question_mark": "?", "plus": "+", "minus": "-", "slash": "/", "up": "ArrowUp", "down": "ArrowDown",
           "left": "ArrowLeft", "right": "ArrowRight"}  # fmt: skip
MODIFIERS = {"ctrl": "Control", "shift": "Shift", "alt": "Alt"}
SENT_AS = {"shift+enter": "ctrl+j", "alt+enter": "ctrl+j"}  # tuitune.cli.web's page script


def pressed(name: str) -> str:
    *modifiers, key = name.split("+")
    key = PRESSED.get(key) or (key.upper() if key[0] == "f" and key[1:].isdigit() else key)
    key = key.capitalize() if len(key) > 1 and key.islower() else key
    return "+".join([*(MODIFIERS[m] for m in modifiers), key])


def app_keys() -> list[str]:
    return list(dict.fromkeys(name for source in keys.ALL for key in source.all() for name in key.names))


@pytest.fixture
def key_echo_page(tmp_path):
    """textual-serve serving the key echo app with `tuitune web`'s page; yields (url, the file keys go to)."""
    log, port = tmp_path / "keys.txt", free_port()
    log.touch()
    command = shlex.join([sys.executable, str(KEY_ECHO), str(log)])
    serve = (
        f"from textual_serve.server import Server\nfrom tuitune.cli.web import page_templates\n"
        f"Server({command!r}, port={port}, templates_path=page_templates({str(tmp_path)!r})).serve()"
    )
    server = subprocess.Popen([sys.executable, "-c", serve], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    try:
        yield f"http://localhost:{port}", log
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)


def test_every_key_of_the_app_reaches_it_in_a_browser(open_tab, key_echo_page):
    url, log = key_echo_page
    tab = wait_until(lambda: _try_open(open_tab, url), 60, "the key echo page")
    tab.wait_for("keys go to the file", timeout=60)
    tab.focus()
    arrived = {}
    for name in app_keys():
        seen = len(log.read_text().splitlines())
        tab.page.keyboard.press(pressed(name))
        try:
            wait_until(lambda seen=seen: len(log.read_text().splitlines()) > seen, 10, name, interval=0.02)
        except AssertionError:
            arrived[name] = None
            continue
        arrived[name] = log.read_text().splitlines()[-1]
    expected = {name: SENT_AS.get(name, name) for name in arrived}
    assert arrived == expected
    assert {keys.browser_key(name) for name in ("ctrl+n", "ctrl+t", "ctrl+q")} <= set(arrived)


def _try_open(open_tab, url):
    try:
        return open_tab(url)
    except Exception as exc:  # the server not listening yet
        if "ERR_CONNECTION_REFUSED" not in str(exc):
            raise
        return None
