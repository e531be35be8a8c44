"""The parent side of a training run: plan it, start the trainer in its own session, follow its events, cancel it.

The trainer writes its JSON-lines events to `events.jsonl` in the run folder (its stdout), so any process can
follow a run from the file: the one that started it, or a TUI reopened after the first quit (`attach`). Nothing
here imports torch or Textual.

    handle = start_run(settings, store)           # plans the data, creates the run, spawns the trainer
    for event in handle.events():                 # start, phase, progress..., then done | error | cancelled
        ...
    handle.cancel()                               # SIGTERM to the trainer's process group
    handle = attach(settings, store, run_id)      # a later process follows the same run

Starting is one step for the store: the "is a run already going?" check and the new row (owned by this process
until the trainer's pid is known) are one write transaction, so two starts never both get in and nothing that
lists runs meanwhile takes the new row for a dead one.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tuitune.config import Settings
from tuitune.data import sets as data
from tuitune.errors import TuituneError
from tuitune.private import private_mkdir, private_open, private_write_text
from tuitune.store import Store
from tuitune.training import ranks
from tuitune.training.config import EVENTS_FILE, LOG_FILE, RunConfig, write_heldout, write_rows
from tuitune.training.runs import TERMINAL, pid_alive, reap_dead_runs, remove_stale_saves, settle

# Flags and the TUI dialog change these; anything else goes through settings.
OVERRIDABLE = {
    "epochs": "train.epochs",
    "max_steps": "train.max_steps",
    "lr": "train.lr",
    "batch_size": "train.batch_size",
    "beta": "train.beta",
    "r": "lora.r",
    "targets": "lora.targets",
}


class RunBusy(TuituneError, RuntimeError):
    """Another run is still training."""


class LauncherError(TuituneError, ValueError):
    """`train.launcher` would not run what it says."""


def trainer_command(settings: Settings, run_dir: str | Path) -> list[str]:
    """The exact argv that runs the trainer; `train.launcher` (e.g. `accelerate launch --multi_gpu
    --num_processes 8`) is put in front of the module, which runs then under that launcher instead of python.
    A launcher named without a path is taken from this Python's own folder when it is there (the venv's
    `accelerate`), so its workers run the same Python as the app."""
    module = ["-m", "tuitune.training", "--run-dir", str(run_dir)]
    if not settings.train.launcher.strip():
        return [sys.executable, *module]
    launcher = shlex.split(settings.train.launcher)
    beside = Path(sys.executable).parent / launcher[0]
    if os.sep not in launcher[0] and beside.is_file() and os.access(beside, os.X_OK):
        launcher[0] = str(beside)
    return [*launcher, *module]


def check_launcher(argv: list[str]) -> None:
    """Refuse a launcher that would quietly run fewer processes than it names."""
    words = [Path(argv[0]).name, *argv[1:]]
    if words[:2] != ["accelerate", "launch"] or "--cpu" not in words or "--mpirun_hostfile" in words:
        return
    count = next((words[i + 1] for i, w in enumerate(words[:-1]) if w == "--num_processes"), "1")
    if count.isdigit() and int(count) > 1:
        raise LauncherError(
            f"`accelerate launch --cpu --num_processes {count}` starts one process, not {count} (accelerate runs "
            "several CPU processes only through mpirun); for several CPU processes set train.launcher to "
            f"`accelerate launch --multi_gpu --num_processes {count}` (torch.distributed with gloo on a CPU)"
        )


class JobService(Protocol):
    """The engine server's fine-tuning jobs, as a run needs them (`tuitune.client.jobs.ServerJobs`)."""

    def available(self) -> bool: ...
    def identity(self) -> tuple[str, str]: ...
    def submit(self, config: RunConfig, rows: list[dict[str, Any]], units: list[dict[str, Any]]) -> str: ...
    def follow(self, job_id: str, since: int) -> tuple[list[dict[str, Any]], int]: ...
    def status(self, job_id: str) -> str: ...
    def cancel(self, job_id: str) -> None: ...


JOB_LOST_AFTER_S = 15.0  # a follower whose server does not answer for this long stops following (the run stays)


