"""The visible branch of the conversation, one MessageView per message, with a keyboard selection.

Its keys act on the selected message through the screen's actions; the list itself only moves the selection.

A long conversation opens light: every message has its view, but only the newest few are mounted (composed,
rendered); more are mounted above them as the selection or the scroll reaches the top of what is mounted. Showing
the branch again keeps the views of the messages it still starts with, so a new turn mounts one view, not all."""

from __future__ import annotations

import asyncio

from textual.containers import VerticalScroll

from tuitune.tui import keys
from tuitune.tui.widgets.message_view import MessageView, Shown

SCREENS_MOUNTED = 2  # a branch is shown with its newest messages mounted, about this many screens of them


def estimated_rows(view: MessageView, width: int) -> int:
    """About how many rows a message takes at `width` (its header and its text's lines), without rendering it."""
    lines = view.shown.message.content.split("\n")
    return 2 + sum(len(line) // max(width, 1) + 1 for line in lines)


class MessageList(VerticalScroll, can_focus=True):
    BINDINGS = keys.Messages.bindings()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.selected: int | None = None  # index into the views; None means "the latest answer"
        self._views: list[MessageView] = []
        self._first = 0  # the views from this index on are mounted
        self._filling = False  # a mount above, to follow the scroll, is on its way
        self._showing = asyncio.Lock()  # one branch shown at a time: each starts from what the last one mounted

    @property
    def views(self) -> list[MessageView]:
        """A view for every message of the branch, in order (only the newest ones may be mounted)."""
        return list(self._views)

    async def show(self, shown: list[Shown], select_id: int | None = None) -> None:
        """Show the branch; keep the selection on `select_id` when it is still visible."""
        async with self._showing:
            await self._show(shown, select_id)

    async def _show(self, shown: list[Shown], select_id: int | None) -> None:
        old = self._views
        kept = 0
        for view, item in zip(old, shown, strict=False):
            if view.message_id != item.message.id:
                break
            kept += 1
        views = old[:kept] + [MessageView(item) for item in shown[kept:]]
        ids = [item.message.id for item in shown]
        index = ids.index(select_id) if select_id in ids else None
        with self.app.batch_update():
            if kept > self._first:  # the views kept stay mounted, the new ones are mounted under them
                first, gone = self._first, old[kept:]
            else:  # nothing mounted is kept: the newest are mounted (or down from the selection)
                self._views = views
                first = self._start(len(views), SCREENS_MOUNTED * self._screen_rows())
                first, gone = min(first, index) if index is not None else first, old[self._first :]
            gone = [view for view in gone if view.is_attached]
            if gone:
                await self.remove_children(gone)
            self._views, self._first = views, first
            for view, item in zip(views[:kept], shown, strict=False):
                await view.show_again(item)
            fresh = [view for view in views[first:] if not view.is_attached]
            if fresh:
                await self.mount_all(fresh)
        self.select(index)
        if self.selected is None:
            self.scroll_end(animate=False, immediate=True)
            self.anchor()
        self.call_after_refresh(self._fill)

    def view_for(self, message_id: int) -> MessageView | None:
        return next((view for view in reversed(self._views) if view.message_id == message_id), None)

    def select(self, index: int | None) -> None:
        views = self._views
        for view in views[self._first :]:
            view.remove_class("-selected")
        self.selected = index if index is not None and 0 <= index < len(views) else None
        if self.selected is not None:
            view = views[self.selected]
            view.add_class("-selected")
            self.release_anchor()
            if self.selected < self._first:  # mounted now: scrolled to once it has a place
                self._mount_above(self._start(self.selected, self._screen_rows()))
                self.call_after_refresh(self.scroll_to_widget, view, animate=False, immediate=True)
            else:
                self.scroll_to_widget(view, animate=False, immediate=True)

    @property
    def selected_id(self) -> int | None:
        return self._views[self.selected].message_id if self.selected is not None else None

    def action_move(self, delta: int) -> None:
        count = len(self._views)
        if not count:
            return
        start = count if self.selected is None else self.selected
        self.select(min(max(start + delta, 0), count - 1))

    def on_focus(self) -> None:
        if self.selected is None and self._views:
            self.select(len(self._views) - 1)

    # ---- mounting more above ---------------------------------------------------------------------------------------
    def _screen_rows(self) -> int:
        return self.scrollable_content_region.height or self.app.size.height

    def _start(self, end: int, rows: int) -> int:
        """The index from which the views before `end` take at least `rows` rows (0 when they all take fewer)."""
        width = self.scrollable_content_region.width or self.app.size.width
        for start in range(end - 1, -1, -1):
            rows -= estimated_rows(self._views[start], width)
            if rows <= 0:
                return start
        return 0

    def _mount_above(self, first: int) -> None:
        first = max(first, 0)
        if first >= self._first:
            return
        above = self._views[first : self._first]
        for view in above:
            view.set_class(view is self._selected_view(), "-selected")
        self.mount_all(above, before=self._views[self._first])
        self._first = first

    def _selected_view(self) -> MessageView | None:
        return self._views[self.selected] if self.selected is not None else None

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < self.scrollable_content_region.height and self._first and not self._filling:
            self._filling = True
            self.call_after_refresh(self._fill)

    def _fill(self) -> None:
        """Mount more above while what is mounted above the view is less than a screen, keeping the view in place."""
        self._filling = False
        height = self.scrollable_content_region.height
        if not self._first or not self.is_attached or self.scroll_y >= height:
            return
        top = self._views[self._first]
        on_screen = top.virtual_region.y - self.scroll_y
        self._mount_above(self._start(self._first, height))
        self._filling = True

        def keep_place() -> None:  # an anchored list kept its end in view; one the user scrolled is put back
            self._filling = False
            drift = top.virtual_region.y - self.scroll_y - on_screen
            if drift:
                self.scroll_to(y=self.scroll_y + drift, animate=False, immediate=True)
            self._fill()

        self.call_after_refresh(keep_place)
