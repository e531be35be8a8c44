"""Blind A/B in the chat with two real LoRA adapters on the embedded model (a few tokens per answer): the pick
lands in the store as judgements and a comparison, who was who shows only after the pick, and the chat goes on
from the chosen answer."""

from __future__ import annotations

import pytest

from tuitune.store.records import Message
from tuitune.tui.curate.ab import ABScreen, ContendersScreen, ab_turn, default_pair

from ..helpers import SIZE, screen_text, send, settle

NAMES = ("ab-one", "ab-two")


@pytest.fixture
def two_adapters(short_engine, store, make_adapter):
    for seed, name in enumerate(NAMES, 1):
        path = make_adapter(name, seed)
        store.add_adapter(name, str(path), short_engine.info.name)
        short_engine.load_adapter(name, str(path), activate=False)
    return short_engine


async def start_round(pilot) -> ABScreen:
    await pilot.press("f9")
    assert isinstance(pilot.app.screen, ContendersScreen)
    await pilot.press("s")  # the default pair: with the base live, the two newest adapters
    screen = pilot.app.screen
    assert isinstance(screen, ABScreen)
    assert {name for name in screen.contenders} == set(NAMES)
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    return screen


async def test_pick_stores_the_pair_reveals_after_and_continues_from_the_chosen(app_for, two_adapters, store):
    app = app_for(two_adapters)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Name a colour.")
        conversation_id = store.conversations()[0].id
        user_id = store.branch(conversation_id)[0].id
        screen = await start_round(pilot)
        answers = [m for m in store.children(conversation_id, user_id) if m.source == "ab"]
        assert len(answers) == 2 and {m.adapter for m in answers} == set(NAMES)
        assert all(m.status == "complete" and m.judgement is None for m in answers)
        text = screen_text(app)
        assert "1/a A is better" in text
        assert not any(name in text for name in NAMES)  # blind until the pick
        assert store.comparisons() == []
        a_text = screen.texts["A"]
        await pilot.press("2")  # B is better
        reveal = screen.reveal
        assert reveal is not None and reveal.winner == reveal.b
        text = screen_text(app)
        assert f"A · {reveal.a}" in text and f"B · {reveal.b}" in text
        assert f"A was {reveal.a}, B was {reveal.b}" in text
        [comparison] = store.comparisons()
        assert (comparison.user_message_id, comparison.winner) == (user_id, "b")
        assert store.message(reveal.a_message_id).judgement == "bad"
        assert store.message(reveal.b_message_id).judgement == "good"
        assert store.message(reveal.a_message_id).content == a_text  # what A showed is what was stored
        ratings = {r.name: r for r in store.adapter_ratings()}
        assert ratings[reveal.b].wins == 1 and ratings[reveal.a].losses == 1
        await pilot.press("enter")
        assert app.screen is app.chat_screen
        branch = store.branch(conversation_id)
        assert branch[-1].id == reveal.b_message_id == app.chat_screen.messages.selected_id
        assert app.chat_screen.messages.views[-1].message_id == reveal.b_message_id
        assert two_adapters.active_adapter is None  # the live adapter before the round is live again
        await send(pilot, "And another?")
        assert store.branch(conversation_id)[-2].parent_id == reveal.b_message_id


async def test_tie_continues_from_a_and_escape_skips_the_pick(app_for, two_adapters, store):
    app = app_for(two_adapters)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await send(pilot, "Say hi.")
        conversation_id = store.conversations()[0].id
        screen = await start_round(pilot)
        await pilot.press("escape")  # skipped: both answers stay as siblings, nothing is judged
        await settle(pilot)
        assert app.screen is app.chat_screen and store.comparisons() == []
        screen = await start_round(pilot)
        await pilot.press("t")
        reveal = screen.reveal
        assert reveal is not None and reveal.winner is None and reveal.continue_id == reveal.a_message_id
        assert "you picked a tie" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert store.branch(conversation_id)[-1].id == reveal.a_message_id
        assert {store.message(i).judgement for i in (reveal.a_message_id, reveal.b_message_id)} == {"good"}
        assert "A was" in screen_text(app)  # the reveal is said again in the chat


def test_default_pair_and_the_turn():
    assert default_pair(["new", "old"], "old") == ("old", None)
    assert default_pair(["new", "old"], None) == ("new", "old")
    assert default_pair(["only"], None) == ("only", None)

    def message(id, role, parent):
        return Message(id, 1, parent, role, "", "complete", None, "chat", None, None, None, None, None, "", False,
                       None, None, None, None)

    branch = [message(1, "user", None), message(2, "assistant", 1), message(3, "user", 2), message(4, "assistant", 3)]
    assert ab_turn(None, branch) == 3
    assert ab_turn(branch[1], branch) == 1 and ab_turn(branch[2], branch) == 3
    assert ab_turn(None, []) is None