@dataclass
class RunHandle:
    """One run, followed through its folder, or through the engine server when it is a job there (`job_id`);
    `process` is set only in the process that started a local trainer."""

    run_id: int
    run_dir: Path
    store: Store
    method: str = ""
    reason: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    adapter_name: str = ""
    holdout: list[list[dict[str, str]]] = field(default_factory=list)
    process: subprocess.Popen | None = None
    jobs: JobService | None = None
    job_id: str | None = None

    @property
    def events_path(self) -> Path:
        return self.run_dir / EVENTS_FILE

    @property
    def log_path(self) -> Path:
        return self.run_dir / LOG_FILE

    def alive(self) -> bool:
        """Whether a local trainer still runs (a job's state is the server's: its events say)."""
        if self.process is not None:
            return self.process.poll() is None
        return pid_alive(self.store.run(self.run_id).pid)

    def events(self, poll_s: float = 0.2, stop: threading.Event | None = None) -> Iterator[dict[str, Any]]:
        """Every event from the first, then live ones until the terminal one (done, error or cancelled).
        A trainer that dies without a word yields a made-up error, and the store says failed. `stop` ends the
        iteration early (the watcher leaves; the run goes on)."""
        if self.jobs is not None and self.job_id:
            yield from self._job_events(poll_s, stop)
            return
        offset, pending = 0, b""
        while True:
            alive = self.alive()  # before reading, so nothing written before it died is missed
            chunk = b""
            if self.events_path.exists():
                with self.events_path.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
                offset += len(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                event = parse_event(line)
                if event is None:
                    continue
                if event["event"] in TERMINAL:
                    settle(self.store, self.run_id, event)
                yield event
                if event["event"] in TERMINAL:
                    return
            if not alive:
                yield self._died()
                return
            if stop is not None and stop.is_set():
                return
            if stop is not None:
                stop.wait(poll_s)
            else:
                time.sleep(poll_s)

    def _job_events(self, poll_s: float, stop: threading.Event | None) -> Iterator[dict[str, Any]]:
        assert self.jobs is not None and self.job_id is not None
        since, silent_since = 0, None
        while True:
            try:
                events, since = self.jobs.follow(self.job_id, since)
                silent_since = None
            except TuituneError as exc:
                silent_since = silent_since or time.monotonic()
                if "No such fine-tuning job" in str(exc):  # the server has no such job: the run is over
                    event = {"event": "error", "message": f"the engine server lost job {self.job_id}: {exc}",
                             "suggestion": "the server's log says why; F5 trains again"}  # fmt: skip
                    settle(self.store, self.run_id, event)
                    yield event
                    return
                if time.monotonic() - silent_since > JOB_LOST_AFTER_S:  # unreachable: the job may well go on
                    yield {"event": "error", "message": f"lost the engine server while following job {self.job_id}:"
                           f" {exc}", "suggestion": "the job goes on there if the server does: `tuitune runs` or "
                           "reopening tuitune follows it again"}  # fmt: skip
                    return
                events = []
            for event in events:
                if event["event"] in TERMINAL:
                    settle(self.store, self.run_id, event)
                    yield event
                    return
                yield event
            if stop is not None and stop.is_set():
                return
            if silent_since is not None:  # the server waits for news itself (a long poll); pause only after errors
                time.sleep(poll_s)

    def wait(self, poll_s: float = 0.2) -> dict[str, Any]:
        """Follow to the end; the terminal event."""
        last: dict[str, Any] = {}
        for event in self.events(poll_s):
            last = event
        return last

    def cancel(self) -> None:
        """SIGTERM to the trainer's process group (a launcher passes it on to its workers); every rank stops within
        a second or two, even mid-step, saves nothing, and the run is marked cancelled. The `cancel` file says
        that this SIGTERM is a cancel, not a launcher stopping the survivors of a failed rank. A job is cancelled
        by its server, which does the same to its trainer."""
        if self.jobs is not None and self.job_id:
            self.jobs.cancel(self.job_id)
            return
        if not self.alive():
            return
        ranks.request_cancel(self.run_dir)  # a trainer not started yet reads it and stops at once
        pid = self._trainer_pid()
        if pid:
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the trainer's process group, for a trainer that does not stop when asked (a job's server
        kills its trainer itself when a cancel is not heard)."""
        if self.jobs is not None and self.job_id:
            self.jobs.cancel(self.job_id)
            return
        pid = self._trainer_pid()
        if pid and self.alive():
            ranks.request_cancel(self.run_dir)
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

    def _trainer_pid(self) -> int | None:
        """The pid to signal: our own child, or the run's recorded pid when that process is this run's trainer
        (not the process that started it, whose pid stands in until the trainer's is known, nor a stranger that
        got a recycled pid)."""
        if self.process is not None:
            return self.process.pid
        pid = self.store.run(self.run_id).pid
        if not pid:
            return None
        if not os.path.isdir("/proc/self"):  # no /proc here: trust the store
            return pid
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            return None
        return pid if b"tuitune.training" in argv and str(self.run_dir).encode() in argv else None

    def _died(self) -> dict[str, Any]:
        code = self.process.poll() if self.process is not None else None
        run = self.store.run(self.run_id)
        if run.status == "done":  # settled by the trainer itself, whose last line we then missed
            adapter = self.store.adapter_by_id(run.adapter_id) if run.adapter_id else None
            return {
                "event": "done",
                "adapter_path": adapter.path if adapter else "",
                "adapter_name": adapter.name if adapter else "",
                "metrics": run.metrics,
            }
        if run.status in ("failed", "cancelled"):
            return {
                "event": "error" if run.status == "failed" else "cancelled",
                "message": run.error or run.status,
                "suggestion": "",
            }
        if ranks.cancel_requested(self.run_dir):  # cancelled before the trainer could say so
            event = {"event": "cancelled", "message": "cancelled; no adapter was saved"}
            settle(self.store, self.run_id, event)
            return event
        how = f" (exit status {code})" if code is not None else ""
        message = ranks.failure_summary(self.run_dir) or f"the trainer process ended without a result{how}"
        if code is not None and code < 0:
            message = f"the trainer process was killed by signal {-code}"
        event = {
            "event": "error",
            "message": message,
            "suggestion": "killed by the system? it may have run out of memory: lower train.batch_size "
            f"or train.max_length; see {self.log_path}",
        }
        settle(self.store, self.run_id, event)
        return event


def parse_event(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line.decode("utf-8", "replace"))
    except ValueError:
        return None  # a library printed to stdout; the log has it anyway
    return event if isinstance(event, dict) and "event" in event else None


def settings_with(settings: Settings, overrides: Mapping[str, Any] | None) -> Settings:
    """A copy of `settings` with flag-style overrides ({'epochs': 3} or {'train.epochs': 3}); None values ignored."""
    return settings.with_overrides({OVERRIDABLE.get(key, key): value for key, value in (overrides or {}).items()})


def start_run(
    settings: Settings,
    store: Store,
    method: str = "auto",
    overrides: Mapping[str, Any] | None = None,
    *,
    template_fingerprint: str | None = None,
    base_model: str | None = None,
    parent_adapter: str | None = None,
    env: Mapping[str, str] | None = None,
    jobs: JobService | None = None,
) -> RunHandle:
    """Plan the data, create the run and its folder, and start the trainer detached (its own session) — or, with
    `jobs` where the engine server runs them, submit the run to the server as a fine-tuning job.

    Pass the running engine's `template_fingerprint` and `info.name` when there is one; otherwise they are read
    from the tokenizer here. Raises `data.NothingToTrain` (no run is created) when there is nothing to train on.
    """
    reap_dead_runs(store)
    if jobs is not None:
        settle_ended_jobs(settings, store, jobs)
    _refuse_if_busy(store)
    settings = settings_with(settings, overrides)
    check_launcher(trainer_command(settings, "."))
    plan = data.build(store, settings, method)
    as_job = jobs is not None and jobs.available()
    if as_job and (template_fingerprint is None or base_model is None):
        assert jobs is not None
        base_model, template_fingerprint = jobs.identity()  # the server's model: no tokenizer loaded here
    if template_fingerprint is None or base_model is None:
        name, fp = engine_identity(settings)
        template_fingerprint = template_fingerprint or fp
        base_model = base_model or name
    parent = store.adapter(parent_adapter) if parent_adapter else None
    params = {key: value for key, value in settings.to_dict().items() if key.startswith(("train.", "lora."))}
    private_mkdir(settings.runs_dir)
    with store.transaction():
        reap_dead_runs(store)
        _refuse_if_busy(store)
        run_id = store.create_run(
            plan.method,
            params=params,
            example_ids=plan.example_ids,
            base_model=base_model,
            template_fingerprint=template_fingerprint,
            reason=plan.reason,
            status="queued",
        )
        store.update_run(run_id, pid=os.getpid())  # ours until the trainer's is known: alive, so not reaped
    remove_stale_saves(store, settings.adapters_dir)
    run_dir = settings.runs_dir / f"run-{run_id:04d}"
    private_mkdir(run_dir)
    config = RunConfig(
        run_id=run_id,
        run_dir=str(run_dir),
        method=plan.method,
        reason=plan.reason,
        adapter_name=f"{plan.method}-run{run_id}-{time.strftime('%Y%m%d-%H%M%S')}",
        parent_adapter_id=parent.id if parent else None,
        base_model=base_model,
        template_fingerprint=template_fingerprint,
        example_ids=plan.example_ids,
        counts={**plan.counts, "heldout": len(plan.heldout_units)},
        live_adapter=parent.name if parent else None,
        live_adapter_path=parent.path if parent else None,
        measure_behaviour=plan.measure_behaviour,
        settings=settings.to_dict(),
    )
    try:
        config.save()
        write_rows(run_dir, plan.rows)
        write_heldout(run_dir, plan.heldout_units)
        private_write_text(run_dir / "holdout.json", json.dumps(plan.holdout, ensure_ascii=False))
        store.update_run(run_id, run_dir=str(run_dir), log_path=str(run_dir / LOG_FILE))
        if as_job:
            assert jobs is not None
            job_id = jobs.submit(config, plan.rows, plan.heldout_units)
            store.update_run(run_id, job_id=job_id, status="running")  # the server has it: its clock starts
            return RunHandle(run_id, run_dir, store, plan.method, plan.reason, plan.counts, config.adapter_name,
                             plan.holdout, jobs=jobs, job_id=job_id)  # fmt: skip
        process = spawn_trainer(trainer_command(settings, run_dir), run_dir, env)
    except BaseException as exc:
        settle(store, run_id, {"event": "error", "message": f"the trainer did not start: {exc}"})
        raise
    store.update_run(run_id, pid=process.pid)
    return RunHandle(
        run_id, run_dir, store, plan.method, plan.reason, plan.counts, config.adapter_name, plan.holdout, process
    )


def settle_ended_jobs(settings: Settings, store: Store, jobs: JobService) -> None:
    """Runs the server ended while no client followed them (every client quit, or was killed) get their outcome."""
    for run in store.active_runs():
        if not run.job_id:
            continue
        try:
            ended = jobs.status(run.job_id) not in ("validating_files", "queued", "running")
        except TuituneError as exc:
            ended = "No such fine-tuning job" in str(exc)
        if ended:
            attach(settings, store, run.id, jobs).wait(poll_s=0.05)


@dataclass(frozen=True)
class Launcher:
    """The training runs of one home: `start_run`, `attach` and `live_run` over the settings and store they share.
    What the TUI's panel and `tuitune train` start, find and follow runs with."""

    settings: Settings
    store: Store
    jobs: JobService | None = None  # the engine server's fine-tuning jobs, where runs train when it has them

    def start(
        self,
        method: str = "auto",
        overrides: Mapping[str, Any] | None = None,
        *,
        template_fingerprint: str | None = None,
        base_model: str | None = None,
        parent_adapter: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RunHandle:
        return start_run(
            self.settings,
            self.store,
            method,
            overrides,
            template_fingerprint=template_fingerprint,
            base_model=base_model,
            parent_adapter=parent_adapter,
            env=env,
            jobs=self.jobs,
        )

    def attach(self, run_id: int) -> RunHandle:
        return attach(self.settings, self.store, run_id, self.jobs)

    def live(self) -> RunHandle | None:
        return live_run(self.settings, self.store, self.jobs)

    def choose_method(self) -> tuple[str, str]:
        """What `auto` would train now, and why."""
        return data.choose_method(self.store, self.settings)


def _refuse_if_busy(store: Store) -> None:
    busy = store.active_runs()
    if busy:
        raise RunBusy(f"run {busy[0].id} is still training; cancel it or wait for it")


def spawn_trainer(
    argv: list[str], run_dir: Path, env: Mapping[str, str] | None, *, die_with_parent: bool = False
) -> subprocess.Popen:
    """Start the trainer in its own session, events to the run folder's events.jsonl, stderr to its log.
    `die_with_parent`: SIGTERM reaches it when the thread that started it ends (Linux), as a cancel: what the engine
    server wants for its jobs, so a killed server leaves no trainer behind."""
    child_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    root = str(Path(__file__).resolve().parents[2])  # so a source checkout trains without being installed
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (root, child_env.get("PYTHONPATH", "")) if p)
    with private_open(run_dir / EVENTS_FILE, "ab") as out, private_open(run_dir / LOG_FILE, "ab") as err:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=str(run_dir),
            env=child_env,
            start_new_session=True,  # survives the TUI quitting and the SSH session dropping
            preexec_fn=_term_with_parent if die_with_parent else None,
        )
    # Collect its exit status when it ends, whoever follows it (or nobody): a long-lived parent such as the TUI
    # would otherwise keep a zombie per run.
    threading.Thread(target=process.wait, name=f"reap-trainer-{process.pid}", daemon=True).start()
    return process


