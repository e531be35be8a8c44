"""The curate screen's reads: every judged answer with what it feeds, filtered, searched and counted in SQL.

Which training set an answer feeds is tuitune.data's rule (`tuitune.data.rows`), which reads the store, so the
store cannot call it: the screen filters and pages by set in SQL, so the rule is mirrored here, on the same `usable`
predicate the data layer reads through, and `tests/store/test_curate.py` checks both agree:

| answer (live, in a live conversation, not excluded, with a parent and some text) | feeds     |
| judged good                                                                     | sft, kto  |
| judged bad                                                                      | kto       |
| judged good or bad, with a sibling judged the other way                         | dpo, too  |

Held-out prompts (the before/after check's few) and turns that repeat an eval prompt depend on the settings and the
eval files, so they are not marked here; the status bar counts what training will use (`tuitune.data.sets`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tuitune.config import TRAIN_METHODS
from tuitune.generation import BASE  # also the `adapter` filter's name for answers the base model wrote

from .judgements import Judgements, usable
from .records import GENERATED_SOURCES, JUDGEMENTS, Judgement, check_choice

METHODS = frozenset(TRAIN_METHODS)
EXCERPT_CHARS = 160
_FETCH_CHARS = 4 * EXCERPT_CHARS  # excerpts collapse whitespace, so fetch more than they show


@dataclass(frozen=True, slots=True)
class CurateRow:
    message_id: int
    conversation_id: int
    conversation_title: str
    prompt_id: int | None  # the user turn answered; None for an answer at the root
    prompt_excerpt: str
    answer_excerpt: str
    judgement: Judgement
    adapter: str | None  # the adapter's name; None: the base model, or nobody (an edit, an import)
    source: str  # chat | regenerate | edit | import | ab
    created_at: str
    feeds: frozenset[str]  # of 'sft', 'dpo', 'kto'; empty when excluded or otherwise unusable
    used: bool  # a finished training run trained on it
    excluded: bool

    @property
    def writer(self) -> str:
        """Who wrote the answer, as the adapter column shows it: an adapter, 'base', 'edit' or 'import'."""
        if self.adapter is not None:
            return self.adapter
        return BASE if self.source in GENERATED_SOURCES else self.source


@dataclass(frozen=True, slots=True)
class CurateCounts:
    judged: int  # every judged answer the screen lists, excluded ones too
    excluded: int
    used: int
    sft: int  # rows: good answers
    kto: int  # rows: good + bad answers
    kto_good: int
    kto_bad: int
    dpo: int  # rows: good x bad pairs under one user turn
    dpo_answers: int  # answers that take part in at least one pair

    @property
    def kto_balance(self) -> float | None:
        """The share of desirable examples (KTO works best near 0.5 or with its weights set to match)."""
        return self.kto_good / self.kto if self.kto else None


# The current judgement is the newest row per message; judgements_by_message finds it in one probe.
_CURRENT = "(SELECT value FROM judgements WHERE message_id = {m}.id ORDER BY id DESC LIMIT 1)"


_JUDGED = f"""
    SELECT m.id, m.conversation_id, m.parent_id, m.adapter_id, m.source, m.created_at, m.excluded,
           {_CURRENT.format(m="m")} AS judgement, {usable("m")} AS usable
    FROM messages m
    WHERE m.role = 'assistant' AND m.deleted_at IS NULL
      AND (SELECT deleted_at FROM conversations WHERE id = m.conversation_id) IS NULL
