"""Long answers and long conversations on screen: a streamed answer shows closed blocks as Markdown and the open one
as text, every line as it comes, and is rendered once whole when it ends; a conversation of hundreds of messages
mounts only its newest and mounts more as the selection goes up. Headless, in small host apps with the real styles.
(How fast: bench/ui_stream.py.)"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Markdown

import tuitune
from tuitune.store import Store
from tuitune.tui.widgets.message_list import MessageList
from tuitune.tui.widgets.message_view import DEFER_LINES, MessageView, PlainText, Shown

from .helpers import screen_text

TCSS = Path(tuitune.__file__).resolve().parent / "tui" / "app.tcss"
FENCE = "```python\n" + "".join(f"value_{i} = compute({i})\n" for i in range(DEFER_LINES + 4)) + "```\n"
ANSWER = "## Heading here\n\nFirst paragraph with **bold** words.\n\n- one\n- two\n\n" + FENCE + "\nLast paragraph.\n"


@pytest.fixture
def rows(tmp_path: Path):
    """`rows(contents, status=...)`: a conversation of alternating questions and answers, as the store holds it."""
    store = Store.open(tmp_path / "home" / "tuitune.db")
    conversation = store.new_conversation("long")

    def make(contents: list[str], status: str = "complete"):
        parent = None
        messages = []
        for index, content in enumerate(contents):
            role = "user" if index % 2 == 0 else "assistant"
            last = index == len(contents) - 1
            parent = store.add_message(conversation, role, content, parent, status=status if last else "complete")
            messages.append(store.message(parent))
        return messages

    yield make
    store.close()


class AnswerHost(App):
    CSS_PATH = TCSS

    def __init__(self, shown: Shown) -> None:
        super().__init__()
        self.shown = shown

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="messages"):
            yield MessageView(self.shown)


class ListHost(App):
    CSS_PATH = TCSS

    def compose(self) -> ComposeResult:
        yield MessageList(id="messages")


def pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


async def test_a_streamed_answer_shows_closed_blocks_as_markdown_the_open_one_as_text_and_ends_whole(rows) -> None:
    answer = rows(["show me", ""], status="streaming")[-1]
    app = AnswerHost(Shown(answer))
    async with app.run_test(size=(70, 60)) as pilot:
        view = app.query_one(MessageView)
        sent = ""
        for piece in pieces(ANSWER[: ANSWER.index("- two")]):
            sent += piece
            await view.write(piece)
        await pilot.pause()
        screen = screen_text(app)
        assert "Heading here" in screen and "## Heading" not in screen  # closed: Markdown
        assert "**bold**" not in screen and "bold words" in screen
        assert "- one" in screen  # the list is still open: text
        for piece in pieces(ANSWER[len(sent) : ANSWER.index("Last")]):
            sent += piece
            await view.write(piece)
        await pilot.pause()
        screen = screen_text(app)
        assert "• one" in screen  # the list closed
        assert "```python" in screen  # a long fence stays text after it closed, until the answer ends
        assert view.query(PlainText)
        for piece in pieces(ANSWER[len(sent) :]):
            await view.write(piece)
        await view.end_stream()
        await pilot.pause()
        screen = screen_text(app)
        body = view.query_one(".message-body")
        assert isinstance(body, Markdown) and not view.query(PlainText)  # rendered once, whole
        assert "```" not in screen and f"value_{DEFER_LINES + 3} = compute({DEFER_LINES + 3})" in screen
        assert "Last paragraph." in screen and "## Heading" not in screen


async def test_every_line_of_a_long_fence_is_on_screen_while_it_streams(rows) -> None:
    answer = rows(["code please", ""], status="streaming")[-1]
    app = AnswerHost(Shown(answer))
    async with app.run_test(size=(70, 20)) as pilot:
        app.query_one(VerticalScroll).anchor()
        view = app.query_one(MessageView)
        await view.write("```python\n")
        for i in range(60):
            await view.write(f"line_{i} = {i}\n")
            await pilot.pause()
            assert f"line_{i} = {i}" in screen_text(app), i


async def test_a_conversation_of_hundreds_of_messages_mounts_only_its_newest(rows) -> None:
    contents = [f"message {i}\n\n" + "\n".join(f"- point {i}.{k}" for k in range(4)) for i in range(300)]
    messages = rows(contents)
    app = ListHost()
    async with app.run_test(size=(80, 24)) as pilot:
        listing = app.query_one(MessageList)
        await listing.show([Shown(m) for m in messages])
        await pilot.pause()
        assert [view.message_id for view in listing.views] == [m.id for m in messages]
        mounted = list(listing.query_children(MessageView))
        assert 0 < len(mounted) < 20 and mounted[-1].message_id == messages[-1].id
        assert "message 299" in screen_text(app)
        above = len(messages) - len(mounted) - 3
        view = listing.view_for(messages[above].id)
        assert view is not None and not view.is_attached

        listing.select(above)  # above what is mounted: mounted, and scrolled to
        await pilot.pause()
        await pilot.pause()
        assert listing.selected_id == messages[above].id and f"message {above}\n" in screen_text(app) + "\n"
        assert len(list(listing.query_children(MessageView))) < 40

        listing.select(None)
        listing.focus()
        listing.select(len(messages) - 1)
        for _ in range(40):
            await pilot.press("up")
        await pilot.pause()
        assert listing.selected_id == messages[-41].id and "message 259" in screen_text(app)
        shown = list(listing.query_children(MessageView))
        assert [v.message_id for v in shown] == [m.id for m in messages[-len(shown) :]]  # mounted in order


async def test_showing_the_branch_again_keeps_its_views_and_mounts_only_what_is_new(rows) -> None:
    messages = rows([f"message {i}" for i in range(41)])
    app = ListHost()
    async with app.run_test(size=(80, 24)) as pilot:
        listing = app.query_one(MessageList)
        await listing.show([Shown(m) for m in messages[:40]])
        before = listing.views
        await listing.show([Shown(m) for m in messages])
        await pilot.pause()
        assert listing.views[:40] == before and listing.views[-1].message_id == messages[-1].id
        assert "message 40" in screen_text(app)
        # two shows at once (the follow timer and a reply): one after the other, nothing left half-mounted
        await asyncio.gather(
            listing.show([Shown(m) for m in messages[:30]]), listing.show([Shown(m) for m in messages])
        )
        await pilot.pause()
        mounted = list(listing.query_children(MessageView))
        assert [v.message_id for v in listing.views] == [m.id for m in messages]
        assert mounted == listing.views[-len(mounted) :]


async def test_a_message_shown_again_before_it_is_mounted_is_composed_as_the_store_holds_it(rows) -> None:
    messages = rows([f"message {i}\n" + "line\n" * 20 for i in range(40)])
    app = ListHost()
    async with app.run_test(size=(80, 24)) as pilot:
        listing = app.query_one(MessageList)
        await listing.show([Shown(m) for m in messages])
        changed = [Shown(m) for m in messages]
        changed[2] = Shown(replace(messages[2], content="rewritten elsewhere"))
        await listing.show(changed)
        listing.select(2)
        await pilot.pause()
        await pilot.pause()
        assert "rewritten elsewhere" in screen_text(app)


async def test_scrolling_to_the_top_of_what_is_mounted_mounts_more_and_keeps_the_view_in_place(rows) -> None:
    messages = rows([f"message {i}\n" + "\n".join(f"line {i}.{k}" for k in range(6)) for i in range(200)])
    app = ListHost()
    async with app.run_test(size=(80, 24)) as pilot:
        listing = app.query_one(MessageList)
        await listing.show([Shown(m) for m in messages])
        await pilot.pause()
        mounted = len(list(listing.query_children(MessageView)))
        listing.scroll_to(y=0, animate=False, immediate=True)  # the wheel, up to the first view mounted
        await pilot.pause()
        top = screen_text(app).splitlines()[2:12]
        for _ in range(10):
            await pilot.pause()
        assert len(list(listing.query_children(MessageView))) > mounted
        assert screen_text(app).splitlines()[2:12] == top  # mounted above the view, not into it
        assert listing.scroll_y > 0  # there is more to scroll up to
