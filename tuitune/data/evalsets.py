"""What an adapter is measured on after training: held-out behaviour prompts and a check set of factual questions.

Both are files, never trained on, and both are judged by fixed rules, never by a model:

- behaviour (`<home>/eval/behaviour.jsonl`, else `sample_data/heldout_prompts.jsonl`): one
  `{"prompt": "...", "first_line": "<regex>"}` per line. An answer shows the behaviour when its first non-empty line
  matches the regular expression (`re.search`; the shipped set asks for `^TL;DR:`).
- checks (`<home>/eval/checks.jsonl`, else `sample_data/check_questions.jsonl`): one
  `{"question": "...", "answers": ["Paris"]}` per line. An answer is right when any accepted answer appears in it
  as a whole word or number, ignoring case (`7` matches "7 days", not "17" or "7.5").

A file in the home replaces the shipped one entirely. The user turns of the store that repeat any of these
prompts or questions (same text, ignoring case and spacing) are never trained on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from tuitune import shipped
from tuitune.errors import TuituneError

BEHAVIOUR_FILE, CHECKS_FILE = "behaviour.jsonl", "checks.jsonl"
SHIPPED = {BEHAVIOUR_FILE: "heldout_prompts.jsonl", CHECKS_FILE: "check_questions.jsonl"}
DESCRIBES_FROM = 3  # good answers showing the shipped rule that make it the user's behaviour
MAX_ITEMS = 500  # a measurement, not a training set: keeps the after-run check to seconds


class EvalSetError(TuituneError, ValueError):
    """An eval file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class BehaviourPrompt:
    prompt: str
    first_line: str  # a regular expression

    def shown_by(self, answer: str) -> bool:
        first = next((line for line in answer.splitlines() if line.strip()), "")
        return re.search(self.first_line, first.strip()) is not None


@dataclass(frozen=True)
class CheckQuestion:
    question: str
    answers: tuple[str, ...]

    def answered_by(self, answer: str) -> bool:
        text = answer.lower()
        return any(re.search(_whole(expected.lower()), text) for expected in self.answers)


def _whole(expected: str) -> str:
    # Not inside a longer word or number: no letter/digit on either side, and no decimal part after a number.
    return rf"(?<![\w.]){re.escape(expected)}(?![\w]|\.\d)"


@dataclass(frozen=True)
class EvalSets:
    behaviour: tuple[BehaviourPrompt, ...]
    checks: tuple[CheckQuestion, ...]
    behaviour_source: str  # the file each came from, for the user
    checks_source: str

    @property
    def rule(self) -> str:
        """The behaviour rule in a few words, e.g. `first line ~ ^TL;DR:`."""
        patterns = sorted({p.first_line for p in self.behaviour})
        return "first line ~ " + (patterns[0] if len(patterns) == 1 else f"{len(patterns)} patterns")

    @property
    def users_own(self) -> bool:
        """The behaviour file is the user's (in the home), not the shipped demo's."""
        return Path(self.behaviour_source).parent != shipped.folder(shipped.SAMPLE_DATA)

    def describes(self, good_answers: Iterable[str]) -> bool:
        """Whether the behaviour is the user's to measure: their own file, or at least `DESCRIBES_FROM` answers they
        judged good show it (the sample data). Anyone else's data has nothing to do with the demo's rule."""
        if self.users_own:
            return True
        rules = list({p.first_line: p for p in self.behaviour}.values())
        shown = 0
        for answer in good_answers:
            shown += any(rule.shown_by(answer) for rule in rules)
            if shown >= DESCRIBES_FROM:
                return True
        return False

    def without_behaviour(self) -> EvalSets:
        return replace(self, behaviour=())

    def texts(self) -> set[str]:
        """Every prompt and question, normalised: the user turns training must leave out."""
        return {normalise(p.prompt) for p in self.behaviour} | {normalise(c.question) for c in self.checks}


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def eval_dir(home: Path) -> Path:
    return Path(home) / "eval"


def load(home: Path | None) -> EvalSets:
    """The home's files where present, else the shipped ones."""
    behaviour_path = _pick(home, BEHAVIOUR_FILE)
    checks_path = _pick(home, CHECKS_FILE)
    behaviour = tuple(_behaviour(line, behaviour_path, n) for n, line in _lines(behaviour_path))
    checks = tuple(_check(line, checks_path, n) for n, line in _lines(checks_path))
    return EvalSets(behaviour, checks, str(behaviour_path), str(checks_path))


def _pick(home: Path | None, name: str) -> Path:
    own = eval_dir(home) / name if home else None
    return own if own is not None and own.is_file() else shipped.folder(shipped.SAMPLE_DATA) / SHIPPED[name]


def _lines(path: Path) -> list[tuple[int, dict]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalSetError(f"{path}: cannot read it ({exc.__class__.__name__})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalSetError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise EvalSetError(f"{path}:{number}: a line is one JSON object")
        rows.append((number, row))
    if not rows:
        raise EvalSetError(f"{path}: no lines")
    if len(rows) > MAX_ITEMS:
        raise EvalSetError(f"{path}: {len(rows)} lines; at most {MAX_ITEMS}")
    return rows


def _text(row: dict, key: str, path: Path, number: int) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EvalSetError(f"{path}:{number}: {key!r} must be non-empty text")
    return value


def _behaviour(row: dict, path: Path, number: int) -> BehaviourPrompt:
    pattern = _text(row, "first_line", path, number)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise EvalSetError(f"{path}:{number}: 'first_line' is not a regular expression ({exc})") from None
    return BehaviourPrompt(_text(row, "prompt", path, number), pattern)


def _check(row: dict, path: Path, number: int) -> CheckQuestion:
    answers = row.get("answers")
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a.strip() for a in answers):
        raise EvalSetError(f"{path}:{number}: 'answers' must be a non-empty list of texts")
    return CheckQuestion(_text(row, "question", path, number), tuple(a.strip() for a in answers))