"""

# A usable sibling judged the other way: the pair that puts both answers in the DPO set.
_PAIRED = f"""EXISTS (
    SELECT 1 FROM messages s
    WHERE s.parent_id = j.parent_id AND s.id <> j.id AND s.role = 'assistant' AND s.deleted_at IS NULL
      AND {usable("s")} AND {_CURRENT.format(m="s")} = (CASE j.judgement WHEN 'good' THEN 'bad' ELSE 'good' END)
)"""

_USED = """EXISTS (
    SELECT 1 FROM run_examples r JOIN runs ON runs.id = r.run_id
    WHERE r.message_id = j.id AND runs.status = 'done'
)"""

# BLOB content (text with lone surrogates) cannot be cut in SQL without splitting a character: fetch it whole.
_EXCERPT = "(CASE WHEN typeof({col}) = 'blob' THEN {col} ELSE substr({col}, 1, {n}) END)"


def fts_query(text: str) -> str | None:
    """The user's words as an FTS5 query: every word must appear, each as a prefix (search as you type).
    None when the text holds no word at all."""
    words = re.findall(r"\w+", text)
    return " ".join(f'"{w}"*' for w in words) if words else None


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class Curate(Judgements):
    def judged_answers(
        self,
        *,
        judgement: str | None = None,
        adapter: str | None = None,
        method: str | None = None,
        used: bool | None = None,
        excluded: bool | None = None,
        search: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> list[CurateRow]:
        """Judged answers, newest first. `adapter` is a name or BASE ('base'); `method` keeps the answers that
        feed that set; `used` those a finished run has (or has not) trained on; `search` matches words in the
        answer or in the prompt it answers."""
        where, params = self._curate_filters(judgement, adapter, method, used, excluded)
        hits, matched, search_params = self._search_hits(search)
        rows = self._rows(
            f"""WITH {hits}j AS ({_JUDGED})
                SELECT j.*, c.title, a.name AS adapter,
                       {_EXCERPT.format(col="m.content", n=_FETCH_CHARS)} AS answer,
                       {_EXCERPT.format(col="p.content", n=_FETCH_CHARS)} AS prompt,
                       j.usable AND {_PAIRED} AS paired, {_USED} AS used
                FROM j
                JOIN messages m ON m.id = j.id
                JOIN conversations c ON c.id = j.conversation_id
                LEFT JOIN messages p ON p.id = j.parent_id
                LEFT JOIN adapters a ON a.id = j.adapter_id
                WHERE j.judgement IS NOT NULL {where}{matched}
                ORDER BY j.id DESC LIMIT ? OFFSET ?""",
            (*search_params, *params, int(limit), int(offset)),
        )
        return [_curate_row(row) for row in rows]

    def curate_counts(self) -> CurateCounts:
        """Per training set, what `tuitune.data.rows` would build now (before keeping any prompt out). Counting reads
        every judged answer, so the result is kept until this connection writes or another one commits."""
        with self._lock:
            key = (self._db.conn.total_changes, self._scalar("PRAGMA data_version"))
            cached = getattr(self, "_curate_counts", None)
            if cached is None or cached[0] != key:
                self._curate_counts = (key, self._count_sets())
            return self._curate_counts[1]

    def _count_sets(self) -> CurateCounts:
        # From the judgements side (a third of the messages), each message's newest judgement found by SQLite's
        # MAX() bare-column rule, then one pass over that set.
        row = self._row(
            f"""WITH current AS (
                    SELECT message_id, value, MAX(id) FROM judgements GROUP BY message_id
                ),
                judged AS MATERIALIZED (
                    SELECT m.id, m.parent_id, m.excluded, c.value AS judgement, {usable("m")} AS usable
                    FROM current c JOIN messages m ON m.id = c.message_id
                    WHERE c.value IS NOT NULL AND m.role = 'assistant' AND m.deleted_at IS NULL
                      AND (SELECT deleted_at FROM conversations WHERE id = m.conversation_id) IS NULL
                ),
                per_parent AS (
                    SELECT SUM(judgement = 'good') AS good, SUM(judgement = 'bad') AS bad
                    FROM judged WHERE usable GROUP BY parent_id
                )
                SELECT COUNT(*) AS judged, COALESCE(SUM(excluded), 0) AS excluded,
                    COALESCE(SUM(usable AND judgement = 'good'), 0) AS good,
                    COALESCE(SUM(usable AND judgement = 'bad'), 0) AS bad,
                    (SELECT COUNT(*) FROM judged WHERE id IN (
                        SELECT r.message_id FROM run_examples r JOIN runs ON runs.id = r.run_id
                        WHERE runs.status = 'done')) AS used,
                    (SELECT COALESCE(SUM(good * bad), 0) FROM per_parent) AS pairs,
                    (SELECT COALESCE(SUM(good + bad), 0) FROM per_parent WHERE good > 0 AND bad > 0)
                        AS pair_answers
                FROM judged"""
        )
        assert row is not None
        return CurateCounts(
            judged=row["judged"], excluded=row["excluded"], used=row["used"],
            sft=row["good"], kto=row["good"] + row["bad"], kto_good=row["good"], kto_bad=row["bad"],
            dpo=row["pairs"], dpo_answers=row["pair_answers"],
        )  # fmt: skip

    def restore_message(self, message_id: int) -> None:
        """Undo `delete_message`: bring back the message and what that delete took with it (rows deleted
        earlier on their own stay deleted). The visible branch is left as it is unless it was empty."""
        with self.transaction():
            this = self.message(message_id)
            if this.deleted_at is None:
                return
            if this.parent_id is not None and self.message(this.parent_id).deleted_at is not None:
                raise ValueError(f"message {message_id} hangs under a deleted message; restore that first")
            self._execute(
                """WITH RECURSIVE below(id) AS (
                       SELECT ? UNION ALL SELECT m.id FROM messages m JOIN below ON m.parent_id = below.id
                   )
                   UPDATE messages SET deleted_at = NULL WHERE id IN (SELECT id FROM below) AND deleted_at = ?""",
                (message_id, this.deleted_at),
            )
            if self.conversation(this.conversation_id).active_leaf_id is None:
                self._execute(
                    "UPDATE conversations SET active_leaf_id = ? WHERE id = ?",
                    (self.newest_leaf(message_id), this.conversation_id),
                )

    def _curate_filters(
        self,
        judgement: str | None,
        adapter: str | None,
        method: str | None,
        used: bool | None,
        excluded: bool | None,
    ) -> tuple[str, list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if judgement is not None:
            check_choice(judgement, JUDGEMENTS, "judgement")
            where.append("j.judgement = ?")
            params.append(judgement)
        if adapter == BASE:
            marks = ", ".join("?" for _ in GENERATED_SOURCES)
            where.append(f"j.adapter_id IS NULL AND j.source IN ({marks})")
            params.extend(GENERATED_SOURCES)
        elif adapter is not None:
            # Ids, not a subquery, so the planner sees it may start from messages_by_adapter for a rare adapter.
            ids = [row["id"] for row in self._rows("SELECT id FROM adapters WHERE name = ?", (adapter,))]
            where.append(f"j.adapter_id IN ({', '.join('?' for _ in ids)})" if ids else "0")
            params.extend(ids)
        if method is not None:
            check_choice(method, METHODS, "method")
            where.append(
                {"sft": "j.usable AND j.judgement = 'good'", "kto": "j.usable", "dpo": f"j.usable AND {_PAIRED}"}[
                    method
                ]
            )
        if used is not None:
            where.append(_USED if used else f"NOT {_USED}")
        if excluded is not None:
            where.append("j.excluded = ?")
            params.append(int(bool(excluded)))
        return "".join(f" AND {w}" for w in where), params

    def _search_hits(self, search: str | None) -> tuple[str, str, list[Any]]:
        """(a `hits` CTE, its WHERE term, its parameters) for a search; empty strings for none. The hits are
        computed once, then the newest-first scan checks each answer against them and stops at the first screen;
        the unary plus keeps the planner from starting at the hits and sorting them all, which is what makes a
        common word slow."""
        query = fts_query(search) if search else None
        if query is None:
            return "", "", []
        cte = "hits AS MATERIALIZED (SELECT rowid AS id FROM messages_fts WHERE messages_fts MATCH ?), "
        return cte, " AND (+j.id IN (SELECT id FROM hits) OR +j.parent_id IN (SELECT id FROM hits))", [query]


def _curate_row(row: dict[str, Any]) -> CurateRow:
    feeds: set[str] = set()
    if row["usable"]:
        feeds.add("kto")
        if row["judgement"] == "good":
            feeds.add("sft")
        if row["paired"]:
            feeds.add("dpo")
    return CurateRow(
        message_id=row["id"],
        conversation_id=row["conversation_id"],
        conversation_title=row["title"],
        prompt_id=row["parent_id"],
        prompt_excerpt=excerpt(row["prompt"] or ""),
        answer_excerpt=excerpt(row["answer"]),
        judgement=row["judgement"],
        adapter=row["adapter"],
        source=row["source"],
        created_at=row["created_at"],
        feeds=frozenset(feeds),
        used=bool(row["used"]),
        excluded=bool(row["excluded"]),
    )
