"""The curate screen's reads on a big store: opening, each filter, full-text search and the counts.

Builds a store of --messages messages (about four per conversation: user turns, answers from the base or one of a
few adapters, some regenerated siblings, judgements with some history, exclusions, deletions and finished runs)
in a temporary home, then times each read to its first screen (the first --limit rows), median of --reps runs.
Target: every figure under 100 ms. Prints the figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tuitune.store import Store

TARGET_MS = 100
ADAPTERS = ["tldr-dpo-1", "tldr-dpo-2", "tldr-kto-1", "style-sft", "rare-one"]
TOPICS = ["printing press", "photosynthesis", "the roman empire", "sourdough bread", "tax returns", "chess openings",
          "bicycle repair", "git rebase", "sleep hygiene", "volcanoes", "jazz harmony", "python decorators"]


def _vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "ra", "to", "su", "vi", "de", "po", "an", "el", "or", "is", "um", "ber"]
    words = {"".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(size * 2)}
    return sorted(words)[:size]


def _text(rng: random.Random, words: list[str], weights: list[float], n: int, topic: str | None = None) -> str:
    body = rng.choices(words, weights, k=n)
    if topic:
        body.insert(rng.randrange(len(body) + 1), topic)
    return " ".join(body).capitalize() + "."


def build(path: Path, messages: int, seed: int = 0) -> dict[str, int]:
    """Bulk-insert a realistic store (in one transaction, through the same triggers the app's writes fire)."""
    rng = random.Random(seed)
    words = _vocabulary(rng)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]  # Zipf-like, as in real text
    store = Store.open(path)
    conn = store._db.conn  # the bench's bulk build only; every timed read goes through the Store's API
    now = "2025-01-01T00:00:00.000000+00:00"
    conn.execute("BEGIN IMMEDIATE")
    adapter_ids = []
    for name in ADAPTERS:
        cur = conn.execute("INSERT INTO adapters (name, path, base_model, created_at) VALUES (?, '', 'bench', ?)",
                           (name, now))
        adapter_ids.append(cur.lastrowid)
    writers = [None] * 4 + adapter_ids[:4] * 2  # the base writes a third; "rare-one" a handful, below
    msg_rows, judgement_rows, conv_rows = [], [], []
    next_id, conv_id, answer_ids = 1, 0, []
    while next_id <= messages:
        conv_id += 1
        topic = rng.choice(TOPICS)
        conv_rows.append((conv_id, f"About {topic}", now, now, 1 if rng.random() < 0.01 else None))
        parent = None
        for _turn in range(rng.choice([1, 2, 2])):
            user_id = next_id
            next_id += 1
            msg_rows.append((user_id, conv_id, parent, "user", _text(rng, words, weights, rng.randint(6, 25), topic),
                             None, "chat", now, 0, None))
            answers = 2 if rng.random() < 0.25 else 1
            for k in range(answers):
                answer_id = next_id
                next_id += 1
                writer = adapter_ids[4] if rng.random() < 0.002 else rng.choice(writers)
                source = "chat" if k == 0 else rng.choice(["regenerate", "regenerate", "edit", "ab"])
                msg_rows.append((answer_id, conv_id, user_id, "assistant",
                                 _text(rng, words, weights, rng.randint(20, 120)), writer, source, now,
                                 int(rng.random() < 0.03), now if rng.random() < 0.01 else None))
                answer_ids.append(answer_id)
                if rng.random() < 0.6:
                    if rng.random() < 0.1:  # re-judged: the history keeps the first opinion
                        judgement_rows.append((answer_id, rng.choice(["good", "bad"]), now))
                    value = ("good" if k == 0 else "bad") if answers == 2 and rng.random() < 0.8 else (
                        "good" if rng.random() < 0.6 else "bad")
                    judgement_rows.append((answer_id, value, now))
                parent = answer_id
    conn.executemany("INSERT INTO conversations (id, title, created_at, updated_at, active_leaf_id)"
                     " VALUES (?, ?, ?, ?, NULL)", [(c, t, a, b) for c, t, a, b, _ in conv_rows])
    conn.executemany(
        "INSERT INTO messages (id, conversation_id, parent_id, role, content, adapter_id, source, created_at,"
        " excluded, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", msg_rows)
    conn.executemany("UPDATE conversations SET deleted_at = ? WHERE id = ?",
                     [(now, c) for c, *_rest, deleted in conv_rows if deleted])
    conn.executemany("INSERT INTO judgements (message_id, value, created_at) VALUES (?, ?, ?)", judgement_rows)
    judged = sorted({row[0] for row in judgement_rows})
    for status, share in (("done", 0.3), ("done", 0.2), ("failed", 0.2)):
        chosen = rng.sample(judged, int(len(judged) * share))
        conn.execute("INSERT INTO runs (status, method, example_ids, base_model, created_at) VALUES (?, 'dpo', ?,"
                     " 'bench', ?)", (status, json.dumps(chosen), now))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    store.close()
    return {"messages": len(msg_rows), "conversations": len(conv_rows), "answers": len(answer_ids),
            "judgements": len(judgement_rows)}


