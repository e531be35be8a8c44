"""Each key path of the chat screen against the real embedded model (short answers); every test checks the store
and the screen."""

from __future__ import annotations

import asyncio

from tuitune.data.rows import judgement_counts
from tuitune.tui.screens.dialogs import EditScreen
from tuitune.tui.widgets.message_list import MessageList

from .helpers import SIZE, screen_text, send, settle, widget_text


def answers(store, conversation_id):
    return [m for m in store.branch(conversation_id) if m.role == "assistant"]


async def test_send_streams_an_answer_into_the_store_and_the_screen(app_for, short_engine, store):
    app = app_for(short_engine)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "What is the capital of France?")
        conversation = store.conversations()[0]
        branch = store.branch(conversation.id)
        assert [m.role for m in branch] == ["user", "assistant"]
        answer = branch[1]
        assert answer.status == "complete" and answer.content.strip()
        assert answer.tokens_per_s and answer.ttft_s is not None
        text = screen_text(app)
        assert "What is the capital of France?" in text
        assert answer.content.split()[0] in text
        assert "tok/s" in text and "SmolLM2" in text and "4bit" in text and "cpu" in text
        assert conversation.title == "What is the capital of France?"


async def test_escape_stops_the_answer_and_keeps_the_part(app_for, clean_engine, store):
    clean_engine.settings = clean_engine.settings.with_overrides({"generation.max_new_tokens": 400})
    app = app_for(clean_engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.chat_screen.query_one("#input").load_text("Write a long story about a dragon and a knight.")
        await pilot.press("enter")
        for _ in range(300):  # wait for a few streamed pieces
            await asyncio.sleep(0.05)
            if len(app.chat_screen.streamed) > 20:
                break
        await pilot.press("escape")
        await settle(pilot)
        answer = answers(store, store.conversations()[0].id)[0]
        assert answer.status == "stopped"
        assert answer.new_tokens is not None and answer.new_tokens < 400
        assert answer.content.strip()
        assert "[stopped]" in screen_text(app)


async def test_good_and_bad_toggle_from_anywhere_and_from_the_list(app_for, short_engine, store):
    app = app_for(short_engine)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Say hello.")
        answer_id = answers(store, store.conversations()[0].id)[0].id
        await pilot.press("f2")
        assert store.message(answer_id).judgement == "good" and "▲ good" in screen_text(app)
        assert judgement_counts(store)["good"] == 1
        await pilot.press("f2")  # the same key again clears
        assert store.message(answer_id).judgement is None and "▲ good" not in screen_text(app)
        await pilot.press("f3")
        assert store.message(answer_id).judgement == "bad" and "▼ bad" in screen_text(app)
        await pilot.press("tab")  # into the message list; the latest message is selected
        assert isinstance(app.focused, MessageList)
        await pilot.press("b")
        assert store.message(answer_id).judgement is None
        await pilot.press("plus")
        assert store.message(answer_id).judgement == "good"
        await pilot.press("minus")
        assert store.message(answer_id).judgement == "bad"
        await pilot.press("minus")
        assert store.message(answer_id).judgement is None
        await pilot.press("g")
        await settle(pilot)  # the status bar counts the training set in a worker
        assert store.message(answer_id).judgement == "good" and "▲1" in screen_text(app)
        assert [value for value, _, _ in store.judgement_history(answer_id)] == [
            "good", None, "bad", None, "good", "bad", None, "good"]
        await pilot.press("i")
        assert app.focused is app.chat_screen.query_one("#input")


async def test_edit_an_answer_makes_a_pair(app_for, short_engine, store):
    app = app_for(short_engine)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Name a colour.")
        original = answers(store, store.conversations()[0].id)[0]
        await pilot.press("tab", "e")
        await pilot.pause()
        assert isinstance(app.screen, EditScreen)
        editor = app.screen.query_one("#editor")
        assert editor.text == original.content
        editor.load_text("Blue.")
        await pilot.press("ctrl+s")
        await settle(pilot)
        siblings = store.siblings(original.id)
        assert len(siblings) == 2
        edited = siblings[1]
        assert edited.content == "Blue." and edited.source == "edit" and edited.judgement == "good"
        assert store.message(original.id).judgement == "bad"
        assert judgement_counts(store) == {"good": 1, "bad": 1, "pairs": 1}
        text = screen_text(app)
        assert "Blue." in text and "edited" in text and "2/2" in text and "pairs 1" in text


async def test_escape_in_the_editor_changes_nothing(app_for, short_engine, store):
    app = app_for(short_engine)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Name a fruit.")
        original = answers(store, store.conversations()[0].id)[0]
        await pilot.press("f2", "tab", "e")
        await pilot.pause()
        app.screen.query_one("#editor").load_text("changed")
        await pilot.press("escape")
        await settle(pilot)
        assert len(store.siblings(original.id)) == 1 and "changed" not in screen_text(app)


async def test_regenerate_adds_a_sibling_and_arrows_browse_them(app_for, short_engine, store):
    # So the two answers may differ; the test does not need it.
    short_engine.settings = short_engine.settings.with_overrides({"generation.temperature": 1.0})
    app = app_for(short_engine)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Tell me a fact.")
        conversation_id = store.conversations()[0].id
        first = answers(store, conversation_id)[0]
        await pilot.press("f4")
        await settle(pilot)
        siblings = store.siblings(first.id)
        assert len(siblings) == 2 and siblings[1].source == "regenerate"
        second = siblings[1]
        assert store.branch(conversation_id)[-1].id == second.id
        assert "2/2" in screen_text(app)
        await pilot.press("tab", "left")
        assert store.branch(conversation_id)[-1].id == first.id
        assert "1/2" in screen_text(app)
        await pilot.press("left")  # no sibling further left: nothing changes
        assert store.branch(conversation_id)[-1].id == first.id
        await pilot.press("right")
        assert store.branch(conversation_id)[-1].id == second.id and "2/2" in screen_text(app)
        await pilot.press("r")  # r in the list regenerates too
        await settle(pilot)
        assert len(store.siblings(first.id)) == 3 and "3/3" in screen_text(app)


async def test_editing_a_question_starts_a_branch_and_keeps_the_old_one(app_for, short_engine, store):
    app = app_for(short_engine)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "What is 2+2?")
        conversation_id = store.conversations()[0].id
        old_user, old_answer = store.branch(conversation_id)
        await pilot.press("tab", "up", "e")  # the answer is selected first; up selects the question
        await pilot.pause()
        assert isinstance(app.screen, EditScreen) and app.screen.query_one("#editor").text == "What is 2+2?"
        app.screen.query_one("#editor").load_text("What is 3+3?")
        await pilot.press("ctrl+s")
        await settle(pilot)
        new_user, new_answer = store.branch(conversation_id)
        assert new_user.content == "What is 3+3?" and new_user.parent_id is None
        assert new_answer.parent_id == new_user.id and new_answer.status == "complete"
        assert store.message(old_answer.id).content == old_answer.content  # the old branch is kept
        assert [m.id for m in store.siblings(new_user.id)] == [old_user.id, new_user.id]
        shown = widget_text(app, app.chat_screen.messages).split("\n", 1)[1]  # below the title (it stays)
        assert "What is 3+3?" in shown and "2+2" not in shown and "2/2" in shown
        # the list keeps focus and the new question stays selected: left goes back to the first one
        assert isinstance(app.focused, MessageList) and app.chat_screen.messages.selected_id == new_user.id
        await pilot.press("left")
        assert [m.id for m in store.branch(conversation_id)] == [old_user.id, old_answer.id]
        assert "What is 2+2?" in screen_text(app)


async def test_a_judgement_on_a_check_question_says_it_will_not_train(settings, store, tiny_eval_sets):
    from tuitune.tui.app import make_app

    from .scripted import ScriptedEngine

    app = make_app(settings, store=store, engine=ScriptedEngine(["Paris."]))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await send(pilot, "What is the capital of France?")  # one of the check questions: it measures
        await pilot.press("f2")
        await settle(pilot)
        await pilot.pause(0.2)
        assert "▲ good" in screen_text(app)
        assert "check question" in screen_text(app)
        assert "▲0" in screen_text(app)  # and the status bar does not count it