def _term_with_parent() -> None:
    with suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def attach(settings: Settings, store: Store, run_id: int, jobs: JobService | None = None) -> RunHandle:
    """Follow a run some other process started (a TUI reopened mid-run, a second terminal); a job through `jobs`."""
    run = store.run(run_id)
    if not run.run_dir:
        raise ValueError(f"run {run_id} has no folder to follow")
    run_dir = Path(run.run_dir)
    config = RunConfig.read(run_dir) if (run_dir / "run.json").is_file() else None
    holdout_file = run_dir / "holdout.json"
    holdout = json.loads(holdout_file.read_text(encoding="utf-8")) if holdout_file.is_file() else []
    return RunHandle(
        run_id,
        run_dir,
        store,
        run.method,
        run.reason or "",
        config.counts if config else {},
        config.adapter_name if config else "",
        holdout,
        jobs=jobs if run.job_id else None,
        job_id=run.job_id,
    )


def live_run(settings: Settings, store: Store, jobs: JobService | None = None) -> RunHandle | None:
    """The run still training, if any (after failing runs whose trainer died): what a reopened TUI follows."""
    reap_dead_runs(store)
    if jobs is not None:
        settle_ended_jobs(settings, store, jobs)
    remove_stale_saves(store, settings.adapters_dir)
    runs = store.active_runs()
    return attach(settings, store, runs[-1].id, jobs) if runs else None


def cancel(handle: RunHandle) -> None:
    handle.cancel()


def watch(handle: RunHandle, poll_s: float = 0.2, stop: threading.Event | None = None) -> Iterator[dict[str, Any]]:
    return handle.events(poll_s, stop)


def engine_identity(settings: Settings) -> tuple[str, str]:
    """(base model name, chat template fingerprint) exactly as the engine would compute them, without a model."""
    from tuitune.model.loader import load_tokenizer
    from tuitune.model.source import resolve
    from tuitune.model.templates import choose_template, fingerprint

    source = resolve(settings.model.spec, settings.cache_dir)
    template = choose_template(load_tokenizer(source), settings.model.template, settings.prompts_dir)
    return source.name, fingerprint(template)
