"""Two clients on one store and one engine server, as two terminals or two browser tabs are: two apps (each its own
Store connection and engine client) on one conversation. Questions sent at the same moment start sibling branches
(never a question under a question), each screen shows its own question answered, and a screen that is idle follows
what the other sends."""

from __future__ import annotations

import asyncio

import pytest

from tuitune.client import EngineClient
from tuitune.store import Store
from tuitune.tui.app import make_app

from .helpers import SIZE, screen_text, settle

ROUNDS = 2


@pytest.fixture
def two_apps(settings, engine_server):
    short = settings.with_overrides({"generation.max_new_tokens": 6})
    opened = []

    def app():
        store, engine = Store.open(short.db_path), EngineClient(short, url=engine_server)
        opened.append((store, engine))
        return make_app(short, store=store, engine=engine, continue_latest=True)

    yield app
    for store, engine in opened:
        engine.close()
        store.close()


def question_edges(store: Store) -> list[tuple[str, str | None]]:
    rows = store._rows(
        "SELECT m.role, p.role AS parent FROM messages m LEFT JOIN messages p ON p.id = m.parent_id ORDER BY m.id"
    )
    return [(row["role"], row["parent"]) for row in rows]


async def type_into(pilot, text: str) -> None:
    box = pilot.app.chat_screen.query_one("#input")
    box.focus()
    box.load_text(text)
    await pilot.pause()


async def followed(pilot, text: str, seconds: float = 10.0) -> str:
    """The screen once it shows `text` and nothing streaming (the follow timer runs twice a second)."""
    for _ in range(int(seconds / 0.25)):
        await pilot.pause(0.25)
        shown = screen_text(pilot.app)
        if text in shown and "streaming" not in shown:
            return shown
    return screen_text(pilot.app)


async def test_two_apps_on_one_conversation_keep_a_tree_of_turns(two_apps, settings):
    a, b = two_apps(), two_apps()
    async with a.run_test(size=SIZE) as pa, b.run_test(size=SIZE) as pb:
        await settle(pa)
        await type_into(pa, "Say hello.")
        await pa.press("enter")
        await settle(pa)
        await settle(pb)
        # b opened the same (latest) conversation and, idle, follows what a sent there.
        assert a.chat_screen.conversation_id == b.chat_screen.conversation_id
        shown = await followed(pb, "Say hello.")
        assert "Say hello." in shown and "streaming" not in shown
        assert b.chat_screen.leaf_id == a.chat_screen.leaf_id

        for n in range(ROUNDS):  # each round on a new conversation both show at its latest answer
            await pa.press("ctrl+n")
            await type_into(pa, f"Start {n}.")
            await pa.press("enter")
            await settle(pa)
            await b.chat_screen.open_conversation(a.chat_screen.conversation_id)  # picked from b's list
            assert b.chat_screen.leaf_id == a.chat_screen.leaf_id
            await type_into(pa, f"Question {n} from A")
            await type_into(pb, f"Question {n} from B")
            await asyncio.gather(pa.press("enter"), pb.press("enter"))
            await settle(pa)
            await settle(pb)

        with Store.open(settings.db_path) as store:
            assert ("user", "user") not in question_edges(store)
            questions = store._rows("SELECT id, conversation_id, content FROM messages WHERE role = 'user'")
            assert len(questions) == 1 + 3 * ROUNDS
            for question in questions:
                answers = store.children(question["conversation_id"], question["id"])
                assert [m.role for m in answers] == ["assistant"], question["content"]
                assert answers[0].status == "complete"
                if question["content"].startswith("Question"):  # the two raced: siblings under one answer
                    assert len(store.siblings(question["id"])) == 2
        for pilot, me, other in ((pa, "A", "B"), (pb, "B", "A")):
            shown = await followed(pilot, f"Question {ROUNDS - 1} from {me}")
            assert f"Question {ROUNDS - 1} from {me}" in shown, shown
            assert f"Question {ROUNDS - 1} from {other}" not in shown  # the other's branch is a sibling, not shown
            assert "streaming" not in shown
            views = pilot.app.chat_screen.messages.views
            assert [v.shown.message.role for v in views][-2:] == ["user", "assistant"]
            assert views[-1].shown.message.content.strip()
