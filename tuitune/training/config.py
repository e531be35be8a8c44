"""What one training run needs, saved as run.json in its folder so the trainer process (and a reader later) sees
exactly what the parent decided: settings, method, rows, names. Plain JSON, no torch."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuitune.config import TRAIN_METHODS, Settings
from tuitune.private import private_open, private_write_text

CONFIG_FILE = "run.json"
ROWS_FILE = "data.jsonl"
EVENTS_FILE = "events.jsonl"
HELDOUT_FILE = "heldout.jsonl"  # the held-out judgements (tuitune.data.heldout) the adapter is measured with
LOG_FILE = "train.log"
# Only tests set these: the trainer raises at that step (on that rank only, when the second is set), to prove a
# crash mid-run is reported.
FAIL_AT_STEP_ENV = "TUITUNE_TEST_FAIL_AT_STEP"
FAIL_RANK_ENV = "TUITUNE_TEST_FAIL_RANK"


@dataclass
class RunConfig:
    run_id: int = field(metadata={"help": "the run's row in the store"})
    run_dir: str = field(metadata={"help": "the run's folder: config, rows, events, log"})
    method: str = field(metadata={"help": "sft, dpo or kto"})
    reason: str = field(default="", metadata={"help": "why this method, in one line"})
    adapter_name: str = field(default="", metadata={"help": "the name the adapter is registered under"})
    parent_adapter_id: int | None = field(default=None, metadata={"help": "the adapter active when it started"})
    base_model: str = field(default="", metadata={"help": "the base model's name, as the engine records it"})
    template_fingerprint: str = field(default="", metadata={"help": "the chat template the engine uses"})
    example_ids: list[int] = field(default_factory=list, metadata={"help": "answer ids the rows came from"})
    counts: dict[str, int] = field(
        default_factory=dict, metadata={"help": "good, bad, pairs, rows, holdout, heldout, measured"}
    )
    live_adapter: str | None = field(default=None, metadata={"help": "the live adapter a new one must beat"})
    live_adapter_path: str | None = field(default=None, metadata={"help": "its folder, scored beside the new one"})
    measure_behaviour: bool = field(
        default=True, metadata={"help": "measure the behaviour set too: its rule describes the user's data"}
    )
    settings: dict[str, Any] = field(default_factory=dict, metadata={"help": "every setting: Settings.to_dict()"})
    use_store: bool = field(
        default=True, metadata={"help": "write the run's outcome to the home's store (false: a server's job)"}
    )

    def __post_init__(self) -> None:
        if self.method not in TRAIN_METHODS:
            raise ValueError(f"a run's method is sft, dpo or kto, not {self.method!r}")

    @property
    def folder(self) -> Path:
        return Path(self.run_dir)

    def run_settings(self) -> Settings:
        """The settings the run was planned with, exactly: config.toml and the environment may have changed since,
        and neither is read again."""
        return Settings.from_dict(self.settings)

    def save(self) -> Path:
        path = self.folder / CONFIG_FILE
        private_write_text(path, json.dumps(dataclasses.asdict(self), indent=2, ensure_ascii=False))
        return path

    @classmethod
    def read(cls, run_dir: str | Path) -> RunConfig:
        data = json.loads((Path(run_dir) / CONFIG_FILE).read_text(encoding="utf-8"))
        return cls(**data)


def write_rows(run_dir: Path, rows: list[dict[str, Any]], name: str = ROWS_FILE) -> Path:
    path = run_dir / name
    with private_open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def read_rows(run_dir: Path, name: str = ROWS_FILE) -> list[dict[str, Any]]:
    with (run_dir / name).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_heldout(run_dir: Path, units: list[dict[str, Any]]) -> Path:
    return write_rows(run_dir, units, HELDOUT_FILE)


def read_heldout(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / HELDOUT_FILE
    return read_rows(run_dir, HELDOUT_FILE) if path.is_file() else []
