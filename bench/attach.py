"""From `tuitune` to the first token of an answer: with the home's engine server already running (attach) vs with
none running (the client starts it and it loads the model), in one run on one home.

attach_s          median seconds from `tuitune ask` starting to its first answer byte, server running; target <= 1.5
attach_ratio      attach_s ÷ the same from a cold start; target <= 0.1
Prints readable figures, then one JSON line.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from _common import report

PROMPT = "What is the capital of France?"


def first_token_s(home: str) -> float:
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "tuitune", "--home", home, "ask", "--max-new-tokens", "8",
                                PROMPT], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    process.stdout.read(1)
    seconds = time.perf_counter() - started
    process.stdout.read()
    process.wait()
    return seconds


def stop(home: str) -> None:
    subprocess.run([sys.executable, "-m", "tuitune", "--home", home, "serve", "--stop"], check=True,
                   capture_output=True)


def main() -> None:
    home = tempfile.mkdtemp(prefix="tuitune-bench-attach-")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    first_token_s(home)  # converts the embedded model into the home's cache once; not measured
    cold, warm = [], []
    for _ in range(3):
        stop(home)
        cold.append(first_token_s(home))
        warm.append(first_token_s(home))
        warm.append(first_token_s(home))
    stop(home)
    figures = {
        "bench": "attach", "cold_start_s": round(statistics.median(cold), 2),
        "attach_s": round(statistics.median(warm), 3),
        "attach_ratio": round(statistics.median(warm) / statistics.median(cold), 3),
        "targets": {"attach_s": 1.5, "attach_ratio": 0.1},
    }
    print(f"tuitune ask -> first answer byte: server running {figures['attach_s']} s (median of {len(warm)}), "
          f"cold start {figures['cold_start_s']} s (median of {len(cold)})")
    print(f"attach_s {figures['attach_s']} (target <= 1.5)   attach_ratio {figures['attach_ratio']} (target <= 0.1)")
    report(figures)


if __name__ == "__main__":
    main()
