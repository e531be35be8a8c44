"""Blind A/B comparisons: the pick becomes judgements (a DPO pair and KTO rows) and a row in `comparisons`, from
which every adapter's record and Elo rating are computed, in the order the picks were made.

| pick     | judgements            | continues from |
| a / b    | winner good, other bad | the winner     |
| tie      | both good             | A              |
| both_bad | both bad              | A              |

A tie means "both are fine, neither is better": both feed SFT and KTO as good, no pair. Both bad feeds KTO twice.
For ratings a tie and "both bad" alike are a draw: neither contender was preferred.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuitune.generation import BASE

from .db import utc_now
from .judgements import Judgements
from .records import check_choice

WINNERS = frozenset({"a", "b", "tie", "both_bad"})
ELO_START = 1000.0
ELO_K = 32.0
_JUDGEMENTS = {"a": ("good", "bad"), "b": ("bad", "good"), "tie": ("good", "good"), "both_bad": ("bad", "bad")}


@dataclass(frozen=True, slots=True)
class Comparison:
    id: int
    user_message_id: int
    a_message_id: int
    b_message_id: int
    a_adapter: int | None  # adapter ids; None: the base model
    b_adapter: int | None
    winner: str  # a | b | tie | both_bad
    created_at: str


@dataclass(frozen=True, slots=True)
class AdapterRating:
    adapter_id: int | None  # None: the base model
    name: str  # the adapter's name, or BASE
    wins: int
    losses: int
    ties: int  # ties and "both bad"
    elo: float

    @property
    def games(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def win_rate(self) -> float | None:
        """Wins over all games (draws count as games not won); None before the first game."""
        return self.wins / self.games if self.games else None


class Comparisons(Judgements):
    def record_comparison(self, user_message_id: int, a_message_id: int, b_message_id: int, winner: str) -> int:
        """Judge both answers as the pick says, record the comparison, and continue the conversation from the
        chosen answer (A for a tie or both bad), all in one transaction; returns the comparison's id."""
        check_choice(winner, WINNERS, "winner")
        with self.transaction():
            a, b = self.message(a_message_id), self.message(b_message_id)
            for answer in (a, b):
                if answer.role != "assistant" or answer.parent_id != user_message_id:
                    raise ValueError(f"message {answer.id} is not an answer to message {user_message_id}")
            if a.id == b.id:
                raise ValueError("A and B must be two different answers")
            for answer, value in zip((a, b), _JUDGEMENTS[winner], strict=True):
                self._add_judgement(answer.id, value, None)
            cursor = self._execute(
                """INSERT INTO comparisons (user_message_id, a_message_id, b_message_id, a_adapter, b_adapter,
                                            winner, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (user_message_id, a.id, b.id, a.adapter_id, b.adapter_id, winner, utc_now()),
            )
            self.set_active_leaf(a.conversation_id, b.id if winner == "b" else a.id)
        return int(cursor.lastrowid)  # type: ignore[arg-type]

    def comparisons(self) -> list[Comparison]:
        """Oldest first."""
        return [Comparison(**row) for row in self._rows("SELECT * FROM comparisons ORDER BY id")]

    def adapter_ratings(self) -> list[AdapterRating]:
        """Every contender that has been compared (the base model as BASE), best Elo first. Elo runs over the
        comparisons in the order made, from ELO_START with K = ELO_K; a draw scores half."""
        names = {row["id"]: row["name"] for row in self._rows("SELECT id, name FROM adapters")}
        elo: dict[int | None, float] = {}
        record: dict[int | None, list[int]] = {}  # wins, losses, ties
        for c in self.comparisons():
            a, b = c.a_adapter, c.b_adapter
            ra, rb = elo.setdefault(a, ELO_START), elo.setdefault(b, ELO_START)
            score = {"a": 1.0, "b": 0.0}.get(c.winner, 0.5)
            expected = 1.0 / (1.0 + 10 ** ((rb - ra) / 400.0))
            elo[a] = ra + ELO_K * (score - expected)
            elo[b] = rb - ELO_K * (score - expected)
            for side, won in ((a, score), (b, 1.0 - score)):
                counts = record.setdefault(side, [0, 0, 0])
                counts[0 if won == 1.0 else 1 if won == 0.0 else 2] += 1
        ratings = [
            AdapterRating(
                key, BASE if key is None else names.get(key, f"#{key}"), wins, losses, ties, round(elo[key], 1)
            )
            for key, (wins, losses, ties) in record.items()
        ]
        return sorted(ratings, key=lambda r: (-r.elo, r.name))

    def head_to_head(self, one: int | None, other: int | None) -> tuple[int, int, int]:
        """(wins, losses, draws) of adapter `one` against adapter `other` (None: the base) over the blind picks
        between those two alone."""
        wins = losses = draws = 0
        for c in self.comparisons():
            if {c.a_adapter, c.b_adapter} != {one, other} or one == other:
                continue
            side = "a" if c.a_adapter == one else "b"
            if c.winner == side:
                wins += 1
            elif c.winner in ("a", "b"):
                losses += 1
            else:
                draws += 1
        return wins, losses, draws
