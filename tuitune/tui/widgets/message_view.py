"""One message of the visible branch: a header (who, which adapter, judgement, sibling position, status) and the
text. User text is shown as plain text; answers as Markdown whose links never open anything by themselves, unless
Markdown would lose part of the answer (then as plain text too). Everything passes through `textsafe.visible`
first, so control sequences show as escapes and markup as text."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from markdown_it import MarkdownIt
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from tuitune.generation import BASE
from tuitune.store.records import Message
from tuitune.textsafe import one_line, visible

MARKS = {"good": "▲ good", "bad": "▼ bad"}


@dataclass(frozen=True)
class Shown:
    """A message as the list shows it: the row plus its place among its siblings (1-based)."""

    message: Message
    position: int = 1
    count: int = 1
    streaming_elsewhere: bool = False  # another client (a terminal, a browser tab) is writing this answer


def header_text(shown: Shown) -> Text:
    m = shown.message
    text = Text(no_wrap=True, overflow="ellipsis")
    if m.role == "user":
        text.append("you", style="bold")
    else:
        text.append("assistant", style="bold")
        text.append(f" · {one_line(m.adapter, 24) if m.adapter else BASE}")
        if m.source == "edit":
            text.append(" · edited")
    if shown.count > 1:
        text.append(f" · ◀ {shown.position}/{shown.count} ▶")
    if m.role == "assistant" and m.judgement:
        text.append(f"  {MARKS[m.judgement]}", style="bold")
    if shown.streaming_elsewhere:
        text.append("  [streaming elsewhere]", style="italic")
    elif m.status != "complete":
        text.append(f"  [{m.status}]", style="italic")
    return text


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("gfm-like")  # the parser Textual's Markdown widget uses


def markdown_loses_text(text: str) -> bool:
    """Whether Textual's Markdown would show less than `text` says: a list item with nothing in it vanishes with
    its number or bullet (so "1. 1. 3." shows as nothing at all), an HTML block and a link without text show
    nothing, and some text shows nothing at all."""
    open_items: list[bool] = []  # per list item being read: has anything in it shown yet
    shown = False
    for token in _parser().parse(text):
        if token.type == "list_item_open":
            open_items.append(False)
            continue
        if token.type == "list_item_close":
            if not open_items.pop():
                return True
            continue
        if token.type == "html_block":
            return True
        shows = token.type == "hr" or (token.type in ("fence", "code_block") and bool(token.content.strip()))
        if token.type == "inline":
            children = token.children or []
            if any(a.type == "link_open" and b.type == "link_close" for a, b in pairwise(children)):
                return True
            shows = any(
                child.type == "image" or (child.type in ("text", "code_inline") and child.content.strip())
                for child in children
            )
        if shows:
            shown = True
            open_items = [True] * len(open_items)  # what shows inside a nested item shows inside its parents
    return not shown and bool(text.strip())


class MessageView(Vertical):
    def __init__(self, shown: Shown) -> None:
        role = shown.message.role
        super().__init__(classes=f"message -{role}")
        self.shown = shown
        self._stream: MarkdownStream | None = None
        self._composed = ""  # the text shown when composed, and what was streamed after it
        self._streamed = ""

    @property
    def message_id(self) -> int:
        return self.shown.message.id

    def compose(self) -> ComposeResult:
        yield Static(header_text(self.shown), classes="message-header", markup=False)
        content = self._composed = visible(self.shown.message.content)
        if self.shown.message.role == "assistant" and not markdown_loses_text(content):
            yield Markdown(content, open_links=False, classes="message-body")
        else:
            yield Static(Text(content), classes="message-body", markup=False)

    def update_header(self, shown: Shown) -> None:
        self.shown = shown
        self.query_one(".message-header", Static).update(header_text(shown))

    async def show_again(self, shown: Shown) -> None:
        """The message as the store holds it now (another client wrote to it): header and, if it changed, text."""
        if shown == self.shown:
            return
        if shown.message.content != self.shown.message.content and self._stream is None:
            content = self._composed = visible(shown.message.content)
            self._streamed = ""
            body = self.query_one(".message-body")
            if isinstance(body, Markdown) and not markdown_loses_text(content):
                await body.update(content)
            else:
                await body.remove()
                await self.mount(Static(Text(content), classes="message-body", markup=False))
        self.update_header(shown)

    async def write(self, piece: str) -> None:
        """Append a streamed piece of the answer."""
        safe = visible(piece)
        self._streamed += safe
        markdown = self.query(Markdown)
        if not markdown:  # already shown as text
            self.query_one(".message-body", Static).update(Text(self._full_text()))
            return
        if self._stream is None:
            self._stream = Markdown.get_stream(markdown.first())
        await self._stream.write(safe)

    async def end_stream(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        # Checked once the answer is whole: mid-stream, "2." is only an item whose text has not come yet.
        full = self._full_text()
        if self.query(Markdown) and markdown_loses_text(full):
            await self.query_one(".message-body").remove()
            await self.mount(Static(Text(full), classes="message-body", markup=False))

    def _full_text(self) -> str:
        return self._composed + self._streamed
