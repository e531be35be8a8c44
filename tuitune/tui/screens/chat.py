"""The chat screen: conversation list, the visible branch, the input, the status line.

It turns keys into calls on `Chat` and the `Store` and shows what they return; answers stream in a thread worker
that reports back with messages, so the event loop never runs model code."""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Markdown, OptionList
from textual.worker import get_current_worker

from tuitune.chat import ABTest, Answer, ChatError, system_prompt_names
from tuitune.chat.adapters import Swap
from tuitune.data.evalsets import EvalSetError
from tuitune.data.sets import counts_and_why_not
from tuitune.errors import TuituneError
from tuitune.generation import BASE
from tuitune.store import NotFound
from tuitune.store.records import Message as StoredMessage
from tuitune.textsafe import one_line
from tuitune.tui import keys
from tuitune.tui.curate.ab import ABScreen, ContendersScreen, ab_turn, reveal_line
from tuitune.tui.curate.screen import CurateScreen
from tuitune.tui.errors import ReportsWorkerErrors, unexpected
from tuitune.tui.host import Host
from tuitune.tui.screens.dialogs import ConfirmScreen, EditScreen, RenameScreen, SystemPromptScreen
from tuitune.tui.screens.help import HelpScreen
from tuitune.tui.training.adapters_screen import AdaptersScreen
from tuitune.tui.training.panel import TrainingPanel
from tuitune.tui.widgets.conversation_list import ConversationList
from tuitune.tui.widgets.message_list import MessageList
from tuitune.tui.widgets.message_view import Shown
from tuitune.tui.widgets.prompt_input import PromptInput
from tuitune.tui.widgets.status_bar import StatusBar

Start = Callable[[threading.Event], Answer]
# While an answer streams, what arrived is drawn this often: each token is on screen within about this, and at 150
# tokens/s the screen draws 15 times a second, not 150 (each draw repaints every widget on the screen; measured by
# bench/ui_stream.py).
DRAW_EVERY_S = 1 / 15
FOLLOW_EVERY_S = 0.5  # how often the screen looks for another client's changes (one cheap read)
EMPTY_LOOKED_AT = 20  # a new client reuses an empty conversation among the newest this many


