"""Training: the trainer process (trainer, `python -m tuitune.training`) and the parent side that starts, follows
and cancels it (launcher), on the training sets `tuitune.data` builds from judgements (re-exported here for the
callers above). Never imports Textual; torch only in the trainer."""

from tuitune.data.rows import dpo_rows, kto_rows, sft_rows
from tuitune.data.sets import NothingToTrain, TrainingSet, build, choose_method
from tuitune.training.launcher import (
    Launcher,
    RunHandle,
    attach,
    cancel,
    live_run,
    start_run,
    trainer_command,
    watch,
)
from tuitune.training.runs import reap_dead_runs

__all__ = [
    "Launcher",
    "NothingToTrain",
    "RunHandle",
    "TrainingSet",
    "attach",
    "build",
    "cancel",
    "choose_method",
    "dpo_rows",
    "kto_rows",
    "live_run",
    "reap_dead_runs",
    "sft_rows",
    "start_run",
    "trainer_command",
    "watch",
]
