"""Did it learn what the user meant? Real training runs on the embedded model, measured on the user's own held-out
judgements, and `tuitune train` promotes the adapter only when it agrees with them better than the live model does:
(a) the sample data, (b) another user's preference the base lacks (a sign-off line), (c) the same answers with
random labels. Unquantized and short, to keep each run to a minute or two on two cores; the nf4 path is the same code
(tests/training/test_measure.py and bench/effect.py run it)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tuitune.chat.adapters import ACTIVE
from tuitune.data import sets
from tuitune.exchange import import_files
from tuitune.training.verdict import MIN_N

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SIGN_OFF = "\n\nCheers, Ada."
SUBJECTS = [
    "tea", "rain", "maps", "salt", "bees", "glass", "ice", "wind", "bread", "rust", "clocks", "rivers", "owls",
    "paper", "soap", "tides", "moss", "kites", "bells", "honey", "chess", "lamps", "boats", "snow", "cheese",
    "bridges", "ferns", "magnets", "coffee", "deserts", "violins", "lichens", "sailing", "pottery", "knots",
    "comets", "yeast", "fog", "copper", "tulips",
]  # fmt: skip


def tuitune_train(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "TUITUNE_QUANT": "none", "TUITUNE_TRAIN_MAX_LENGTH": "192", **env}
    return subprocess.run(
        [sys.executable, "-m", "tuitune", "--home", str(home), "train", *args],
        capture_output=True, text=True, timeout=900, env=environ,
    )  # fmt: skip


PLAIN = [
    "{S} have a longer history than most people think, and there is still a lot to learn about them.",
    "People have written about {s} for centuries; the short answer is that it depends on where you look.",
    "Most of us meet {s} every week without noticing, which is part of what makes them interesting.",
    "The first thing to know about {s} is how varied they are from one place to another.",
    "Scientists and hobbyists both study {s}, and each group notices different details.",
]


def signed_off_store(store, labels: list[bool]) -> None:
    """A user who wants every answer signed off: per subject a plain answer and the same answer with the sign-off;
    `labels[i]` True judges the signed one good (that user), False the plain one (random labels)."""
    for i, (subject, signed_is_good) in enumerate(zip(SUBJECTS, labels, strict=False)):
        conversation = store.new_conversation(subject)
        user = store.add_message(conversation, "user", f"Tell me something about {subject}.")
        plain = PLAIN[i % len(PLAIN)].format(S=subject.capitalize(), s=subject)
        for text, good in ((plain, not signed_is_good), (plain + SIGN_OFF, signed_is_good)):
            answer = store.add_message(conversation, "assistant", text, user)
            store.judge(answer, "good" if good else "bad")


def enough_held_out(store, settings) -> int:
    n = sets.trainable_counts(store, settings)["heldout"]
    assert n >= MIN_N, f"the fixture holds out only {n} judgements"
    return n


def test_a_the_sample_data_is_learned_and_promoted(home, settings, store, tiny_eval_sets):
    import_files(store, [REPO / "sample_data" / "tldr_conversations.jsonl"])
    enough_held_out(store, settings)
    result = tuitune_train(home, "--method", "dpo", "--max-steps", "16")
    assert result.returncode == 0, result.stderr
    name = result.stdout.strip().splitlines()[-1]
    adapter = store.adapter(name)
    agreement = adapter.metrics["agreement"]
    assert agreement["adapter"] > agreement["base"], agreement
    assert adapter.promotion == "promoted" and store.run(adapter.run_id).promotion == "promoted"
    assert store.get_setting(ACTIVE) == name  # `tuitune train` made it live
    assert "promoted, now live: better than the live model" in result.stderr


def test_b_another_users_own_preference_is_learned_and_promoted(home, settings, store, tiny_eval_sets):
    signed_off_store(store, [True] * len(SUBJECTS))
    enough_held_out(store, settings)
    result = tuitune_train(home, "--method", "dpo", "--max-steps", "16")
    assert result.returncode == 0, result.stderr
    adapter = store.adapter(result.stdout.strip().splitlines()[-1])
    agreement = adapter.metrics["agreement"]
    # The base prefers the plain answer (the sign-off is unlikely to it); the adapter learned the user's taste.
    assert agreement["base"] < 0.5 < agreement["adapter"] and agreement["p"] < 0.05, agreement
    assert adapter.promotion == "promoted" and store.get_setting(ACTIVE) == adapter.name
    # The demo's TL;DR rule is not this user's: only the user's own files would be measured (here, the tiny sets).
    assert "measured: agreement " in result.stderr


def test_c_random_labels_are_held_back_and_the_live_model_stays(home, settings, store, tiny_eval_sets):
    coin = random.Random(7)
    signed_off_store(store, [coin.random() < 0.5 for _ in SUBJECTS])
    enough_held_out(store, settings)
    result = tuitune_train(home, "--method", "dpo", "--max-steps", "16")
    assert result.returncode == 0, result.stderr
    adapter = store.adapter(result.stdout.strip().splitlines()[-1])
    assert adapter.promotion == "held_back" and store.run(adapter.run_id).promotion == "held_back"
    assert not store.get_setting(ACTIVE)  # the base, live before, is live still
    assert "held back, the live model stays:" in result.stderr and "held-out judgements" in result.stderr
    assert adapter.promotion_reason and "agreement" in adapter.promotion_reason