class ChatScreen(ReportsWorkerErrors, Screen):
    BINDINGS = keys.Chat.bindings()

    class AnswerStarted(Message):
        def __init__(self, message_id: int) -> None:
            super().__init__()
            self.message_id = message_id

    class AnswerEnded(Message):
        def __init__(
            self, message_id: int | None, status: str, stats: Any = None, error: str = "", same_as: int | None = None
        ) -> None:
            super().__init__()
            self.message_id, self.status, self.stats, self.error = message_id, status, stats, error
            self.same_as = same_as  # a regeneration that repeated this answer, and was not kept

    class Counted(Message):
        """What a run would train on now, or why it cannot be counted (an eval file that cannot be read)."""

        def __init__(
            self,
            counts: dict[str, int] | None,
            error: str = "",
            since_run: int = 0,
            judged: bool = False,
            why_not: str = "",
        ) -> None:
            super().__init__()
            self.counts, self.error = counts, error
            self.since_run = since_run  # judgements since the last run, for train.auto_after
            self.judged = judged  # counted after a judgement made here: one that may start a run
            self.why_not = why_not  # why the judgement just made will not train ('' when it will)

    def __init__(self, host: Host) -> None:
        """`host` (the app) gives the services and says whether the model is in."""
        super().__init__()
        self.host = host
        self.chat, self.store = host.services.chat, host.services.store
        self.conversation_id: int | None = None
        # Where the branch this screen shows ends. Each client keeps its own: another terminal or tab on the same
        # conversation has its own, and a question goes after this screen's answer, never after theirs.
        self.leaf_id: int | None = None
        self.seen_version = -1  # the store's change counter when this screen last looked (`follow_others`)
        self.seen_state: tuple = ()  # the shown conversation's fingerprint then
        self.listed: tuple = ()  # what the conversation list shows
        self.liveness_checked = 0.0
        self.shows_recorded = False  # the store knows which conversation this screen shows (others mark it)
        self.cancel: threading.Event | None = None
        self.streaming_id: int | None = None
        self.streamed = ""  # the answer in flight as received so far; the store may be behind or ahead
        self.unshown = ""  # received but not drawn yet
        # Pieces from the generation thread, (answer id, text), taken by the draw timer: one message per token cost
        # the event loop a dispatch each (bench/ui_stream.py: 0.37 -> 0.30 of a core at 150 tokens/s).
        self.arrived: deque[tuple[int, str]] = deque()
        self.drawing: Timer | None = None  # draws what arrived, while an answer streams
        self.count_error = ""  # said once, not after every judgement

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield ConversationList(id="conversations")
            with Vertical(id="chat"):
                yield MessageList(id="messages")
                yield PromptInput(id="input")
        yield TrainingPanel(self.host, id="training")
        yield StatusBar(id="status")
        yield Footer()

    async def on_mount(self) -> None:
        self.host.adapter_changed.subscribe(self, self.show_adapter)
        await self.open_conversation(self._first_conversation())
        self.refresh_counts()
        self.query_one(PromptInput).focus()
        self.set_interval(FOLLOW_EVERY_S, self.follow_others)

    def on_unmount(self) -> None:
        self.store.show_conversation(None)

    def _first_conversation(self) -> int:
        """Each new client gets its own place: an empty conversation no other client shows, else a new one. Asked
        to continue (`tuitune --continue`), the latest conversation."""
        conversations = self.store.conversations()
        if self.host.continue_latest and conversations:
            return conversations[0].id
        elsewhere = self.store.open_elsewhere()
        for conversation in conversations[:EMPTY_LOOKED_AT]:
            if conversation.id not in elsewhere and not self.store.children(conversation.id, None):
                return conversation.id
        return self.chat.new_conversation()

    # ---- showing ---------------------------------------------------------------------------------------------
    @property
    def messages(self) -> MessageList:
        return self.query_one(MessageList)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    async def open_conversation(self, conversation_id: int, select_id: int | None = None) -> None:
        """Show a conversation; another one opens at its latest branch, the one shown keeps this screen's own."""
        if conversation_id != self.conversation_id:
            self.conversation_id, self.leaf_id = conversation_id, None
            self.shows_recorded = self.store.show_conversation(conversation_id)
        self.show_list()
        await self.reload(select_id)

    def show_list(self) -> None:
        """The conversation list, each one another client shows marked; redrawn only when it changed."""
        conversations, elsewhere = self.store.conversations(), self.store.open_elsewhere()
        listed = (tuple((c.id, c.title) for c in conversations), tuple(sorted(elsewhere.items())), self.conversation_id)
        if listed != self.listed:
            self.listed = listed
            self.query_one(ConversationList).show(conversations, self.conversation_id, elsewhere)

    def branch(self) -> list[StoredMessage]:
        """Root to this screen's leaf; without one (or when another client deleted it), the conversation's latest
        branch, whose end becomes this screen's leaf."""
        assert self.conversation_id is not None
        if self.leaf_id is not None:
            try:
                leaf = self.store.message(self.leaf_id)
            except NotFound:
                leaf = None
            if leaf is not None and leaf.deleted_at is None and leaf.conversation_id == self.conversation_id:
                return self.store.path_to(leaf.id)
        path = self.store.branch(self.conversation_id)
        self.leaf_id = path[-1].id if path else None
        return path

    async def reload(self, select_id: int | None = None) -> None:
        assert self.conversation_id is not None
        conversation = self.store.conversation(self.conversation_id)
        title = Text(one_line(conversation.title or "untitled", 48))
        if conversation.system_prompt:
            title.append(f" · system: {one_line(conversation.system_prompt, 20)}", style="italic")
        self.messages.border_title = title
        self.seen_state = self.store.conversation_state(self.conversation_id)
        shown = [self._shown(m) for m in self.branch()]
        self.unshown = ""  # the answer in flight is drawn whole by the reload
        await self.messages.show(shown, select_id)

    def _shown(self, message: StoredMessage) -> Shown:
        if message.id == self.streaming_id:
            message = replace(message, content=self.streamed)
        ids = [m.id for m in self.store.siblings(message.id)]
        elsewhere = message.status == "streaming" and message.id != self.streaming_id
        return Shown(message, ids.index(message.id) + 1, len(ids), streaming_elsewhere=elsewhere)

    # ---- other clients on the same store -----------------------------------------------------------------------
    async def follow_others(self) -> None:
        """A few times a second, one cheap read: has another client (a terminal, a browser tab, `ask`) written to
        the store? Then the list and, when it changed, the conversation shown are brought up to date."""
        if not self.shows_recorded:  # the store was busy when this screen opened its conversation
            self.shows_recorded = self.store.show_conversation(self.conversation_id)
        version = self.store.changed_elsewhere()
        if version == self.seen_version:
            await self._check_writers()
            return
        self.seen_version = version
        self.show_list()
        if self.conversation_id is not None and self.store.conversation_state(self.conversation_id) != self.seen_state:
            await self.follow()

    async def _check_writers(self) -> None:
        """An answer another client was streaming stays 'streaming' in the store when that client is killed: every
        few seconds while one is shown, answers whose writer is gone are marked stopped."""
        shown = self.messages.views
        if not any(v.shown.streaming_elsewhere for v in shown) or time.monotonic() - self.liveness_checked < 2:
            return
        self.liveness_checked = time.monotonic()
        if self.store.mark_streaming_stopped():
            await self.follow()

    async def follow(self) -> None:
        """Turns another client added below this screen's leaf are followed (unless an answer is on its way here),
        an answer another client streams fills in, sibling counts, judgements and statuses update. A change of the
        messages shown redraws the branch; otherwise only what changed is redrawn."""
        assert self.conversation_id is not None
        if self.cancel is None and self.leaf_id is not None:
            self.leaf_id = self.store.newest_leaf(self.leaf_id)
        path = self.branch()
        views = self.messages.views
        if [v.message_id for v in views] != [m.id for m in path]:
            await self.reload(self.messages.selected_id)
            return
        self.seen_state = self.store.conversation_state(self.conversation_id)
        for view, message in zip(views, path, strict=True):
            if message.id != self.streaming_id:
                await view.show_again(self._shown(message))

    def refresh_message(self, message_id: int) -> None:
        view = self.messages.view_for(message_id)
        if view is not None:
            view.update_header(self._shown(self.store.message(message_id)))

    def refresh_counts(self, judged: bool = False, turn_id: int | None = None) -> None:
        """`judged`: after a judgement made in this app, which may start a run (train.auto_after); `turn_id`: the
        user turn whose answer was judged, to say why that judgement will not train when it will not."""
        self._count_trainable(judged, turn_id)
        with contextlib.suppress(NoMatches):  # F5's face: was anything judged since the last run
            self.query_one(TrainingPanel).recount()

    @work(thread=True, exit_on_error=False, exclusive=True, group="counts")
    def _count_trainable(self, judged: bool, turn_id: int | None) -> None:
        """The status bar's figures are the training set's own (`trainable_counts`: held-out prompts and turns that
        repeat an eval prompt left out), so the bar never promises an example the trainer drops. That reads every
        judged answer and the eval files: off the event loop, the newest count only."""
        try:
            since = self.store.judgements_since_last_run() if self.chat.settings.train.auto_after else 0
            counts, why_not = counts_and_why_not(self.store, self.chat.settings, turn_id)
            counted = self.Counted(counts, since_run=since, judged=judged, why_not=why_not)
        except (TuituneError, EvalSetError) as exc:
            counted = self.Counted(None, str(exc))
        if not get_current_worker().is_cancelled:
            self.post_message(counted)

    @on(Counted)
    def counted(self, event: Counted) -> None:
        if event.counts is not None:
            self.status.show(counts=event.counts)
            if event.why_not:
                self.say(f"this judgement will not train: {event.why_not}")
            self._keep_learning(event.since_run, event.judged)
        elif event.error != self.count_error:
            self.say(f"cannot count the training set: {event.error}", "error")
        self.count_error = event.error

    def _keep_learning(self, since_run: int, judged: bool) -> None:
        """train.auto_after: a judgement that makes that many since the last run starts a run as F5 would (never
        beside one that is running, never on merely opening the app); the status bar says how many remain."""
        every = self.chat.settings.train.auto_after
        if not every:
            return
        panel = self.query_one(TrainingPanel)
        left = every - since_run
        self.status.show(auto=f"next run in {left}" if left > 0 else "")
        if judged and left <= 0 and not panel.live and self.host.model_ready.is_set() and not self.host.model_error:
            self.say(f"{since_run} new judgements since the last run: training by itself (train.auto_after)")
            panel.train_key()

    def show_model(self, model: str, adapter: str | None = None) -> None:
        self.status.show(model=model, adapter=adapter)

    def show_adapter(self, swap: Swap) -> None:
        self.status.show(adapter=swap.name or BASE)

    def say(self, text: str, severity: str = "information") -> None:
        self.notify(one_line(text, 300), severity=severity, markup=False)  # type: ignore[arg-type]

    def target(self) -> StoredMessage | None:
        """The selected message, or the latest answer when nothing is selected."""
        message_id = self.messages.selected_id
        if message_id is None:
            answers = [v for v in self.messages.views if v.shown.message.role == "assistant"]
            message_id = answers[-1].message_id if answers else None
        return self.store.message(message_id) if message_id is not None else None

    def busy(self) -> bool:
        if self.cancel is not None:
            self.say("an answer is streaming; Esc stops it", "warning")
            return True
        return False

    # ---- sending and streaming -------------------------------------------------------------------------------
    @on(PromptInput.Submitted)
    async def send(self, event: PromptInput.Submitted) -> None:
        if not event.text.strip() or self.busy():
            return
        assert self.conversation_id is not None
        try:
            user_id = self.chat.send(self.conversation_id, event.text, after=self.leaf_id)
        except ChatError as exc:
            self.say(str(exc), "error")
            return
        self.query_one(PromptInput).sent(event.text)  # keeps what was typed after the Enter
        self.leaf_id = user_id
        await self.open_conversation(self.conversation_id)
        self.generate(lambda cancel: self.chat.answer(user_id, cancel))

    @on(PromptInput.Capped)
    def capped(self, event: PromptInput.Capped) -> None:
        self.say(f"the paste was too long: {event.dropped:,} characters were left out", "warning")

    def generate(self, start: Start) -> None:
        self.cancel = threading.Event()
        waiting = not self.host.model_ready.is_set()
        self.status.show(activity="waiting for the model…" if waiting else "thinking…")
        self._generate(start, self.cancel)

    @work(thread=True, exit_on_error=False, group="generation")
    def _generate(self, start: Start, cancel: threading.Event) -> None:
        while not self.host.model_ready.wait(0.1):
            if cancel.is_set():
                self.post_message(self.AnswerEnded(None, "stopped"))
                return
        if self.host.model_error:
            self.post_message(self.AnswerEnded(None, "error", error=f"no model: {self.host.model_error}"))
            return
        try:
            answer = start(cancel)
        except TuituneError as exc:  # ChatError, PromptTooLong, EngineError, StoreBusy: all for the user to read
            self.post_message(self.AnswerEnded(None, "error", error=str(exc) or exc.__class__.__name__))
            return
        except Exception as exc:  # a bug: logged, and the screen still stops waiting for an answer
            self.post_message(self.AnswerEnded(None, "error", error=unexpected(self.app, exc, "starting the answer")))
            return
        self.post_message(self.AnswerStarted(answer.message_id))
        # Every piece is handed over at once (a slow model must not hold one back); the draw timer takes what came.
        try:
            for piece in answer:
                self.arrived.append((answer.message_id, piece))
        except TuituneError as exc:  # EngineGone, StoreFull: what arrived is kept, the error is shown
            answer.error = answer.error or str(exc)
        except Exception as exc:  # a bug: the same, and the traceback is logged
            answer.error = unexpected(self.app, exc, "the answer")
        self.post_message(
            self.AnswerEnded(answer.message_id, answer.status, answer.stats, answer.error, same_as=answer.same_as)
        )

    @on(AnswerStarted)
    async def answer_started(self, event: AnswerStarted) -> None:
        self.streaming_id, self.streamed, self.unshown = event.message_id, "", ""
        self.status.show(activity="answering… (Esc stops)")
        if self.store.message(event.message_id).conversation_id == self.conversation_id:
            self.leaf_id = event.message_id
            await self.reload(self.messages.selected_id)
        # Drawing at 150 tokens/s makes garbage fast enough for a full collection every few seconds, each a pause of
        # ~100 ms over every object of the app: while the answer streams only what it makes is looked at.
        gc.freeze()
        self.drawing = self.set_interval(DRAW_EVERY_S, self.draw_streamed)

    def _take_arrived(self) -> None:
        while self.arrived:
            message_id, text = self.arrived.popleft()
            if message_id == self.streaming_id:
                self.streamed += text
                self.unshown += text

    async def draw_streamed(self) -> None:
        """What arrived since the last draw reaches the screen in one piece, so keys never queue behind a draw per
        token."""
        self._take_arrived()
        if not self.unshown or self.streaming_id is None:
            return
        text, self.unshown = self.unshown, ""
        view = self.messages.view_for(self.streaming_id)
        if view is not None:
            await view.write(text)

    @on(AnswerEnded)
    async def answer_ended(self, event: AnswerEnded) -> None:
        if self.drawing is not None:
            self.drawing.stop()
            self.drawing = None
            gc.unfreeze()
        await self.draw_streamed()
        self.cancel, self.streaming_id = None, None
        speed = None
        if event.stats is not None and event.stats.new_tokens:
            speed = f"{event.stats.tokens_per_s:.1f} tok/s ttft {event.stats.ttft_s:.2f}s"
        self.status.show(activity="", speed=speed)
        if event.error:
            self.say(f"the answer failed: {event.error}", "error")
        if event.same_as is not None:
            await self._repeated(event.same_as)
        elif event.message_id is not None:
            view = self.messages.view_for(event.message_id)
            if view is not None:
                await view.end_stream()
                self.refresh_message(event.message_id)
        self.refresh_counts()

    async def _repeated(self, same_as: int) -> None:
        """F4 sampled the very answer already there: nothing new was kept, and the screen goes back to it."""
        if self.leaf_id is not None and self.store.message(self.leaf_id).deleted_at is not None:
            self.leaf_id = self.store.newest_leaf(same_as)
        await self.reload(same_as)
        shown = self._shown(self.store.message(same_as))
        self.say(
            f"the new answer repeats answer {shown.position}/{shown.count} word for word: not kept (F4 samples "
            "again, e edits)",
            "warning",
        )

    def stop_generation(self) -> None:
        if self.cancel is not None:
            self.cancel.set()

    # ---- actions ---------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """F5's face (keys.Chat.TRAIN_NOTHING_NEW): shown dimmed while nothing was judged since the last run and no
        run is live, else hidden. It never runs: F5 falls through to Train, which trains anyway or says why not."""
        if action != keys.Chat.TRAIN_NOTHING_NEW.action:
            return True
        try:
            panel = self.query_one(TrainingPanel)
        except NoMatches:  # not composed yet
            return False
        return None if panel.nothing_new else False

    def action_stop(self) -> None:
        if self.cancel is None:
            self.messages.select(None)
        self.stop_generation()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_focus_input(self) -> None:
        self.query_one(PromptInput).focus()

    def action_focus_messages(self) -> None:
        self.messages.focus()

    def action_focus_conversations(self) -> None:
        sidebar = self.query_one(ConversationList)
        sidebar.display = True
        sidebar.focus()

    def action_judge(self, value: str) -> None:
        message = self.target()
        if message is None or message.role != "assistant":
            self.say("select an answer to judge" if message else "there is no answer to judge yet", "warning")
            return
        if message.id == self.streaming_id:
            self.say("the answer is still streaming; Esc stops it", "warning")
            return
        self.store.judge(message.id, None if message.judgement == value else value)
        self.refresh_message(message.id)
        judged = value != message.judgement
        self.refresh_counts(judged=judged, turn_id=message.parent_id if judged else None)

    async def action_regenerate(self) -> None:
        message = self.target()
        if message is None or self.busy():
            return
        if message.role == "assistant":
            self.generate(lambda cancel: self.chat.regenerate(message.id, cancel))
        elif message.role == "user":
            self.generate(lambda cancel: self.chat.answer(message.id, cancel))

    async def action_sibling(self, delta: int) -> None:
        message = self.target()
        if message is None or self.busy():
            return
        siblings = self.store.siblings(message.id)
        index = [m.id for m in siblings].index(message.id) + delta
        if not 0 <= index < len(siblings):
            self.app.bell()
            return
        chosen = siblings[index]
        self.leaf_id = self.store.newest_leaf(chosen.id)
        self.store.set_active_leaf(chosen.conversation_id, self.leaf_id)  # where the conversation opens next
        await self.reload(select_id=chosen.id)

    def action_edit(self) -> None:
        message = self.target()
        if message is None or self.busy():
            return
        if message.role == "assistant":
            title = "Edit the answer: saved as a better sibling, the original counts as bad"
        else:
            title = "Edit your message: starts a new branch, the old one is kept"

        async def edited(text: str | None) -> None:
            if text is None or text == message.content:
                return
            try:
                if message.role == "assistant":
                    new_id = self.chat.edit_answer(message.id, text)
                else:
                    new_id = self.chat.edit_user_turn(message.id, text)
            except ChatError as exc:
                self.say(str(exc), "error")
                return
            if message.conversation_id == self.conversation_id:
                self.leaf_id = new_id
            await self.open_conversation(message.conversation_id, select_id=new_id)
            self.refresh_counts(judged=message.role == "assistant")  # an edited answer is a judged pair
            if message.role == "user":
                self.generate(lambda cancel: self.chat.answer(new_id, cancel))

        self.app.push_screen(EditScreen(title, message.content), edited)

    # ---- curate and blind A/B (tuitune.tui.curate) -------------------------------------------------------------
    def action_curate(self) -> None:
        async def closed(_: None) -> None:  # judgements, exclusions and deletions may have changed
            if self.conversation_id is not None:
                await self.open_conversation(self.conversation_id)
            self.refresh_counts()

        self.app.push_screen(CurateScreen(self.store, self.chat.settings), closed)

    def action_ab_test(self) -> None:
        """Two contenders answer the selected (or latest) user turn blind; the pick continues the chat."""
        if self.busy() or self.conversation_id is None:
            return
        if not self.host.model_ready.is_set() or self.host.model_error:
            self.say("the model is not loaded yet" if not self.host.model_error else "there is no model", "warning")
            return
        turn = ab_turn(self.target() if self.messages.selected_id else None, self.branch())
        if turn is None:
            self.say("send a message first: A/B answers your latest turn", "warning")
            return
        if not self.store.adapters():
            self.say("A/B needs an adapter: train one or `tuitune adapters add PATH`", "warning")
            return
        conversation_id = self.conversation_id

        async def decided(reveal) -> None:
            if reveal is not None and conversation_id == self.conversation_id:
                self.leaf_id = self.store.newest_leaf(reveal.continue_id)
            await self.open_conversation(conversation_id, select_id=reveal.continue_id if reveal else None)
            self.refresh_counts(judged=reveal is not None)
            if reveal is not None:
                self.say(reveal_line(reveal))

        def chosen(pair) -> None:
            if pair is not None:
                self.app.push_screen(ABScreen(ABTest(self.chat), turn, *pair), decided)

        self.app.push_screen(ContendersScreen(self.store, self.chat.engine.active_adapter), chosen)

    def action_ab_new(self) -> None:
        """The last run's adapter against the model live before it, blind, on a few of its held-out prompts, one
        round after another; the picks are stored as pairs on held-out turns (so they measure, never train)."""
        if self.busy():
            return
        if not self.host.model_ready.is_set() or self.host.model_error:
            self.say("the model is not loaded yet" if not self.host.model_error else "there is no model", "warning")
            return
        panel = self.query_one(TrainingPanel)
        try:
            new, before, turns = panel.ab_plan()
        except TuituneError as exc:
            self.say(str(exc), "warning")
            return

        def play(rest: list[int]) -> None:
            if not rest:
                self.refresh_counts()
                self.say(panel.ab_verdict(new, before) or "no pick was made")
                return

            def decided(reveal) -> None:
                if reveal is None:  # cancelled: stop asking, say what was picked so far
                    play([])
                    return
                self.say(reveal_line(reveal))
                play(rest[1:])

            self.app.push_screen(ABScreen(ABTest(self.chat), rest[0], new, before), decided)

        play(turns)

    # ---- training and adapters (tuitune.tui.training) ---------------------------------------------------------
    def action_train(self) -> None:
        self.query_one(TrainingPanel).train_key()

    def action_train_options(self) -> None:
        self.query_one(TrainingPanel).ask_options()

    def action_cancel_training(self) -> None:
        self.query_one(TrainingPanel).ask_cancel()

    def action_toggle_training(self) -> None:
        self.query_one(TrainingPanel).toggle()

    def action_before_after(self) -> None:
        self.query_one(TrainingPanel).show_comparison()

    def action_adapters(self) -> None:
        self.app.push_screen(AdaptersScreen(self.host))

    @on(TrainingPanel.Summary)
    def training_summary(self, event: TrainingPanel.Summary) -> None:
        self.status.show(training=event.text)

    @on(TrainingPanel.Ended)
    def training_ended(self, _: TrainingPanel.Ended) -> None:
        self.refresh_counts()  # train.auto_after counts from the run that just ended

    # ---- conversations ---------------------------------------------------------------------------------------
    async def action_new_conversation(self) -> None:
        await self.open_conversation(self.chat.new_conversation())
        self.query_one(PromptInput).focus()

    @on(OptionList.OptionSelected, "#conversations")
    async def switch(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None and int(event.option.id) != self.conversation_id:
            await self.open_conversation(int(event.option.id))

    def action_toggle_conversations(self) -> None:
        sidebar = self.query_one(ConversationList)
        sidebar.display = not sidebar.display
        if not sidebar.display and sidebar.has_focus:
            self.action_focus_input()

    def _listed_conversation(self) -> int | None:
        """The conversation the list points at when it has focus, else the open one."""
        sidebar = self.query_one(ConversationList)
        option = sidebar.highlighted_option if sidebar.has_focus else None
        return int(option.id) if option is not None and option.id else self.conversation_id

    def action_rename_conversation(self) -> None:
        conversation_id = self._listed_conversation()
        if conversation_id is None:
            return

        async def renamed(title: str | None) -> None:
            if title:
                self.store.rename_conversation(conversation_id, title)
                await self.open_conversation(self.conversation_id or conversation_id)

        self.app.push_screen(RenameScreen(self.store.conversation(conversation_id).title), renamed)

    def action_delete_conversation(self) -> None:
        conversation_id = self._listed_conversation()
        if conversation_id is None:
            return
        if conversation_id == self.conversation_id and self.busy():
            return
        title = self.store.conversation(conversation_id).title

        async def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            self.store.delete_conversation(conversation_id)
            if conversation_id != self.conversation_id:
                await self.open_conversation(self.conversation_id)  # type: ignore[arg-type]
                return
            rest = self.store.conversations()
            await self.open_conversation(rest[0].id if rest else self.chat.new_conversation())
            self.refresh_counts()

        self.app.push_screen(ConfirmScreen(f"Delete “{one_line(title, 40)}”?"), confirmed)

    def action_system_prompt(self) -> None:
        conversation_id = self.conversation_id
        if conversation_id is None:
            return
        current = self.store.conversation(conversation_id).system_prompt

        async def chosen(value: str | None) -> None:
            if value is None:
                return
            self.store.set_system_prompt(conversation_id, value or None)
            await self.reload(self.messages.selected_id)

        names = system_prompt_names(self.chat.settings.prompts_dir)
        self.app.push_screen(SystemPromptScreen(names, current), chosen)

    @on(Markdown.LinkClicked)
    def link_clicked(self, event: Markdown.LinkClicked) -> None:
        self.say(f"link (not opened): {event.href}")
