"""Training: judgements -> trl datasets (data), the trainer process (trainer, `python -m tuitune.training`), and
the parent side that starts, follows and cancels it (launcher). Never imports Textual; torch only in the trainer."""

from tuitune.training.data import NothingToTrain, TrainingSet, build, choose_method, dpo_rows, kto_rows, sft_rows
from tuitune.training.launcher import (
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
    "NothingToTrain", "RunHandle", "TrainingSet", "attach", "build", "cancel", "choose_method", "dpo_rows",
    "kto_rows", "live_run", "reap_dead_runs", "sft_rows", "start_run", "trainer_command", "watch",
]
