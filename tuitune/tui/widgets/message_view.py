"""One message of the visible branch: a header (who, which adapter, judgement, sibling position, status) and the
text. User text is shown as plain text; answers as Markdown whose links never open anything by themselves, unless
Markdown would lose part of the answer (then as plain text too). Everything passes through `textsafe.visible`
first, so control sequences show as escapes and markup as text.

An answer streaming here is drawn as the blocks that are closed (a block closes when the next one begins) and,
under them, the block still open, as plain text. Textual's Markdown re-parses its whole last block, re-highlights a
whole code fence and rebuilds a whole list on every append, so a draw would cost more with every token of a long
fence or list; as plain text, in chunks of lines drawn once, a draw costs the same at the 4,000th token as at the
40th. A closed block becomes Markdown then, each in a Markdown of its own (never parsed again), unless it is a long
list, table or fence: Textual takes long enough to build those (a second for a list of 36 items on a slow core) to
hold keys and tokens back, so they stay text until the answer ends. Then the answer is rendered once, whole, as any
answer is when a conversation opens (so it also looks the same, and no fence keeps a streamed state: Textual #6518)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from markdown_it import MarkdownIt
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Markdown, Static

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


@lru_cache(maxsize=1)
def _block_parser() -> MarkdownIt:
    """The same parser, blocks only: where blocks begin, not what is inside them."""
    return MarkdownIt("gfm-like").disable(
        ["inline", "linkify", "replacements", "smartquotes", "text_join"], ignoreInvalid=True
    )


def _line_offset(text: str, line: int) -> int:
    offset = 0
    for _ in range(line):
        offset = text.index("\n", offset) + 1
    return offset


def open_block_start(text: str) -> int:
    """Where the last top-level block of `text` begins (0 when it is the only one): the blocks before it are closed,
    the last may still grow. Only whole lines count; a block can only close at the end of a line."""
    whole = text[: text.rfind("\n") + 1]
    starts = [token.map[0] for token in _block_parser().parse(whole) if token.level == 0 and token.map]
    return _line_offset(whole, starts[-1]) if len(starts) > 1 else 0


DEFERRED = {"bullet_list_open", "ordered_list_open", "table_open", "fence", "code_block", "blockquote_open"}
DEFER_LINES = 8  # a closed list, table, quote or fence longer than this stays text until the answer ends


def closed_blocks(text: str) -> list[tuple[str, bool]]:
    """`text` (whole blocks) cut into its top-level blocks, each with whether it is quick to build as Markdown."""
    tokens = [token for token in _block_parser().parse(text) if token.level == 0 and token.map]
    starts = [0] + [_line_offset(text, token.map[0]) for token in tokens[1:]] + [len(text)]  # type: ignore[index]
    blocks = []
    for token, start, end in zip(tokens, starts, starts[1:], strict=False):
        block = text[start:end]
        blocks.append((block, token.type not in DEFERRED or block.count("\n") <= DEFER_LINES))
    return blocks


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


def _body_for(text: str) -> Markdown | Static:
    if markdown_loses_text(text):
        return Static(Text(text), classes="message-body", markup=False)
    return Markdown(text, open_links=False, classes="message-body")


TEXT_CHUNK_LINES = 8  # whole lines of text drawn once and left alone


def _chunks(text: str) -> tuple[list[str], str]:
    """`text` cut into runs of TEXT_CHUNK_LINES whole lines, and what is left (fewer lines, the last unfinished)."""
    chunks = []
    while text.count("\n") >= TEXT_CHUNK_LINES:
        cut = _line_offset(text, TEXT_CHUNK_LINES)
        chunks.append(text[: cut - 1])
        text = text[cut:]
    return chunks, text


class PlainText(Vertical):
    """Text as it is, in chunks of lines drawn once; `show` extends it, redrawing only the last unfinished lines.
    Those are given their rows TEXT_CHUNK_LINES at a time: a layout walks every widget on the screen, so most draws
    should only repaint, and the answer scrolls a few lines at a time rather than line by line."""

    DEFAULT_CSS = """
    PlainText {
        height: auto;
    }
    """

    def __init__(self, text: str = "") -> None:
        super().__init__(classes="message-text")
        self.text = text
        self._frozen = 0  # characters of `text` in the chunks
        self._live = Static("", markup=False)

    def compose(self) -> ComposeResult:
        chunks, rest = _chunks(self.text)
        for chunk in chunks:
            yield Static(Text(chunk), classes="-chunk", markup=False)
        self._frozen = len(self.text) - len(rest)
        self._live.update(Text(rest))
        yield self._live

    async def show(self, text: str) -> None:
        """Show `text`: it extends what is shown, or replaces it."""
        if not text.startswith(self.text[: self._frozen]):
            await self.remove_children(".-chunk")
            self._frozen = 0
        self.text = text
        chunks, rest = _chunks(text[self._frozen :])
        if chunks:
            await self.mount_all(
                [Static(Text(chunk), classes="-chunk", markup=False) for chunk in chunks], before=self._live
            )
            self._frozen = len(text) - len(rest)
        live = self._live
        live.update(Text(rest), layout=False)
        width = live.content_size.width
        rows = live.get_content_height(self.size, self.app.size, width) if width else 1
        reserved = -(-max(rows, 1) // TEXT_CHUNK_LINES) * TEXT_CHUNK_LINES
        if live.styles.height is None or live.styles.height.value != reserved:
            live.styles.height = reserved


class StreamedAnswer(Vertical):
    """An answer streaming here: its closed blocks (Markdown, or text when long), under them the open one."""

    DEFAULT_CSS = """
    StreamedAnswer {
        height: auto;
    }
    """

    def __init__(self, text: str) -> None:
        super().__init__(classes="message-body")
        self.settled = open_block_start(text)  # characters of the answer in closed blocks
        self._settled_blocks = self._blocks(text[: self.settled])
        self.open = PlainText(text[self.settled :])

    def compose(self) -> ComposeResult:
        yield from self._settled_blocks
        yield self.open

    @staticmethod
    def _blocks(text: str) -> list[Markdown | Static | PlainText]:
        parts: list[Markdown | Static | PlainText] = []
        quick = ""
        for block, is_quick in closed_blocks(text) if text else []:
            if is_quick:
                quick += block
                continue
            if quick:
                parts.append(_body_for(quick))
                quick = ""
            parts.append(PlainText(block))
        if quick:
            parts.append(_body_for(quick))
        for part in parts:
            part.set_classes("message-block")  # the answer has one .message-body: this StreamedAnswer
        return parts

    async def show(self, text: str, new_lines: bool) -> None:
        """The answer so far; `new_lines`: whether what came since the last call ends a line somewhere."""
        if new_lines:
            closed = self.settled + open_block_start(text[self.settled :])
            if closed > self.settled:
                await self.mount_all(self._blocks(text[self.settled : closed]), before=self.open)
                self.settled = closed
        await self.open.show(text[self.settled :])


class MessageView(Vertical):
    def __init__(self, shown: Shown) -> None:
        role = shown.message.role
        super().__init__(classes=f"message -{role}")
        self.shown = shown
        self._composed = ""  # the text shown when composed, and what was streamed after it
        self._streamed = ""
        self._streaming: StreamedAnswer | None = None  # while the answer streams here
        self._writing = asyncio.Lock()

    @property
    def message_id(self) -> int:
        return self.shown.message.id

    def compose(self) -> ComposeResult:
        yield Static(header_text(self.shown), classes="message-header", markup=False)
        self._composed = visible(self.shown.message.content)
        content = self._full_text()  # with what was written before it was mounted
        m = self.shown.message
        if m.role == "assistant" and m.status == "streaming" and not self.shown.streaming_elsewhere:
            self._streaming = StreamedAnswer(content)
            yield self._streaming
        elif m.role == "assistant":
            yield _body_for(content)
        else:
            yield Static(Text(content), classes="message-body", markup=False)

    def update_header(self, shown: Shown) -> None:
        self.shown = shown
        if self.is_mounted:
            self.query_one(".message-header", Static).update(header_text(shown))

    async def show_again(self, shown: Shown) -> None:
        """The message as the store holds it now (another client wrote to it, or the branch was shown again): header
        and, if it changed, text. An answer streaming here that the store holds more of gets what it lacks."""
        if shown == self.shown:
            return
        if not self.is_mounted:  # composed from `shown` when it comes into view
            self.shown, self._streamed = shown, ""
            return
        content = visible(shown.message.content)
        if self._streaming is not None:
            async with self._writing:  # after the pieces already on their way
                full = self._full_text()
                if content.startswith(full) and content != full:
                    await self._append(content[len(full) :])
        elif content != self._full_text():
            self._composed, self._streamed = content, ""
            body = self.query_one(".message-body")
            if isinstance(body, Markdown) and not markdown_loses_text(content):
                await body.update(content)
            else:
                await self._replace_body(_body_for(content))
        self.update_header(shown)

    async def _replace_body(self, new: Widget) -> None:
        """Swap the body once the new one is built (a Markdown builds its blocks as it mounts), in one frame."""
        old = self.query_one(".message-body")
        new.display = False
        await self.mount(new, after=old)
        with self.app.batch_update():
            await old.remove()
            new.display = True

    async def write(self, piece: str) -> None:
        """Append a streamed piece of the answer."""
        async with self._writing:
            await self._append(visible(piece))

    async def _append(self, piece: str) -> None:
        self._streamed += piece
        if not self.is_mounted or not self.is_attached:  # not on the screen (yet, or any more): text only
            return
        if self._streaming is not None:
            await self._streaming.show(self._full_text(), "\n" in piece)
            return
        body = self.query_one(".message-body")  # composed before it streamed here: drawn whole
        if isinstance(body, Markdown):
            await body.append(piece)
        else:
            body.update(Text(self._full_text()))  # type: ignore[attr-defined]

    async def end_stream(self) -> None:
        """The answer is whole: rendered once, in full (checked once whole: mid-stream, "2." is only an item whose
        text has not come yet)."""
        async with self._writing:
            full = self._full_text()
            if not self.is_attached:
                self._streaming = None
                return
            if self._streaming is not None:
                self._streaming = None
                await self._replace_body(_body_for(full))
                return
            body = self.query_one(".message-body")
            if isinstance(body, Markdown) and markdown_loses_text(full):
                await self._replace_body(_body_for(full))

    def _full_text(self) -> str:
        return self._composed + self._streamed
