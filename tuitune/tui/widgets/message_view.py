"""One message of the visible branch: a header (who, which adapter, judgement, sibling position, status) and the
text. User text is shown as plain text; answers as Markdown whose links never open anything by themselves.
Everything passes through `textsafe.visible` first, so control sequences show as escapes and markup as text."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from tuitune.store.records import Message
from tuitune.textsafe import one_line, visible

MARKS = {"good": "▲ good", "bad": "▼ bad"}


@dataclass(frozen=True)
class Shown:
    """A message as the list shows it: the row plus its place among its siblings (1-based)."""

    message: Message
    position: int = 1
    count: int = 1


def header_text(shown: Shown) -> Text:
    m = shown.message
    text = Text(no_wrap=True, overflow="ellipsis")
    if m.role == "user":
        text.append("you", style="bold")
    else:
        text.append("assistant", style="bold")
        text.append(f" · {one_line(m.adapter, 24) if m.adapter else 'base'}")
        if m.source == "edit":
            text.append(" · edited")
    if shown.count > 1:
        text.append(f" · ◀ {shown.position}/{shown.count} ▶")
    if m.role == "assistant" and m.judgement:
        text.append(f"  {MARKS[m.judgement]}", style="bold")
    if m.status != "complete":
        text.append(f"  [{m.status}]", style="italic")
    return text


class MessageView(Vertical):
    def __init__(self, shown: Shown) -> None:
        role = shown.message.role
        super().__init__(classes=f"message -{role}")
        self.shown = shown
        self._stream: MarkdownStream | None = None

    @property
    def message_id(self) -> int:
        return self.shown.message.id

    def compose(self) -> ComposeResult:
        yield Static(header_text(self.shown), classes="message-header", markup=False)
        content = visible(self.shown.message.content)
        if self.shown.message.role == "assistant":
            yield Markdown(content, open_links=False, classes="message-body")
        else:
            yield Static(Text(content), classes="message-body", markup=False)

    def update_header(self, shown: Shown) -> None:
        self.shown = shown
        self.query_one(".message-header", Static).update(header_text(shown))

    async def write(self, piece: str) -> None:
        """Append a streamed piece of the answer."""
        if self._stream is None:
            self._stream = Markdown.get_stream(self.query_one(Markdown))
        await self._stream.write(visible(piece))

    async def end_stream(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
