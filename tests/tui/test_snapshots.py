"""Layout snapshots at 80x24 (pytest-textual-snapshot). The scripted engine stands in for the model here only;
the store is filled directly so that nothing in the picture depends on a clock."""

from __future__ import annotations

from tuitune.tui.app import make_app
from tuitune.tui.widgets.prompt_input import PromptInput

from .scripted import ScriptedEngine

SIZE = (80, 24)


async def ready(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    pilot.app.chat_screen.query_one(PromptInput).cursor_blink = False
    await pilot.pause()


def fill(store) -> int:
    """Two conversations; the open one has a judged pair of sibling answers and a follow-up. Its question is a check
    question (sample_data/check_questions.jsonl), which never trains: the status bar, which counts what a run would
    train on, shows ▲0 ▼0 pairs 0."""
    older = store.new_conversation("Packing for a hike")
    store.add_message(older, "user", "What should I pack for a day hike?")
    conversation = store.new_conversation("Capital of France")
    question = store.add_message(conversation, "user", "What is the capital of France?")
    first = store.add_message(conversation, "assistant", "The capital of France is **Lyon**.", question)
    store.record_edit(first, "The capital of France is **Paris**.")
    follow = store.add_message(conversation, "user", "And of Italy?", store.branch(conversation)[-1].id)
    store.add_message(conversation, "assistant", "Rome.", follow)
    return conversation


def test_chat_screen_empty(snap_compare, settings, store):
    app = make_app(settings, store=store, engine=ScriptedEngine(), continue_latest=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_judged_conversation_with_siblings(snap_compare, settings, store):
    fill(store)
    app = make_app(settings, store=store, engine=ScriptedEngine(), continue_latest=True)

    async def select_the_edited_answer(pilot) -> None:
        await ready(pilot)
        await pilot.press("tab", "up", "up")

    assert snap_compare(app, terminal_size=SIZE, run_before=select_the_edited_answer)


def test_help_screen(snap_compare, settings, store):
    app = make_app(settings, store=store, engine=ScriptedEngine(), continue_latest=True)

    async def open_help(pilot) -> None:
        await ready(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=open_help)