def timed(fn, reps: int) -> tuple[float, int]:
    times, result = [], None
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), len(result) if isinstance(result, list) else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--home", help="state folder (default: a temporary one)")
    args = p.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="tuitune-bench-"))
    path = home / "tuitune.db"
    start = time.perf_counter()
    sizes = build(path, args.messages)
    build_s = time.perf_counter() - start
    print(f"built {sizes['messages']:,} messages in {sizes['conversations']:,} conversations "
          f"({sizes['answers']:,} answers, {sizes['judgements']:,} judgements) in {build_s:.1f} s; "
          f"{path.stat().st_size / 1e6:.1f} MB")

    def open_first_screen():
        with Store.open(path) as store:
            return store.judged_answers(limit=args.limit)

    open_ms, shown = timed(open_first_screen, args.reps)
    store = Store.open(path)
    first = lambda **kw: lambda: store.judged_answers(limit=args.limit, **kw)
    filters = {
        "judgement=good": first(judgement="good"),
        "judgement=bad": first(judgement="bad"),
        "adapter=tldr-dpo-1": first(adapter="tldr-dpo-1"),
        "adapter=rare-one": first(adapter="rare-one"),
        "adapter=base": first(adapter="base"),
        "method=sft": first(method="sft"),
        "method=kto": first(method="kto"),
        "method=dpo": first(method="dpo"),
        "used=True": first(used=True),
        "used=False": first(used=False),
        "excluded=True": first(excluded=True),
        "dpo+bad+unused": first(method="dpo", judgement="bad", used=False),
        "rare-one+bad+used": first(adapter="rare-one", judgement="bad", used=True),
        "page 10 (offset)": lambda: store.judged_answers(limit=args.limit, offset=9 * args.limit),
    }
    searches = {
        "search 'printing press'": first(search="printing press"),
        "search 'volc' (prefix)": first(search="volc"),
        "search common word": first(search="ka"),
        "search absent word": first(search="zzzqqq"),
        "search + judgement=bad": first(search="sourdough", judgement="bad"),
        "search common word + rare-one": first(search="ka", adapter="rare-one"),
    }
    print(f"{'open store + first screen':34s} {open_ms:7.1f} ms  ({shown} rows)")
    results = {}
    for label, fn in {**filters, **searches}.items():
        ms, rows = timed(fn, args.reps)
        results[label] = ms
        print(f"{label:34s} {ms:7.1f} ms  ({rows} rows)")
    counts_ms, _ = timed(store._count_sets, args.reps)  # computed afresh, as after every write
    cached_ms, _ = timed(store.curate_counts, args.reps)
    counts = store.curate_counts()
    print(f"{'counts (after a write)':34s} {counts_ms:7.1f} ms  (sft {counts.sft:,}, kto {counts.kto:,} ="
          f" {counts.kto_good:,} good + {counts.kto_bad:,} bad, dpo {counts.dpo:,} pairs, used {counts.used:,})")
    print(f"{'counts (unchanged store)':34s} {cached_ms:7.1f} ms")
    store.close()
    filter_max = max(v for k, v in results.items() if k in filters)
    search_max = max(v for k, v in results.items() if k in searches)
    worst = max(open_ms, filter_max, search_max)
    print(f"first screen: worst {worst:.1f} ms against a target of {TARGET_MS} ms:"
          f" {'met' if worst < TARGET_MS else 'MISSED'}")
    print(json.dumps({
        "bench": "curate", **sizes, "reps": args.reps, "limit": args.limit,
        "open_first_screen_ms": round(open_ms, 1), "filter_ms_max": round(filter_max, 1),
        "search_ms": round(search_max, 1), "counts_ms": round(counts_ms, 1),
        "counts_cached_ms": round(cached_ms, 2), "target_ms": TARGET_MS,
        "per_read_ms": {k: round(v, 1) for k, v in results.items()},
    }))


if __name__ == "__main__":
    main()
