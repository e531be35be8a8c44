"""`python -m tuitune.training --run-dir DIR`: train the run planned in DIR/run.json (see trainer.py)."""

from __future__ import annotations

import argparse
import logging
import os
import sys


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuitune.training", description=__doc__)
    parser.add_argument("--run-dir", required=True, help="the run folder holding run.json and data.jsonl")
    args = parser.parse_args(argv)
    from tuitune.training.config import RunConfig
    from tuitune.training.trainer import main

    return main(RunConfig.read(args.run_dir))


def _exit(code: int) -> None:
    """A rank of a distributed run leaves at once: everything it had to say is written, and tearing down torch's
    process group and threads took seconds after a cancel, which the launcher waits out."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    _exit(cli())
