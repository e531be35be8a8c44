"""Conversation actions shared by the CLI and the TUI: send, answer (streamed into the store), regenerate, edit.

An answer is saved as it streams: the row is created 'streaming', its text is written at most every
SAVE_EVERY_S seconds, and it ends 'complete', 'stopped' or 'error'. A killed process leaves at most the tail
since the last save, and `Store.mark_streaming_stopped` marks it stopped at the next start.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tuitune.config import Settings
from tuitune.data.prompts import turn_prompt
from tuitune.errors import TuituneError
from tuitune.generation import GenerationStats, Sampling
from tuitune.store import Store, StoreError, StoreFull

SAVE_EVERY_S = 0.25
MAX_PROMPT_CHARS = 100_000


class Latest:
    """`Chat.send`'s default: after the conversation's latest branch."""


LATEST = Latest()


class ChatError(TuituneError, ValueError):
    """A user action that cannot be done; the message is for the user."""


@dataclass
class Answer:
    """Iterate for text pieces as they stream; the store already holds the answer as `message_id`."""

    message_id: int
    pieces: Iterator[str]
    stats: GenerationStats = field(default_factory=GenerationStats)
    text: str = ""
    status: str = "streaming"
    error: str = ""
    not_saved: str = ""  # why the store does not hold the whole text (a full disk); the text is still here
    regenerated: bool = False  # a regeneration: it must differ from the turn's other answers to be kept
    same_as: int | None = None  # the answer this regeneration repeated word for word (then it is not kept)

    def __iter__(self) -> Iterator[str]:
        return self.pieces


class Chat:
    def __init__(self, settings: Settings, store: Store, engine: Any):
        """`engine` is a tuitune.client.EngineClient (or an object with its interface)."""
        self.settings, self.store, self.engine = settings, store, engine

    # ---- building the prompt: the prompt of a turn, as training pairs it with an answer (tuitune.data) ------
    def prompt_messages(self, conversation_id: int, last_id: int) -> list[dict[str, str]]:
        return turn_prompt(self.store, self.settings, conversation_id, last_id)

    # ---- actions -------------------------------------------------------------------------------------------
    def new_conversation(self, title: str = "New chat", system_prompt: str | None = None) -> int:
        return self.store.new_conversation(title=title, system_prompt=system_prompt)

    def send(self, conversation_id: int, text: str, after: int | None | Latest = LATEST) -> int:
        """Store a user turn after `after`, the answer the sender shows (None: a new root), by default after the
        conversation's latest branch. Given a question or an answer still streaming (another client's), it goes
        after the nearest finished answer above: a sibling branch, never a question under a question."""
        if after is LATEST:
            branch = self.store.branch(conversation_id)
            after = branch[-1].id if branch else None
        assert not isinstance(after, Latest)
        return self._add_user_turn(conversation_id, text, after)

    def _add_user_turn(self, conversation_id: int, text: str, parent_id: int | None) -> int:
        if not text.strip():
            raise ChatError("the message is empty")
        if len(text) > MAX_PROMPT_CHARS:
            raise ChatError(f"the message is {len(text):,} characters; the limit is {MAX_PROMPT_CHARS:,}")
        message_id = self.store.add_message(conversation_id, "user", text, parent_id=parent_id)
        if parent_id is None and self.store.conversation(conversation_id).title in ("", "New chat"):
            self.store.rename_conversation(conversation_id, _title_from(text))
        return message_id

    def answer(
        self,
        user_message_id: int,
        cancel: threading.Event | None = None,
        source: str = "chat",
        sampling: Sampling | None = None,
        **adapter: str | None,
    ) -> Answer:
        """Start an answer to a user turn; errors in fitting the prompt raise here, before any row is written.
        `adapter=NAME` (None: the base) answers with that adapter instead of the engine client's default. The row
        records the adapter the engine reports for this very request. `sampling` replaces the settings' decoding."""
        user = self.store.message(user_message_id)
        if user.role != "user":
            raise ChatError("only a user turn can be answered")
        prompt = self.prompt_messages(user.conversation_id, user.id)
        generation = self.engine.generate(prompt, cancel=cancel, sampling=sampling, **adapter)
        info = self.engine.info
        message_id = self.store.add_message(
            user.conversation_id,
            "assistant",
            "",
            parent_id=user.id,
            status="streaming",
            source=source,
            adapter_id=self._adapter_id(generation.stats.adapter),
            model=info.name if info else None,
        )
        answer = Answer(message_id, iter(()), generation.stats)
        answer.pieces = self._stream(answer, generation)
        return answer

    def regenerate(self, assistant_message_id: int, cancel: threading.Event | None = None) -> Answer:
        original = self.store.message(assistant_message_id)
        if original.role != "assistant" or original.parent_id is None:
            raise ChatError("only an answer can be regenerated")
        """Another answer to the same turn, sampled (generation.regenerate_temperature/top_p, a fresh seed) even when
        chat decodes greedily, so the sibling differs. One that still comes out the same as an answer already there
        is not kept (`Answer.same_as` says which): a pair of equal answers teaches nothing."""
        gen = self.settings.generation
        sampling = Sampling(
            temperature=gen.regenerate_temperature, top_p=gen.regenerate_top_p, seed=secrets.randbelow(2**31)
        )
        answer = self.answer(original.parent_id, cancel=cancel, source="regenerate", sampling=sampling)
        answer.regenerated = True
        return answer

    def edit_answer(self, assistant_message_id: int, new_text: str) -> int:
        if not new_text.strip():
            raise ChatError("the edited answer is empty")
        return self.store.record_edit(assistant_message_id, new_text)

    def edit_user_turn(self, user_message_id: int, new_text: str) -> int:
        """A new branch from the edited turn: the old turn and everything after it stay in the tree."""
        original = self.store.message(user_message_id)
        if original.role != "user":
            raise ChatError("only a user turn can be edited this way")
        return self._add_user_turn(original.conversation_id, new_text, original.parent_id)

    # ---- streaming -----------------------------------------------------------------------------------------
    def _stream(self, answer: Answer, generation) -> Iterator[str]:
        last_save = time.monotonic()
        try:
            for piece in generation:
                answer.text += piece
                if time.monotonic() - last_save >= SAVE_EVERY_S:
                    last_save = time.monotonic()
                    self._save_now(answer)
                yield piece
        except Exception as exc:
            answer.status, answer.error = "error", f"{exc.__class__.__name__}: {exc}"
            self._save_end(answer, status="error")
            raise
        finally:
            if answer.status == "streaming":
                # Closed early (the consumer stopped reading) counts as stopped, like a cancel.
                done = generation.stats.finish in ("eos", "length")
                answer.status = "complete" if done else "stopped"
                self._save_end(answer, status=answer.status, stats=generation.stats.as_dict())
                if answer.regenerated and answer.status == "complete":
                    self._drop_if_repeated(answer)

    def _drop_if_repeated(self, answer: Answer) -> None:
        text, this = answer.text.strip(), self.store.message(answer.message_id)
        for other in self.store.children(this.conversation_id, this.parent_id):
            if other.id != answer.message_id and other.role == "assistant" and other.content.strip() == text:
                answer.same_as = other.id
                self.store.delete_message(answer.message_id)
                return

    def _save_now(self, answer: Answer) -> None:
        """A save while streaming never waits: when another process holds the store, the text stays in memory
        and the next save (or the last) writes it."""
        try:
            self.store.try_update_message(answer.message_id, content=answer.text)
        except StoreFull:
            answer.not_saved = "the disk is full"

    def _save_end(self, answer: Answer, **values) -> None:
        """The last save waits (bounded) for a busy store; if it still cannot write, the text is kept here and
        the answer says it was not saved."""
        try:
            self.store.update_message(answer.message_id, content=answer.text, **values)
            answer.not_saved = ""
        except StoreError as exc:
            answer.not_saved = str(exc)
            answer.error = answer.error or f"the answer was not saved ({exc}); its text is shown here"

    def _adapter_id(self, name: str | None) -> int | None:
        adapter = self.store.adapter(name) if name else None
        return adapter.id if adapter else None


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line[:48] + ("…" if len(line) > 48 else "")
