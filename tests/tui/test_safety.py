"""Text is data: markup and terminal control sequences in user text and in model text are stored verbatim and
shown literally (control characters as visible escapes); nothing in them acts."""

from __future__ import annotations

from tuitune.tui.app import make_app
from tuitune.tui.widgets.conversation_list import ConversationList

from .helpers import screen_lines, screen_text, send, settle, widget_text
from .scripted import ScriptedEngine

MARKUP = "[bold]x [/] [link=https://evil.example]go[/link] [@click=app.quit]x[/]"
CONTROLS = "\x1b[31mred\x1b[0m \x1b]0;pwned\x07 \x1b]8;;https://evil.example\x07L\x1b]8;;\x07 \x1b]52;c;aGk=\x07 \x9b2J \u202eevil\u202c"
ADVERSARIAL = f"{MARKUP} {CONTROLS}"
SHOWN = [
    "[bold]x", "[/]", "[link=https://evil.example]go[/link]", "[@click=app.quit]x[/]",
    "\\x1b[31mred\\x1b[0m", "\\x1b]0;pwned\\x07", "\\x1b]8;;https://evil.example\\x07L", "\\x1b]52;c;aGk=\\x07",
    "\\x9b2J", "\\u202eevil\\u202c",
]
WIDE = (200, 40)  # wide enough that nothing wraps, so the strings can be found whole


async def test_adversarial_text_is_stored_verbatim_and_shown_literally(settings, store):
    engine = ScriptedEngine([ADVERSARIAL])
    app = make_app(settings, store=store, engine=engine)
    async with app.run_test(size=WIDE) as pilot:
        await send(pilot, ADVERSARIAL)
        user, answer = store.branch(store.conversations()[0].id)
        assert user.content == ADVERSARIAL and answer.content == ADVERSARIAL  # verbatim in the store
        assert engine.prompts[0][-1]["content"] == ADVERSARIAL  # and to the model
        text = screen_text(app)
        for literal in SHOWN:
            assert text.count(literal) >= 2, literal  # once in the question, once in the answer
        assert "\x1b" not in text and "\u202e" not in text and "\x9b" not in text
        # the title (from the first message) in the list and above the messages is safe too
        title = str(app.chat_screen.query_one(ConversationList).options[0].prompt)
        assert "\x1b" not in title and title.startswith("[bold]x [/]")
        assert widget_text(app, app.chat_screen.messages).startswith("─[bold]x [/] [link=")

        # clicking on "[@click=app.quit]x[/]" in the question and in the answer does nothing
        for row, line in enumerate(screen_lines(app)):
            col = line.find("[@click=app.quit]x[/]", 30)
            if col >= 0:
                await pilot.click(offset=(col + 18, row))
                await pilot.pause()
        assert app.is_running and app.return_value is None
        await pilot.press("f2")  # the app still works after the clicks
        assert store.message(answer.id).judgement == "good"


async def test_links_in_answers_never_open_by_themselves(settings, store, monkeypatch):
    engine = ScriptedEngine(["See [the docs](https://evil.example/x) now."])
    app = make_app(settings, store=store, engine=engine)
    opened: list[str] = []
    monkeypatch.setattr(app, "open_url", lambda url, **kw: opened.append(url))
    async with app.run_test(size=(100, 30)) as pilot:
        await send(pilot, "Where are the docs?")
        row, line = next((r, l) for r, l in enumerate(screen_lines(app)) if "the docs" in l and "Where" not in l)
        await pilot.click(offset=(line.index("the docs") + 2, row))
        await settle(pilot)
        assert opened == []
        assert app.is_running


async def test_a_huge_paste_is_capped_with_a_notice(settings, store):
    from textual import events

    from tuitune.chat.session import MAX_PROMPT_CHARS

    app = make_app(settings, store=store, engine=ScriptedEngine())
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        prompt = app.chat_screen.query_one("#input")
        prompt.post_message(events.Paste("y" * (MAX_PROMPT_CHARS + 500)))
        await pilot.pause()
        await pilot.pause()
        assert len(prompt.text) == MAX_PROMPT_CHARS
        assert "too long: 500" in screen_text(app) and "characters were left out" in screen_text(app)
