"""Conversations (new, switch, rename, delete) and the per-conversation system prompt, against the real model."""

from __future__ import annotations

from tuitune.tui.screens.dialogs import ConfirmScreen, RenameScreen, SystemPromptScreen
from tuitune.tui.widgets.conversation_list import ConversationList

from .helpers import SIZE, screen_text, send, settle, widget_text


def messages(app) -> str:
    return widget_text(app, app.chat_screen.messages)


def sidebar(app) -> list[str]:
    options = app.chat_screen.query_one(ConversationList).options
    return [str(option.prompt) for option in options]


async def test_new_switch_rename_delete(app_for, short_engine, store):
    app = app_for(short_engine)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "First question")
        first = store.conversations()[0].id
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert len(store.conversations()) == 2
        second = store.conversations()[0].id
        assert app.chat_screen.conversation_id == second and "First question" not in messages(app)
        await send(pilot, "Second question")
        assert sidebar(app) == ["Second question", "First question"]
        assert "Second question" in messages(app)

        # switch: shift+tab from the input focuses the list; down, Enter opens the first conversation
        await pilot.press("shift+tab")
        assert isinstance(app.focused, ConversationList)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.chat_screen.conversation_id == first
        assert "First question" in messages(app) and "Second question" not in messages(app)

        # rename the highlighted one
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, RenameScreen)
        app.screen.query_one("#title").value = "Renamed [bold]chat"
        await pilot.press("enter")
        await settle(pilot)
        assert store.conversation(first).title == "Renamed [bold]chat"
        assert "Renamed [bold]chat" in sidebar(app) and "Renamed [bold]chat" in screen_text(app)

        # delete asks first; n keeps it, y deletes it
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert store.conversation(first).deleted_at is None
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert store.conversation(first).deleted_at is not None
        assert [c.id for c in store.conversations()] == [second]
        assert sidebar(app) == ["Second question"] and "Renamed" not in screen_text(app)
        assert app.chat_screen.conversation_id == second

        # ctrl+s hides and shows the list
        await pilot.press("ctrl+s")
        assert not app.chat_screen.query_one(ConversationList).display
        await pilot.press("ctrl+s")
        assert app.chat_screen.query_one(ConversationList).display


async def test_conversations_are_where_they_were_after_a_restart(settings, store, short_engine):
    from tuitune.tui.app import make_app

    async with make_app(settings, store=store, engine=short_engine).run_test(size=SIZE) as pilot:
        await send(pilot, "Remember me")
        await pilot.press("f2")
    app = make_app(settings, store=store, engine=short_engine, continue_latest=True)  # tuitune --continue
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "Remember me" in text and "▲ good" in text and "▲1" in text
        continued = app.chat_screen.conversation_id
    app = make_app(settings, store=store, engine=short_engine)  # a new client gets a place of its own
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.chat_screen.conversation_id != continued
        assert "Remember me" in widget_text(app, app.chat_screen.query_one(ConversationList))
        assert "▲ good" not in screen_text(app)
        empty = app.chat_screen.conversation_id
    app = make_app(settings, store=store, engine=short_engine)  # and reuses an empty one nobody shows
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.chat_screen.conversation_id == empty
        assert len(store.conversations()) == 2


async def test_system_prompt_pick_and_type(app_for, short_engine, store):
    app = app_for(short_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        conversation_id = app.chat_screen.conversation_id
        await pilot.press("f6")
        await pilot.pause()
        assert isinstance(app.screen, SystemPromptScreen)
        names = app.screen.names
        assert "concise" in names
        await pilot.press(*["down"] * (1 + names.index("concise")), "enter")
        await settle(pilot)
        assert store.conversation(conversation_id).system_prompt == "concise"
        assert "system: concise" in screen_text(app)

        await pilot.press("f6")
        await pilot.pause()
        await pilot.press("end", "enter")  # "type one…"
        app.screen.query_one("#custom").load_text("Answer like a pirate.")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert store.conversation(conversation_id).system_prompt == "Answer like a pirate."
        assert "system: Answer like a pirat…" in screen_text(app)
        await send(pilot, "Hello")
        # the prompt the model sees starts with the typed system prompt
        prompt = app.services.chat.prompt_messages(conversation_id, store.branch(conversation_id)[0].id)
        assert prompt[0] == {"role": "system", "content": "Answer like a pirate."}

        await pilot.press("f6")
        await pilot.pause()
        await pilot.press("home", "enter")  # back to the default
        await settle(pilot)
        assert store.conversation(conversation_id).system_prompt is None
        assert "system:" not in screen_text(app)


async def test_an_open_app_sends_keepalives_to_its_engine_server(settings, store, monkeypatch):
    """The server's idle timeout ends only a forgotten server: an open app tells it, on a timer, that it is there
    (tests/server/test_serve_addresses.py shows the server counting those as use)."""
    import tuitune.tui.app as app_module
    from tuitune.tui.app import make_app

    from .scripted import ScriptedEngine

    class Counting(ScriptedEngine):
        calls = 0

        def keepalive(self) -> bool:
            Counting.calls += 1
            return True

    monkeypatch.setattr(app_module, "KEEPALIVE_INTERVAL_S", 0.1)
    app = make_app(settings, store=store, engine=Counting())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause(0.6)
        assert Counting.calls >= 3
