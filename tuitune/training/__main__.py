"""`python -m tuitune.training --run-dir DIR`: train the run planned in DIR/run.json (see trainer.py)."""

from __future__ import annotations

import argparse
import sys


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuitune.training", description=__doc__)
    parser.add_argument("--run-dir", required=True, help="the run folder holding run.json and data.jsonl")
    args = parser.parse_args(argv)
    from tuitune.training.config import RunConfig
    from tuitune.training.trainer import main

    return main(RunConfig.read(args.run_dir))


if __name__ == "__main__":
    sys.exit(cli())
