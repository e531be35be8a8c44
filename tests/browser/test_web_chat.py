"""`tuitune web` in headless Chromium, as a person uses it: the page paints with its footer, a question streams its
answer, F2 judges it, and a second tab chats at the same time on the same engine server, in a conversation of its
own that the first tab's list marks as open elsewhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tuitune.tui import keys

from .conftest import free_port, wait_until

pytestmark = pytest.mark.browser


@pytest.fixture
def web(tmp_path, model_cache):
    """`tuitune web` on a free port over a fresh home; yields (url, home). Its engine server runs unquantized."""
    from tuitune.server import lifecycle

    home, port = tmp_path / "home", free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("TUITUNE_")}
    env |= {"HF_HUB_OFFLINE": "1", "TUITUNE_MODEL_CACHE": str(model_cache), "TUITUNE_MODEL_QUANT": "none",
            "TUITUNE_GENERATION_MAX_NEW_TOKENS": "24"}  # fmt: skip
    argv = [sys.executable, "-m", "tuitune", "--home", str(home), "web", "--port", str(port)]
    server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    try:
        yield f"http://localhost:{port}", home
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the web server and the app processes it started
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        lifecycle.stop(lifecycle.EnginePaths(home))


def test_two_tabs_chat_and_judge_on_one_engine_server(web, open_tab):  # tabs close before the server stops
    url, home = web
    timings: dict[str, float] = {}
    start = time.monotonic()
    first = wait_until(lambda: _open(open_tab, url), 30, "the page")
    first.wait_for("Ask something", timeout=60)
    timings["first paint"] = time.monotonic() - start
    # No key and no click yet: the app starts without the page's focus, and Textual's footer drew nothing then.
    footer = wait_until(lambda: first.bottom().strip(), 10, "the footer's keys before the first key")
    assert keys.Chat.GOOD.label in footer and keys.Chat.HELP.label in footer
    assert "^o New" in footer and "^n" not in footer  # ctrl+n is the browser's own: the footer tells ctrl+o

    first.focus()
    first.wait_for("@sock", timeout=300)  # the engine server is up (the first start converts the GGUF)
    timings["model ready"] = time.monotonic() - start
    second = open_tab(url)
    second.wait_for("@sock", timeout=60)  # attached to the same server: no second load
    second.focus()

    ask(first, "What is the capital of Peru?")
    ask(second, "Name a colour.", "In one word.")  # Shift+Enter between the lines, as a browser user would
    asked = time.monotonic()
    for tab in (first, second):
        tab.wait_for("tok/s", timeout=180)  # the answer's speed: its stream has ended
    timings["both answered"] = time.monotonic() - asked

    first.page.keyboard.press("F2")
    first.wait_for("▲ good", timeout=10)
    # Each tab opened a conversation of its own, and each one's list marks the other's as open elsewhere.
    first.wait_for("● Name a colour", timeout=10)
    second.wait_for("● What is the capita", timeout=10)  # the list cuts titles at 21 characters

    from tuitune.server import lifecycle
    from tuitune.store import Store

    with Store.open(home / "tuitune.db") as store:
        answers = {}  # each tab's question and its answer, whichever conversation each tab opened
        for conversation in store.conversations():
            branch = store.branch(conversation.id)
            pairs = zip(branch, branch[1:], strict=False)
            answers |= {q.content: a for q, a in pairs if q.role == "user" and a.role == "assistant"}
    assert set(answers) == {"What is the capital of Peru?", "Name a colour.\nIn one word."}
    for question, tab in (("What is the capital of Peru?", first), ("Name a colour.\nIn one word.", second)):
        answer = answers[question]
        assert answer.status == "complete" and answer.content.strip()
        assert first_words(answer.content) in squeeze(tab.screen()), (question, answer.content, tab.screen())
    assert answers["What is the capital of Peru?"].judgement == "good"
    assert answers["Name a colour.\nIn one word."].judgement is None
    assert lifecycle.running(lifecycle.EnginePaths(home))
    print("timings:", {name: round(seconds, 1) for name, seconds in timings.items()})


def ask(tab, *lines: str) -> None:
    for index, line in enumerate(lines):
        if index:
            tab.page.keyboard.press("Shift+Enter")
        tab.page.keyboard.type(line)
        tab.wait_for(line, timeout=10)
    tab.page.keyboard.press("Enter")


def squeeze(text: str) -> str:
    """Words only: no borders, no Markdown marks."""
    for mark in "▕▎*_`#":
        text = text.replace(mark, " ")
    return " ".join(text.split())


def first_words(text: str, count: int = 3) -> str:
    """The answer's first words, as the screen shows them whatever the wrapping."""
    return " ".join(squeeze(text).split()[:count])


def _open(open_tab, url):
    try:
        return open_tab(url)
    except Exception as exc:  # `tuitune web` not listening yet
        if "ERR_CONNECTION_REFUSED" not in str(exc):
            raise
        return None
