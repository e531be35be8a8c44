"""The visible branch of the conversation, one MessageView per message, with a keyboard selection.

Its keys act on the selected message through the screen's actions; the list itself only moves the selection."""

from __future__ import annotations

from textual.containers import VerticalScroll

from tuitune.tui import keys
from tuitune.tui.widgets.message_view import MessageView, Shown


class MessageList(VerticalScroll, can_focus=True):
    BINDINGS = keys.Messages.bindings()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.selected: int | None = None  # index into the views; None means "the latest answer"

    @property
    def views(self) -> list[MessageView]:
        return list(self.query_children(MessageView))

    async def show(self, shown: list[Shown], select_id: int | None = None) -> None:
        """Replace the messages; keep the selection on `select_id` when it is still visible."""
        with self.app.batch_update():
            await self.remove_children()
            await self.mount_all([MessageView(item) for item in shown])
        ids = [item.message.id for item in shown]
        self.select(ids.index(select_id) if select_id in ids else None)
        if self.selected is None:
            self.scroll_end(animate=False, immediate=True)
            self.anchor()

    def view_for(self, message_id: int) -> MessageView | None:
        return next((view for view in self.views if view.message_id == message_id), None)

    def select(self, index: int | None) -> None:
        views = self.views
        for view in views:
            view.remove_class("-selected")
        self.selected = index if index is not None and 0 <= index < len(views) else None
        if self.selected is not None:
            view = views[self.selected]
            view.add_class("-selected")
            self.release_anchor()
            self.scroll_to_widget(view, animate=False, immediate=True)

    @property
    def selected_id(self) -> int | None:
        return self.views[self.selected].message_id if self.selected is not None else None

    def action_move(self, delta: int) -> None:
        count = len(self.views)
        if not count:
            return
        start = count if self.selected is None else self.selected
        self.select(min(max(start + delta, 0), count - 1))

    def on_focus(self) -> None:
        if self.selected is None and self.views:
            self.select(len(self.views) - 1)
