"""`tuitune import`: every format becomes judged conversations; bad files are refused whole, with a line number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuitune.data.rows import judgement_counts
from tuitune.exchange import ImportFileError, import_files, read_file
from tuitune.store import Store

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data" / "tldr_conversations.jsonl"

SYSTEM = {"role": "system", "content": "Be brief."}
USER = {"role": "user", "content": "What is 2+2?"}
GOOD = {"role": "assistant", "content": "TL;DR: 4."}
BAD = {"role": "assistant", "content": "It is four."}


def tree(store: Store) -> list[tuple]:
    """Every conversation as (title, system prompt, [(parent index, role, content, judgement)])."""
    out = []
    for t in store.conversation_trees():
        index = {m.id: i for i, m in enumerate(t.messages)}
        out.append((
            t.conversation.title,
            t.conversation.system_prompt,
            [(index.get(m.parent_id), m.role, m.content, m.judgement) for m in t.messages],
        ))
    return out


def test_sample_data_counts(store: Store) -> None:
    report = import_files(store, [SAMPLE])
    assert report.formats == {str(SAMPLE): "tuitune"}
    assert (report.conversations, report.good, report.bad, report.pairs) == (80, 68, 49, 37)
    assert report.messages == sum(len(t.messages) for t in store.conversation_trees())
    assert judgement_counts(store) == {"good": 68, "bad": 49, "pairs": 37}
    sources = {m.source for m in store.judged_messages()}
    assert sources == {"chat", "regenerate", "edit"}
    with_system = [c for c in store.conversations() if c.system_prompt]
    assert len(with_system) == 4


def test_messages_format_openai_and_trl(store: Store, write_jsonl) -> None:
    path = write_jsonl([
        {"messages": [SYSTEM, USER, GOOD]},
        {"messages": [USER, {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"},
                      {"role": "assistant", "content": [{"type": "text", "text": "TL;DR: "}, {"type": "text", "text": "6."}]}]},
    ])
    report = import_files(store, [path])
    assert (report.conversations, report.messages, report.good, report.bad) == (2, 6, 2, 0)
    assert tree(store) == [
        ("What is 2+2?", "Be brief.", [(None, "user", "What is 2+2?", None), (0, "assistant", "TL;DR: 4.", "good")]),
        ("What is 2+2?", None, [
            (None, "user", "What is 2+2?", None), (0, "assistant", "4", None),
            (1, "user", "And 3+3?", None), (2, "assistant", "TL;DR: 6.", "good"),
        ]),
    ]
    assert {m.source for t in store.conversation_trees() for m in t.messages} == {"import"}


def test_openai_weights_choose_the_answers_judged_good(store: Store, write_jsonl) -> None:
    path = write_jsonl([{"messages": [USER, {**BAD, "weight": 0}, {"role": "user", "content": "Again"}, {**GOOD, "weight": 1}]}])
    import_files(store, [path])
    assert [m.content for m in store.judged_messages()] == ["TL;DR: 4."]


@pytest.mark.parametrize("conversational", [True, False])
def test_sft_prompt_completion(store: Store, write_jsonl, conversational: bool) -> None:
    row = (
        {"prompt": [SYSTEM, USER], "completion": [GOOD]}
        if conversational
        else {"prompt": "What is 2+2?", "completion": "TL;DR: 4."}
    )
    report = import_files(store, [write_jsonl([row])])
    assert (report.conversations, report.good) == (1, 1)
    [(_, system, messages)] = tree(store)
    assert system == ("Be brief." if conversational else None)
    assert messages == [(None, "user", "What is 2+2?", None), (0, "assistant", "TL;DR: 4.", "good")]


def test_plain_text_is_a_good_answer_to_an_empty_turn(store: Store, write_jsonl) -> None:
    import_files(store, [write_jsonl([{"text": "Once upon a time"}])])
    [(title, _, messages)] = tree(store)
    assert title == "Once upon a time"
    assert messages == [(None, "user", "", None), (0, "assistant", "Once upon a time", "good")]


@pytest.mark.parametrize("conversational", [True, False])
def test_dpo_becomes_good_and_bad_siblings(store: Store, write_jsonl, conversational: bool) -> None:
    row = (
        {"prompt": [USER], "chosen": [GOOD], "rejected": [BAD]}
        if conversational
        else {"prompt": "What is 2+2?", "chosen": "TL;DR: 4.", "rejected": "It is four."}
    )
    report = import_files(store, [write_jsonl([row])])
    assert (report.good, report.bad, report.pairs) == (1, 1, 1)
    assert judgement_counts(store) == {"good": 1, "bad": 1, "pairs": 1}
    [(_, _, messages)] = tree(store)
    assert messages == [
        (None, "user", "What is 2+2?", None),
        (0, "assistant", "TL;DR: 4.", "good"),
        (0, "assistant", "It is four.", "bad"),
    ]


def test_dpo_implicit_prompt(store: Store, write_jsonl) -> None:
    import_files(store, [write_jsonl([{"chosen": [USER, GOOD], "rejected": [USER, BAD]}])])
    [(_, _, messages)] = tree(store)
    assert messages == [
        (None, "user", "What is 2+2?", None),
        (0, "assistant", "TL;DR: 4.", "good"),
        (0, "assistant", "It is four.", "bad"),
    ]


def test_kto_labels(store: Store, write_jsonl) -> None:
    path = write_jsonl([
        {"prompt": [USER], "completion": [GOOD], "label": True},
        {"prompt": "What is 3+3?", "completion": "six", "label": False},
    ])
    report = import_files(store, [path])
    assert (report.conversations, report.good, report.bad, report.pairs) == (2, 1, 1, 0)
    assert sorted((m.content, m.judgement) for m in store.judged_messages()) == [
        ("TL;DR: 4.", "good"), ("six", "bad"),
    ]


def test_text_is_stored_verbatim(store: Store, write_jsonl) -> None:
    nasty = "\x1b[31mred\x1b[0m \u202e <b>[bold]</b> \x00 \x9b \ud800 done"
    import_files(store, [write_jsonl([{"prompt": nasty, "completion": nasty}])])
    assert [m.content for t in store.conversation_trees() for m in t.messages] == [nasty, nasty]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"prompt": "q", "chosen": "a", "rejected": "b"}', "expected SFT prompt/completion"),
        ('{"prompt": "q", "completion": 3}', "completion"),
        ('{"prompt": [{"role": "tool", "content": "x"}], "completion": "a"}', "role must be user, assistant or system"),
        ('[1, 2]', "expected a JSON object"),
        ('{"prompt": "q", "completion": "a", "label": "yes"}', "expected SFT"),
    ],
)
def test_a_broken_line_in_the_middle_names_its_line_and_imports_nothing(
    store: Store, write_jsonl, bad_line: str, message: str
) -> None:
    good = json.dumps({"prompt": "q", "completion": "a"})
    path = write_jsonl([good, good.replace("q", "r"), "", bad_line, good.replace("q", "s")])
    with pytest.raises(ImportFileError) as caught:
        import_files(store, [path])
    assert f"{path} line 4: " in str(caught.value)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert store.conversation_trees() == []


def test_kto_label_must_be_boolean(write_jsonl) -> None:
    path = write_jsonl([{"prompt": "q", "completion": "a", "label": True}, {"prompt": "q", "completion": "a", "label": "yes"}])
    with pytest.raises(ImportFileError, match=r"line 2: label must be true or false"):
        read_file(path)


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([{"id": 1, "parent": 2, "role": "user", "content": "x"}, {"id": 2, "parent": None, "role": "user", "content": "y"}],
         "parent 2 is not an earlier message's id"),
        ([{"id": 1, "role": "user", "content": "x"}, {"id": 1, "parent": 1, "role": "assistant", "content": "y"}],
         "id 1 is used twice"),
        ([{"id": 1, "role": "user", "content": "x", "judgement": "great"}], "judgement must be good, bad or null"),
        ([{"id": 1, "role": "user", "content": "x", "source": "magic"}], "source must be one of"),
        ([], "no messages"),
    ],
)
def test_tree_format_errors(store: Store, write_jsonl, messages: list, message: str) -> None:
    line = {"format": "tuitune.conversation/1", "title": "t", "system_prompt": None, "messages": messages}
    path = write_jsonl([json.loads(SAMPLE.read_text().splitlines()[0]), line])
    with pytest.raises(ImportFileError, match="line 2: .*" + message.replace("(", r"\(")):
        import_files(store, [path])
    assert store.conversation_trees() == []


def test_unknown_format_version_and_unknown_keys(write_jsonl) -> None:
    with pytest.raises(ImportFileError, match="line 1: unknown format 'tuitune.conversation/9'"):
        read_file(write_jsonl([{"format": "tuitune.conversation/9", "messages": []}]))
    with pytest.raises(ImportFileError, match="line 1: no known format.*found keys \\['question'\\]"):
        read_file(write_jsonl([{"question": "q"}]))


def test_empty_and_non_utf8_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(ImportFileError, match="no records"):
        read_file(empty)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(ImportFileError, match="line 2: not UTF-8"):
        read_file(latin)


def test_a_bad_second_file_imports_neither(store: Store, write_jsonl) -> None:
    ok = write_jsonl([{"text": "fine"}], "ok.jsonl")
    broken = write_jsonl([{"text": "fine too"}, "{"], "broken.jsonl")
    with pytest.raises(ImportFileError, match="broken.jsonl line 2"):
        import_files(store, [ok, broken])
    assert store.conversation_trees() == []


def test_reimport_is_idempotent(store: Store, write_jsonl) -> None:
    path = write_jsonl([
        {"prompt": [USER], "chosen": [GOOD], "rejected": [BAD]},
        {"prompt": [USER], "chosen": [GOOD], "rejected": [BAD]},  # the same row twice counts once
        {"prompt": "other", "chosen": "a", "rejected": "b"},
    ])
    first = import_files(store, [path])
    assert (first.conversations, first.skipped) == (2, 1)
    again = import_files(store, [path])
    assert (again.conversations, again.messages, again.skipped) == (0, 0, 3)
    assert len(store.conversations()) == 2
    # A deleted conversation is not "already there": importing brings it back.
    store.delete_conversation(store.conversations()[0].id)
    assert import_files(store, [path]).conversations == 1
    assert len(store.conversations()) == 2


def test_sample_reimport_is_idempotent(store: Store) -> None:
    import_files(store, [SAMPLE])
    report = import_files(store, [SAMPLE])
    assert (report.conversations, report.skipped) == (0, 80)
    assert len(store.conversations()) == 80


def test_dry_run_writes_nothing(store: Store) -> None:
    report = import_files(store, [SAMPLE], dry_run=True)
    assert report.conversations == 80
    assert store.conversations() == []


def test_a_failure_while_writing_rolls_everything_back(store: Store, write_jsonl, monkeypatch) -> None:
    path = write_jsonl([{"text": f"row {i}"} for i in range(5)])
    real = Store.insert_conversation
    calls = []

    def failing(self, record, **kwargs):
        calls.append(record)
        if len(calls) == 4:
            raise OSError("disk full")
        return real(self, record, **kwargs)

    monkeypatch.setattr(Store, "insert_conversation", failing)
    with pytest.raises(OSError, match="disk full"):
        import_files(store, [path])
    assert store.conversation_trees() == []
    assert store.imported_keys(["anything"]) == set()
