"""Blind A/B: two contenders (adapters, or an adapter and the base) answer the same user turn on the one loaded
base, switched in place; the user sees only "A" and "B" until the pick, which the store turns into judgements (a
DPO pair and KTO rows), a comparison row for the ratings, and the branch the conversation continues from.

    ab = ABTest(chat)                                   # or ABTest(chat, rng=random.Random(seed))
    round = ab.start(user_message_id, "tldr-2", None)   # None: the base model; errors surface here
    for label, answer in round.stream():                # "A" first, then "B"
        for piece in answer: ...                        # each answer streams like Chat.answer's
    reveal = round.pick("A")                            # "A", "B", "tie" or "both_bad"; see tuitune.store.ab

The answers stream one after the other, each request naming its contender (the engine queues requests). When the
caller asks for B before reading A to the end, A is finished first, unseen.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from tuitune.chat.session import Answer, Chat, ChatError
from tuitune.store import BASE

LABELS = ("A", "B")
CHOICES = ("A", "B", "tie", "both_bad")
_WINNER = {"A": "a", "B": "b", "tie": "tie", "both_bad": "both_bad"}


@dataclass(frozen=True)
class Reveal:
    """Who was who, after the pick."""

    comparison_id: int
    choice: str  # A | B | tie | both_bad
    a: str  # the adapter's name, or BASE
    b: str
    a_message_id: int
    b_message_id: int
    continue_id: int  # the answer the conversation now continues from

    @property
    def winner(self) -> str | None:
        """The winning contender's name; None for a tie or both bad."""
        return {"A": self.a, "B": self.b}.get(self.choice)


class ABRound:
    """One blind comparison: stream both answers, then pick. Which contender is A stays private until `pick`."""

    def __init__(
        self, chat: Chat, user_message_id: int, contenders: tuple[str | None, str | None], cancel: threading.Event
    ):
        self.chat = chat
        self.user_message_id = user_message_id
        self.cancel = cancel
        self.answers: dict[str, Answer] = {}  # by label, as each starts
        self.reveal: Reveal | None = None
        self._contenders = dict(zip(LABELS, contenders, strict=True))

    def __repr__(self) -> str:
        return f"ABRound(user_message_id={self.user_message_id}, started={sorted(self.answers)})"

    @property
    def a_message_id(self) -> int | None:
        return self.answers["A"].message_id if "A" in self.answers else None

    @property
    def b_message_id(self) -> int | None:
        return self.answers["B"].message_id if "B" in self.answers else None

    def stream(self) -> Iterator[tuple[str, Answer]]:
        """Yield ("A", answer) then ("B", answer), each stored as an 'ab' sibling answer with its adapter. A cancel
        stops the answer in flight and skips the rest. The chat's own adapter is not touched."""
        for label in LABELS:
            if self.cancel.is_set() or label in self.answers:
                continue
            answer = self.chat.answer(
                self.user_message_id, cancel=self.cancel, source="ab", adapter=self._contenders[label]
            )
            self.answers[label] = answer
            yield label, answer
            for _ in answer:  # finish what the caller left unread before the next answer starts
                pass

    def pick(self, choice: str) -> Reveal:
        """Record the pick (see tuitune.store.ab for what each choice judges) and reveal who was who."""
        if choice not in CHOICES:
            raise ChatError(f"pick one of {', '.join(CHOICES)}, not {choice!r}")
        if self.reveal is not None:
            raise ChatError("this comparison has been decided already")
        if len(self.answers) < 2 or any(a.status == "streaming" for a in self.answers.values()):
            raise ChatError("both answers must be written before picking")
        store = self.chat.store
        a_id, b_id = self.answers["A"].message_id, self.answers["B"].message_id
        comparison_id = store.record_comparison(self.user_message_id, a_id, b_id, _WINNER[choice])
        a, b = store.message(a_id), store.message(b_id)
        self.reveal = Reveal(
            comparison_id,
            choice,
            a.adapter or BASE,
            b.adapter or BASE,
            a_id,
            b_id,
            continue_id=b_id if choice == "B" else a_id,
        )
        return self.reveal


class ABTest:
    """Starts blind comparisons for a chat; `rng` decides which contender is A (seed it to replay an order)."""

    def __init__(self, chat: Chat, rng: random.Random | None = None):
        self.chat = chat
        self.rng = rng or random.Random()

    def start(
        self,
        user_message_id: int,
        first: str | None,
        second: str | None,
        cancel: threading.Event | None = None,
    ) -> ABRound:
        """Check the turn and the contenders (adapter names; None for the base), load any adapter not yet loaded
        (without making it live), and deal them to A and B at random. Nothing is written until `stream`."""
        if first == second:
            raise ChatError("pick two different contenders")
        user = self.chat.store.message(user_message_id)
        if user.role != "user":
            raise ChatError("only a user turn can be answered")
        engine = self.chat.engine
        loaded = engine.loaded_adapters
        for name in (first, second):
            if name is None or name in loaded:
                continue
            adapter = self.chat.store.adapter(name)
            if adapter is None:
                raise ChatError(f"no adapter named {name!r}")
            engine.load_adapter(name, adapter.path, activate=False)
        contenders = (first, second) if self.rng.random() < 0.5 else (second, first)
        return ABRound(self.chat, user_message_id, contenders, cancel or threading.Event())
