"""The sets an adapter is measured on: shipped or the user's own, judged by fixed rules, never trained on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuitune.data import evalsets, sets
from tuitune.data.evalsets import BehaviourPrompt, CheckQuestion, EvalSetError
from tuitune.exchange import import_files

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_shipped_sets():
    loaded = evalsets.load(None)
    assert len(loaded.behaviour) == 28 and len(loaded.checks) == 30
    assert loaded.rule == "first line ~ ^TL;DR:"
    assert loaded.behaviour_source.endswith("heldout_prompts.jsonl")
    assert loaded.checks_source.endswith("check_questions.jsonl")


def test_the_behaviour_rule_reads_the_first_non_empty_line():
    rule = BehaviourPrompt("q", "^TL;DR:")
    assert rule.shown_by("\n\n  TL;DR: short.\n\nLonger.")
    assert not rule.shown_by("Longer first.\nTL;DR: short.")
    assert not rule.shown_by("")


@pytest.mark.parametrize(("answer", "right"), [
    ("There are 7 days in a week.", True),
    ("Seven days.", True),
    ("There are 17 days.", False),
    ("About 7.5 days.", False),
    ("Week number 7", True),
    ("seventeen", False),
])
def test_a_check_answer_counts_only_as_a_whole_word_or_number(answer, right):
    assert CheckQuestion("How many days are there in a week?", ("7", "seven")).answered_by(answer) is right


def test_files_in_the_home_replace_the_shipped_ones(tmp_path):
    _write(tmp_path / "eval" / "behaviour.jsonl", [{"prompt": "Say hi", "first_line": "^Hi"}])
    own = evalsets.load(tmp_path)
    assert [p.prompt for p in own.behaviour] == ["Say hi"] and own.rule == "first line ~ ^Hi"
    assert len(own.checks) == 30  # no checks file in the home: the shipped one
    _write(tmp_path / "eval" / "checks.jsonl", [{"question": "2+2?", "answers": ["4"]}])
    assert [c.question for c in evalsets.load(tmp_path).checks] == ["2+2?"]


@pytest.mark.parametrize(("name", "rows", "says"), [
    ("behaviour.jsonl", ["{not json"], "behaviour.jsonl:1: not JSON"),
    ("behaviour.jsonl", [{"prompt": "x", "first_line": "(["}], "not a regular expression"),
    ("behaviour.jsonl", [{"prompt": "", "first_line": "^a"}], "'prompt' must be non-empty text"),
    ("checks.jsonl", [{"question": "q", "answers": []}], "'answers' must be a non-empty list"),
    ("checks.jsonl", [[1, 2]], "one JSON object"),
    ("checks.jsonl", [], "no lines"),
])
def test_a_broken_file_is_refused_with_its_name_and_line(tmp_path, name, rows, says):
    _write(tmp_path / "eval" / name, rows)
    with pytest.raises(EvalSetError, match=says.replace("(", r"\(").replace("[", r"\[")):
        evalsets.load(tmp_path)


def test_no_measured_text_is_in_the_sample_training_data():
    measured = evalsets.load(None).texts()
    for line in (REPO / "sample_data" / "tldr_conversations.jsonl").open(encoding="utf-8"):
        for message in json.loads(line)["messages"]:
            assert evalsets.normalise(message["content"]) not in measured


@pytest.mark.parametrize("method", ["sft", "dpo", "kto"])
def test_a_judged_turn_that_repeats_a_measured_prompt_is_never_trained_on(store, settings, method):
    settings = settings.with_overrides({"train.holdout": 0})
    import_files(store, [REPO / "sample_data" / "tldr_conversations.jsonl"])
    before = sets.build(store, settings, method)
    assert before.counts["measured"] == 0
    # The user asks a check question (in other spacing and case) and judges the answers like any other.
    conv = store.new_conversation("check")
    user = store.add_message(conv, "user", "  what is the CAPITAL of   France? ")
    good = store.add_message(conv, "assistant", "TL;DR: Paris.", user, source="chat")
    bad = store.add_message(conv, "assistant", "It is Paris.", user, source="regenerate")
    store.judge(good, "good")
    store.judge(bad, "bad")
    after = sets.build(store, settings, method)
    assert after.counts["measured"] == 1
    assert len(after.rows) == len(before.rows)
    assert good not in after.example_ids and bad not in after.example_ids
    measured = evalsets.load(settings.home).texts()
    for row in after.rows:
        last_user = [m for m in row["prompt"] if m["role"] == "user"][-1]["content"]
        assert evalsets.normalise(last_user) not in measured
