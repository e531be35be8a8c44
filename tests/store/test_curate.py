"""The curate screen's reads: filters, full-text search kept in step, the used flag, counts that agree with the
training data builders, undoing a delete; and the A/B comparisons' ratings."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from tuitune.data import rows as data
from tuitune.store import Store
from tuitune.store.migrations import MIGRATIONS


def _answer(store: Store, c: int, prompt: int, text: str, judgement: str | None, **kw) -> int:
    answer = store.add_message(c, "assistant", text, prompt, **kw)
    if judgement:
        store.judge(answer, judgement)
    return answer


@pytest.fixture
def mixed(store: Store) -> dict[str, int]:
    """A store with every case the training sets distinguish."""
    x = store.add_adapter("x", "/x", "base-model")
    ids: dict[str, int] = {"adapter_x": x}
    c = store.new_conversation("Printing")
    ids["conv"] = c
    q1 = store.add_message(c, "user", "Who invented the printing press?")
    ids["q1"] = q1
    ids["pair_good"] = _answer(store, c, q1, "Johannes Gutenberg, around 1440.", "good", adapter_id=x)
    ids["pair_bad"] = _answer(store, c, q1, "Thomas Edison.", "bad", source="regenerate")
    ids["unjudged"] = _answer(store, c, q1, "Nobody knows.", None)
    q2 = store.add_message(c, "user", "And movable type in Korea?", ids["pair_good"])
    ids["lone_good"] = _answer(store, c, q2, "Jikji, printed in 1377 with metal type.", "good")
    ids["excluded_bad"] = _answer(store, c, q2, "In 1900 by Samsung.", "bad")
    store.set_excluded(ids["excluded_bad"], True)
    ids["blank_good"] = _answer(store, c, q2, "  \n ", "good")
    ids["rejudged"] = _answer(store, c, q2, "Korea had woodblocks first.", "good")
    store.judge(ids["rejudged"], "bad")
    ids["edit"] = store.record_edit(ids["lone_good"], "Jikji (1377), the oldest extant book printed with metal type.")
    d = store.new_conversation("Volcanoes")
    q3 = store.add_message(d, "user", "Why do volcanoes erupt?")
    ids["deleted"] = _answer(store, d, q3, "Magma pressure.", "good")
    store.delete_message(ids["deleted"])
    ids["root_answer"] = _answer(store, d, None, "A greeting nobody asked for.", "good")
    gone = store.new_conversation("Gone")
    q4 = store.add_message(gone, "user", "Deleted conversation")
    _answer(store, gone, q4, "Its answer.", "good")
    store.delete_conversation(gone)
    return ids


def _ids(rows) -> list[int]:
    return [r.message_id for r in rows]


def test_rows_show_the_exchange_newest_first(store: Store, mixed: dict[str, int]) -> None:
    rows = store.judged_answers()
    assert _ids(rows) == sorted(_ids(rows), reverse=True)
    assert mixed["unjudged"] not in _ids(rows) and mixed["deleted"] not in _ids(rows)
    by_id = {r.message_id: r for r in rows}
    good = by_id[mixed["pair_good"]]
    assert (good.conversation_title, good.prompt_id, good.judgement) == ("Printing", mixed["q1"], "good")
    assert good.prompt_excerpt == "Who invented the printing press?"
    assert good.answer_excerpt.startswith("Johannes Gutenberg")
    assert (good.adapter, good.writer, good.feeds, good.used, good.excluded) == ("x", "x", {"sft", "kto", "dpo"},
                                                                               False, False)
    assert by_id[mixed["pair_bad"]].writer == "base" and by_id[mixed["pair_bad"]].feeds == {"kto", "dpo"}
    assert by_id[mixed["edit"]].writer == "edit"
    assert by_id[mixed["lone_good"]].judgement == "good"  # an edit keeps the user's own good judgement
    assert by_id[mixed["rejudged"]].judgement == "bad"
    assert by_id[mixed["excluded_bad"]].excluded and by_id[mixed["excluded_bad"]].feeds == frozenset()
    assert by_id[mixed["blank_good"]].feeds == frozenset() and by_id[mixed["root_answer"]].feeds == frozenset()
    assert len(store.judged_answers(limit=2)) == 2
    assert _ids(store.judged_answers(limit=2, offset=1)) == _ids(rows)[1:3]


def test_filters(store: Store, mixed: dict[str, int]) -> None:
    def ids(**kw) -> set[int]:
        return set(_ids(store.judged_answers(**kw)))

    assert ids(judgement="good") == {mixed[k] for k in ("pair_good", "lone_good", "blank_good", "edit", "root_answer")}
    assert ids(adapter="x") == {mixed["pair_good"]}
    assert mixed["pair_bad"] in ids(adapter="base") and mixed["edit"] not in ids(adapter="base")
    assert ids(adapter="nobody") == set()
    assert ids(method="dpo") == {mixed[k] for k in ("pair_good", "pair_bad", "lone_good", "edit", "rejudged")}
    assert ids(method="sft") == {mixed[k] for k in ("pair_good", "lone_good", "edit")}
    assert ids(method="dpo", judgement="bad") == {mixed["pair_bad"], mixed["rejudged"]}
    assert ids(excluded=True) == {mixed["excluded_bad"]}
    assert ids(used=True) == set() and ids(used=False) == ids()
    with pytest.raises(ValueError):
        store.judged_answers(method="orpo")
    with pytest.raises(ValueError):
        store.judged_answers(judgement="meh")


def test_feeds_and_counts_agree_with_the_training_builders(store: Store, mixed: dict[str, int], settings) -> None:
    rows = store.judged_answers()
    for method, builder in data.ROW_BUILDERS.items():
        built = builder(store, settings)
        fed = {i for row in built for i in row["message_ids"]}
        assert {r.message_id for r in rows if method in r.feeds} == fed, method
        assert set(_ids(store.judged_answers(method=method))) == fed, method
    counts = store.curate_counts()
    assert counts.sft == len(data.sft_rows(store, settings))
    assert counts.kto == len(data.kto_rows(store, settings))
    assert counts.dpo == len(data.dpo_rows(store, settings))
    assert (counts.kto_good, counts.kto_bad, counts.dpo) == (3, 2, 3)
    assert counts.kto_balance == pytest.approx(3 / 5)
    assert counts.dpo_answers == 5 and counts.judged == len(rows) and counts.excluded == 1 and counts.used == 0


def test_counts_follow_every_write(store: Store, mixed: dict[str, int]) -> None:
    before = store.curate_counts()
    store.judge(mixed["unjudged"], "bad")
    after = store.curate_counts()
    assert (after.kto_bad, after.dpo) == (before.kto_bad + 1, before.dpo + 1)
    # Another connection's commit (a second app, the CLI) is seen too.
    with sqlite3.connect(store.path) as other:
        other.execute("INSERT INTO judgements (message_id, value, created_at) VALUES (?, 'good', 'now')",
                      (mixed["pair_bad"],))
    assert store.curate_counts().kto_good == after.kto_good + 1


def test_used_means_a_finished_run_trained_on_it(store: Store, mixed: dict[str, int]) -> None:
    run = store.create_run("dpo", params={}, example_ids=[mixed["pair_good"], mixed["pair_bad"]], base_model="b")
    assert not any(r.used for r in store.judged_answers())  # queued: not trained yet
    store.update_run(run, status="done")
    assert set(_ids(store.judged_answers(used=True))) == {mixed["pair_good"], mixed["pair_bad"]}
    assert mixed["pair_good"] not in _ids(store.judged_answers(used=False))
    assert store.curate_counts().used == 2
    store.update_run(run, example_ids=[mixed["edit"]])
    assert _ids(store.judged_answers(used=True)) == [mixed["edit"]]
    failed = store.create_run("sft", params={}, example_ids=[mixed["lone_good"]], base_model="b", status="failed")
    assert store.run(failed).status == "failed" and mixed["lone_good"] not in _ids(store.judged_answers(used=True))


def test_search_matches_answers_and_their_prompts(store: Store, mixed: dict[str, int]) -> None:
    def found(text: str, **kw) -> set[int]:
        return set(_ids(store.judged_answers(search=text, **kw)))

    assert found("gutenberg") == {mixed["pair_good"]}
    assert found("printing press") == {mixed["pair_good"], mixed["pair_bad"]}  # by the prompt
    assert found("Guten") == {mixed["pair_good"]}  # a prefix, as the user types
    assert found("printing", judgement="bad") == {mixed["pair_bad"]}
    assert found("magma") == set()  # deleted
    assert found("zzz") == set()
    for odd in ('"', "AND", "a OR (", "*", "NEAR(", "-x"):  # never an FTS syntax error
        store.judged_answers(search=odd)
    assert len(found("  ")) == len(store.judged_answers())  # no words: no search


def test_search_keeps_in_step_with_edits_deletes_and_new_rows(store: Store, mixed: dict[str, int]) -> None:
    c = mixed["conv"]
    q = store.add_message(c, "user", "Tell me about sourdough", mixed["edit"])
    streaming = store.add_message(c, "assistant", "", q, status="streaming")
    store.judge(streaming, "good")
    assert _ids(store.judged_answers(search="levain")) == []
    store.update_message(streaming, content="Use a levain starter.", status="complete")
    assert _ids(store.judged_answers(search="levain")) == [streaming]
    store.update_message(streaming, content="Use a poolish.")
    assert _ids(store.judged_answers(search="levain")) == [] and _ids(store.judged_answers(search="poolish")) == [streaming]
    store.set_excluded(streaming, True)  # flagging does not touch the index
    assert _ids(store.judged_answers(search="poolish")) == [streaming]
    store.delete_message(q)
    assert _ids(store.judged_answers(search="poolish")) == []
    store.restore_message(q)
    assert _ids(store.judged_answers(search="poolish")) == [streaming]
    # Text with a lone surrogate is stored as a BLOB; its other words are still found, and it reads back intact.
    odd = _answer(store, c, q, "broken \udc80 surrogate crumb", "bad")
    [row] = store.judged_answers(search="crumb")
    assert row.message_id == odd and "\udc80" in row.answer_excerpt
    store.update_message(odd, content="fixed crust")
    assert _ids(store.judged_answers(search="crumb")) == [] and _ids(store.judged_answers(search="crust")) == [odd]
    fts = store._db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
    assert fts is not None


def test_restore_undoes_a_delete(store: Store, mixed: dict[str, int]) -> None:
    c, q1 = mixed["conv"], mixed["q1"]
    store.delete_message(mixed["unjudged"])  # deleted on its own, earlier
    store.delete_message(q1)  # takes the whole branch with it
    assert store.branch(c) == [] and store.judged_answers(search="printing") == []
    store.restore_message(q1)
    assert {m.id for m in store.children(c, q1)} == {mixed["pair_good"], mixed["pair_bad"]}  # not `unjudged`
    assert store.message(mixed["unjudged"]).deleted_at is not None
    assert store.branch(c), "the emptied conversation shows a branch again"
    assert mixed["edit"] in _ids(store.judged_answers())
    store.restore_message(q1)  # restoring a live message does nothing
    store.delete_message(q1)
    with pytest.raises(ValueError):
        store.restore_message(mixed["pair_good"])  # its parent is still deleted


def test_the_migration_indexes_an_existing_store(tmp_path) -> None:
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    MIGRATIONS.apply(db, stop_before="0003_curate")
    db.execute("INSERT INTO conversations (id, title, created_at, updated_at) VALUES (1, 't', 'n', 'n')")
    db.execute("INSERT INTO messages (id, conversation_id, role, content, created_at) VALUES (1, 1, 'user', 'quokka?', 'n')")
    db.execute("INSERT INTO messages (id, conversation_id, parent_id, role, content, created_at)"
               " VALUES (2, 1, 1, 'assistant', 'A marsupial.', 'n')")
    db.execute("INSERT INTO judgements (message_id, value, created_at) VALUES (2, 'good', 'n')")
    db.execute("INSERT INTO runs (status, method, example_ids, base_model, created_at) VALUES ('done', 'sft', '[2]', 'b', 'n')")
    db.conn.commit()
    db.close()
    with Store.open(path) as store:
        [row] = store.judged_answers(search="quokka")
        assert row.message_id == 2 and row.used


def test_comparisons_rate_the_contenders(store: Store) -> None:
    x, y = store.add_adapter("x", "/x", "b"), store.add_adapter("y", "/y", "b")
    c = store.new_conversation()

    def compare(a: int | None, b: int | None, winner: str) -> tuple[int, int, int]:
        q = store.add_message(c, "user", "q", store.branch(c)[-1].id if store.branch(c) else None)
        ma = store.add_message(c, "assistant", "a", q, adapter_id=a, source="ab")
        mb = store.add_message(c, "assistant", "b", q, adapter_id=b, source="ab")
        store.record_comparison(q, ma, mb, winner)
        return q, ma, mb

    assert store.adapter_ratings() == []
    q, ma, mb = compare(x, None, "a")
    assert (store.message(ma).judgement, store.message(mb).judgement) == ("good", "bad")
    assert store.conversation(c).active_leaf_id == ma
    ratings = {r.name: r for r in store.adapter_ratings()}
    assert (ratings["x"].wins, ratings["x"].elo, ratings["base"].losses, ratings["base"].elo) == (1, 1016.0, 1, 984.0)
    _, ma, mb = compare(y, x, "b")
    assert store.conversation(c).active_leaf_id == mb
    _, ma, mb = compare(x, y, "tie")
    assert (store.message(ma).judgement, store.message(mb).judgement) == ("good", "good")
    _, ma, mb = compare(None, y, "both_bad")
    assert (store.message(ma).judgement, store.message(mb).judgement) == ("bad", "bad")
    assert store.conversation(c).active_leaf_id == ma
    ratings = store.adapter_ratings()
    assert [r.name for r in ratings] == ["x", "y", "base"]  # y drew twice against better-rated sides
    by = {r.name: r for r in ratings}
    assert (by["x"].wins, by["x"].losses, by["x"].ties, by["x"].win_rate) == (2, 0, 1, pytest.approx(2 / 3))
    assert (by["y"].wins, by["y"].losses, by["y"].ties, by["y"].games) == (0, 1, 2, 3)
    assert sum(r.elo for r in ratings) == pytest.approx(3000, abs=0.2)  # Elo moves points, never makes them
    assert [cmp.winner for cmp in store.comparisons()] == ["a", "b", "tie", "both_bad"]
    with pytest.raises(ValueError):
        store.record_comparison(q, ma, mb, "a")  # not answers to that turn
    with pytest.raises(ValueError):
        store.record_comparison(q, ma, ma, "maybe")
