"""Fine-tuning jobs in the engine server: OpenAI's jobs API over tuitune's trainer process.

A job is a folder `<home>/jobs/ftjob-<hex>/` holding `job.json` (OpenAI's job object), `events.jsonl` (the job's
events, oldest first) and `run/` (the trainer's run folder: run.json, data.jsonl, heldout.jsonl, its own events and
log). One job trains at a time; the others wait, queued, in the order they came. The trainer is its own process,
started by the server's job thread beside the model; a trainer that dies fails its job with the reason, and a
server that stops cancels the running job (SIGTERM reaches the trainer when the server goes, even by kill -9).
When a job succeeds its adapter is loaded into the engine under the job's `fine_tuned_model` name.

The request's `tuitune` field is the documented extension: `method` ("kto"), `settings` (train.* and lora.* keys
listed in JOB_SETTINGS), `adapter_name`, `live_adapter` (a loaded adapter the new one must beat), `reason`,
`example_ids`, `counts`, `measure_behaviour`, `delete_files` (the job's files go once its run folder is written).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from tuitune.config import Settings
from tuitune.errors import TuituneError
from tuitune.generation import BASE
from tuitune.private import private_mkdir, private_open, private_write_text
from tuitune.server.finetune_files import FileStore, heldout_unit, is_id, training_row
from tuitune.server.job_requests import (
    JOB_SETTINGS,
    parse_adapter_name,
    parse_ints,
    parse_metadata,
    parse_method,
    parse_suffix,
)
from tuitune.server.protocol import ApiError
from tuitune.training import ranks
from tuitune.training.config import EVENTS_FILE, RunConfig, write_heldout, write_rows
from tuitune.training.launcher import parse_event, spawn_trainer, trainer_command
from tuitune.training.runs import TERMINAL, pid_alive

FINAL = ("succeeded", "failed", "cancelled")
METHOD_FORMATS = {"sft": ("supervised",), "dpo": ("dpo",), "kto": ("kto",)}
KILL_AFTER_S = 30.0


class Jobs:
    """The jobs of one server home and the thread that runs them, one at a time."""

    def __init__(self, settings: Settings, engine: Any) -> None:
        self.settings, self.engine = settings, engine
        self.folder = settings.home / "jobs"
        self.files = FileStore(self.folder / "files")
        self._lock = threading.RLock()
        self._news = threading.Condition(self._lock)  # notified at every new job event: long polls wake on it
        self._seqs: dict[str, int] = {}  # each job's last event number
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._cancel: set[str] = set()
        self.current: dict[str, Any] = {}  # the running job's id and its latest phase and step, for status
        self._thread: threading.Thread | None = None

    # ---- the job thread ------------------------------------------------------------------------------------
    def start(self) -> None:
        self._recover()
        self._thread = threading.Thread(target=self._loop, name="fine-tuning-jobs", daemon=True)
        self._thread.start()

    def stop(self, wait_s: float = 10.0) -> None:
        """The server is going down: the running job is cancelled (its trainer told to stop) and waited for."""
        self._stopping.set()
        running = self.current.get("id")
        if running:
            self._cancel.add(running)
        self._wake.set()
        if self._thread is not None:
            self._thread.join(wait_s)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            job = self._next()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                self._run(job)
            except Exception as exc:  # a bug here must not leave the job running forever
                self._finish(job["id"], "failed", error=("server_error", f"{exc.__class__.__name__}: {exc}"))
            finally:
                self.current = {}

    def _next(self) -> dict[str, Any] | None:
        if not getattr(self.engine, "ready", False):
            return None  # the trainer must match the loaded model: wait for it
        with self._lock:
            queued = [job for job in self._all() if job["status"] == "queued"]
        return min(queued, key=lambda job: job["tuitune"]["number"]) if queued else None

    def _run(self, job: dict[str, Any]) -> None:
        job_id = job["id"]
        run_dir = self._dir(job_id) / "run"
        with self._lock:  # one step with `cancel`: a job cancelled while queued never starts
            if self.get(job_id)["status"] != "queued":
                return
            self._update(job_id, status="running", started_at=int(time.time()))
        self.current = {"id": job_id, "phase": "prepare"}
        config = self._config(job, run_dir)
        if job["tuitune"].get("delete_files"):  # tuitune's client: the run folder holds the rows from now on
            for file_id in filter(None, (job["training_file"], job["validation_file"])):
                with suppress(ApiError):
                    self.files.delete(file_id)
        self._event(job_id, f"Fine-tuning job started: {config.method}, {config.counts.get('rows', 0)} examples")
        self.current = {"id": job_id, "phase": "load"}
        process = spawn_trainer(trainer_command(config.run_settings(), run_dir), run_dir, None, die_with_parent=True)
        self._update(job_id, tuitune={**job["tuitune"], "pid": process.pid})
        last = self._follow(job_id, run_dir, process)
        kind = last.get("event")
        if kind == "done":
            self._succeeded(job_id, last)
        elif kind == "cancelled" or (job_id in self._cancel and kind != "error"):
            why = "the engine server stopped during the job" if self._stopping.is_set() else "cancelled"
            self._finish(job_id, "cancelled", message=f"{why}; no adapter was saved")
        else:
            self._finish(job_id, "failed", error=("trainer_failed", last.get("message") or "the trainer failed"))

    def _follow(self, job_id: str, run_dir: Path, process: Any) -> dict[str, Any]:
        """Every trainer event becomes a job event; returns the terminal one (made up when the trainer died)."""
        offset, pending, signalled = 0, b"", 0.0
        while True:
            alive = process.poll() is None
            path = run_dir / EVENTS_FILE
            if path.exists():
                with path.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
                offset += len(chunk)
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    event = parse_event(line)
                    if event is not None:
                        self._trainer_event(job_id, event)
                        if event["event"] in TERMINAL:
                            return event
            if not alive:
                code = process.returncode
                message = ranks.failure_summary(run_dir) or f"the trainer process ended without a result ({code})"
                if code is not None and code < 0:
                    message = f"the trainer process was killed by signal {-code}"
                return {"event": "cancelled" if job_id in self._cancel else "error", "message": message}
            if job_id in self._cancel:
                if not signalled:
                    ranks.request_cancel(run_dir)
                    _signal(process.pid, signal.SIGTERM)
                    signalled = time.monotonic()
                elif time.monotonic() - signalled > KILL_AFTER_S:
                    _signal(process.pid, signal.SIGKILL)
            time.sleep(0.2)

    def _trainer_event(self, job_id: str, event: dict[str, Any]) -> None:
        kind = event["event"]
        data = {key: value for key, value in event.items() if key != "time"}
        if kind == "progress":
            self.current.update(phase="train", step=event.get("step"), total=event.get("total"))
            data.update(total_steps=event.get("total"), train_loss=event.get("loss"))
            self._event(job_id, f"Step {event.get('step')}/{event.get('total')}: training loss={event.get('loss')}",
                        data, kind="metrics")  # fmt: skip
        elif kind == "phase":
            self.current["phase"] = event.get("name")
            self._event(job_id, f"Phase: {event.get('name')}", data)
        elif kind == "measure":
            self.current["phase"] = "measure"
            self._event(job_id, f"Measuring {event.get('part')}: {event.get('done')}/{event.get('total')}", data)
        elif kind == "error":
            self._event(job_id, f"The trainer failed: {event.get('message')}", data, level="error")
        elif kind == "done":
            decision = (event.get("metrics") or {}).get("decision") or {}
            verdict = "promote" if decision.get("promote") else "hold back"
            self._event(job_id, f"Trained; decision: {verdict}: {decision.get('reason', '')}", data)
        else:
            self._event(job_id, f"Trainer: {kind}", data)

    def _succeeded(self, job_id: str, done: dict[str, Any]) -> None:
        name, path = done["adapter_name"], done["adapter_path"]
        note = ""
        try:
            if name not in self.engine.loaded_adapters:
                self.engine.load_adapter(name, path, False)
        except Exception as exc:  # the adapter is saved and complete; it just is not served yet
            note = f" (not loaded into the engine: {exc})"
        metrics = done.get("metrics") or {}
        tokens = float(metrics.get("tokens_per_s") or 0) * float(metrics.get("train_s") or 0)
        self._update(job_id, fine_tuned_model=name, trained_tokens=round(tokens))
        self._finish(job_id, "succeeded", message=f"The job has successfully completed{note}", data=done)

    # ---- records -------------------------------------------------------------------------------------------
    def _dir(self, job_id: str) -> Path:
        if not is_id(job_id, "ftjob-"):
            raise ApiError(404, f"No such fine-tuning job: {str(job_id)[:80]}", "fine_tuning_job_id")
        return self.folder / job_id

    def _all(self) -> list[dict[str, Any]]:
        jobs = []
        for path in self.folder.glob("ftjob-*/job.json") if self.folder.is_dir() else []:
            with suppress(OSError, ValueError):
                jobs.append(json.loads(path.read_text(encoding="utf-8")))
        return jobs

    def get(self, job_id: str) -> dict[str, Any]:
        try:
            return json.loads((self._dir(job_id) / "job.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ApiError(404, f"No such fine-tuning job: {job_id}", "fine_tuning_job_id") from None

    def _save(self, job: dict[str, Any]) -> None:
        folder = self._dir(job["id"])
        private_mkdir(folder)
        tmp = folder / "job.json.tmp"
        private_write_text(tmp, json.dumps(job, ensure_ascii=False))
        os.replace(tmp, folder / "job.json")

    def _update(self, job_id: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            job = {**self.get(job_id), **fields}
            self._save(job)
            return job

    def _finish(self, job_id: str, status: str, *, message: str = "", error: tuple[str, str] | None = None,
                data: dict[str, Any] | None = None) -> None:  # fmt: skip
        body = {"code": error[0], "message": error[1], "param": None} if error else None
        self._update(job_id, status=status, finished_at=int(time.time()), error=body)
        text = message or (f"The job failed: {error[1]}" if error else f"The job is {status}")
        self._event(job_id, text, {**(data or {}), "status": status}, level="error" if error else "info")
        self._cancel.discard(job_id)

    def _event(self, job_id: str, message: str, data: dict[str, Any] | None = None, *, level: str = "info",
               kind: str = "message") -> None:  # fmt: skip
        with self._lock:
            path = self._dir(job_id) / "events.jsonl"
            seq = self._last_seq(job_id) + 1
            event = {
                "id": f"ftevent-{job_id[6:]}-{seq}",
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "type": kind,
                "data": data or {},
                "seq": seq,
            }
            with private_open(path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(event, ensure_ascii=False) + "\n")
            self._seqs[job_id] = seq
            self._news.notify_all()

    def _last_seq(self, job_id: str) -> int:
        """The job's last event number: counted from its file once (a job of an earlier server), then kept."""
        if job_id not in self._seqs:
            path = self._dir(job_id) / "events.jsonl"
            self._seqs[job_id] = sum(1 for _ in path.open("rb")) if path.exists() else 0
        return self._seqs[job_id]

    def wait_for_events(self, job_id: str, since: int, timeout: float) -> None:
        """Return when the job has an event after `since`, or after `timeout` seconds (a long poll's wait)."""
        with self._news:
            self._news.wait_for(lambda: self._last_seq(job_id) > since, timeout)

    def events(self, job_id: str, *, after: str | None, limit: int, since: int | None) -> dict[str, Any]:
        """OpenAI's listing (newest first, `after` an event id to page back from), or with `since` (tuitune's
        extension for following a job) the events after that sequence number, oldest first."""
        self.get(job_id)
        path = self._dir(job_id) / "events.jsonl"
        every = [json.loads(line) for line in path.open(encoding="utf-8")] if path.exists() else []
        if since is not None:
            return _page([e for e in every if e["seq"] > since], None, limit)
        return _page(list(reversed(every)), after, limit)

    def list(self, *, after: str | None, limit: int) -> dict[str, Any]:
        return _page(sorted(self._all(), key=lambda job: job["tuitune"]["number"], reverse=True), after, limit)

    def cancel(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self.get(job_id)
            if job["status"] in FINAL:
                raise ApiError(400, f"the job is {job['status']} already; nothing to cancel", "fine_tuning_job_id")
            self._cancel.add(job_id)
            if job["status"] != "running":
                self._finish(job_id, "cancelled", message="cancelled before it started")
        self._wake.set()
        return self.get(job_id)

    def status(self) -> dict[str, Any]:
        queued = sorted((j for j in self._all() if j["status"] == "queued"), key=lambda j: j["tuitune"]["number"])
        return {"running": dict(self.current) or None, "queued": [job["id"] for job in queued]}

    def busy(self) -> bool:
        return bool(self.current) or any(job["status"] == "queued" for job in self._all())

    def trainer_pid(self) -> int | None:
        job_id = self.current.get("id")
        return self.get(job_id)["tuitune"].get("pid") if job_id else None

    def _recover(self) -> None:
        """Jobs a previous server left running: it stopped mid-job. Its trainer is told to stop (it heard
        SIGTERM when the server died, unless the kernel could not say), and the job ends with the reason."""
        for job in self._all():
            if job["status"] != "running":
                continue
            pid = job["tuitune"].get("pid")
            if pid and pid_alive(pid):
                ranks.request_cancel(self._dir(job["id"]) / "run")
                _signal(pid, signal.SIGTERM)
            self._finish(job["id"], "failed", error=("server_stopped", "the engine server stopped during the job"))

    # ---- creating ------------------------------------------------------------------------------------------
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        extra = body.get("tuitune") or {}
        if not isinstance(extra, dict):
            raise ApiError(400, "'tuitune' must be an object", "tuitune")
        base = getattr(self.engine.info, "name", None) if getattr(self.engine, "ready", False) else None
        model = body.get("model")
        if not isinstance(model, str) or model not in {BASE, base}:
            raise ApiError(400, f"this server fine-tunes its base model ({base or 'loading'}), not {model!r}"[:300],
                           "model")  # fmt: skip
        method, hyper = parse_method(body, extra)
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**31):
            raise ApiError(400, "'seed' must be an integer from 0 to 2**31-1", "seed")
        settings = self._settings(hyper, extra.get("settings"), seed)
        training = self.files.get(body.get("training_file"))
        if training["tuitune"]["format"] not in METHOD_FORMATS[method]:
            raise ApiError(400, f"a {method} job needs a training file of {METHOD_FORMATS[method][0]} lines, "
                                f"not {training['tuitune']['format']}", "training_file")  # fmt: skip
        validation = None
        if body.get("validation_file") is not None:
            validation = self.files.get(body["validation_file"])
            if validation["tuitune"]["format"] == "supervised":
                raise ApiError(400, "a validation file holds dpo pairs or kto thumbs: the held-out judgements",
                               "validation_file")  # fmt: skip
        suffix = parse_suffix(body.get("suffix"))
        job_id = f"ftjob-{secrets.token_hex(12)}"
        name = parse_adapter_name(extra.get("adapter_name"), suffix, method, job_id)
        if name in self.engine.loaded_adapters or (self.settings.adapters_dir / name).exists():
            raise ApiError(400, f"an adapter named {name!r} exists already", "tuitune.adapter_name")
        live = extra.get("live_adapter")
        if live is not None and not isinstance(live, str):
            raise ApiError(400, "'tuitune.live_adapter' must name an adapter", "tuitune.live_adapter")
        if live not in self.engine.loaded_adapters:
            live = None  # not loaded here: the new adapter is measured against the base
        with self._lock:
            number = max((job["tuitune"]["number"] for job in self._all()), default=0) + 1
            job = {
                "id": job_id,
                "object": "fine_tuning.job",
                "model": base,
                "created_at": int(time.time()),
                "finished_at": None,
                "fine_tuned_model": None,
                "organization_id": "tuitune",
                "result_files": [],
                "status": "queued",
                "validation_file": validation["id"] if validation else None,
                "training_file": training["id"],
                "hyperparameters": hyper,
                "method": {
                    "type": method if method != "sft" else "supervised",
                    (method if method != "sft" else "supervised"): {"hyperparameters": hyper},
                },  # fmt: skip
                "trained_tokens": None,
                "error": None,
                "seed": settings.train.seed,
                "suffix": suffix,
                "estimated_finish": None,
                "integrations": [],
                "metadata": parse_metadata(body.get("metadata")),
                "tuitune": {
                    "number": number,
                    "method": method,
                    "adapter_name": name,
                    "settings": {k: v for k, v in settings.to_dict().items() if k in JOB_SETTINGS},
                    "live_adapter": live,
                    "reason": str(extra.get("reason") or f"{method} job {job_id}")[:500],
                    "example_ids": parse_ints(extra.get("example_ids")),
                    "counts": {k: v for k, v in (extra.get("counts") or {}).items() if isinstance(v, int)}
                    if isinstance(extra.get("counts"), dict)
                    else {},  # fmt: skip
                    "measure_behaviour": bool(extra.get("measure_behaviour", False)),
                    "delete_files": extra.get("delete_files") is True,
                },
            }
            self._save(job)
        self._event(job_id, f"Created fine-tuning job: {job_id} ({method}, adapter {name})")
        self._wake.set()
        return job

    def _settings(self, hyper: dict[str, Any], given: Any, seed: int | None) -> Settings:
        values: dict[str, Any] = {"train.seed": seed}
        if given is not None:
            if not isinstance(given, dict) or not set(given) <= JOB_SETTINGS:
                allowed = ", ".join(sorted(JOB_SETTINGS))
                raise ApiError(400, f"'tuitune.settings' takes only {allowed}", "tuitune.settings")
            values.update(given)
        for key, setting in (("n_epochs", "train.epochs"), ("batch_size", "train.batch_size"), ("beta", "train.beta")):
            if hyper.get(key, "auto") != "auto":
                values[setting] = hyper[key]
        if hyper.get("learning_rate_multiplier", "auto") != "auto":
            values["train.lr"] = self.settings.train.lr * hyper["learning_rate_multiplier"]
        try:
            return self.settings.with_overrides(values)
        except (TuituneError, ValueError, TypeError) as exc:
            raise ApiError(400, str(exc)[:300], "hyperparameters") from None

    def _config(self, job: dict[str, Any], run_dir: Path) -> RunConfig:
        extra = job["tuitune"]
        settings = self.settings.with_overrides(extra["settings"])
        rows = [training_row(line) for line in self.files.lines(job["training_file"])]
        units = []
        if job["validation_file"]:
            units = [heldout_unit(line, i) for i, line in enumerate(self.files.lines(job["validation_file"]))]
        live = extra.get("live_adapter")
        config = RunConfig(
            run_id=extra["number"],
            run_dir=str(run_dir),
            method=extra["method"],
            reason=extra["reason"],
            adapter_name=extra["adapter_name"],
            base_model=self.engine.info.name,
            template_fingerprint=getattr(self.engine, "template_fingerprint", ""),
            example_ids=extra["example_ids"],
            counts={**extra["counts"], "rows": len(rows), "heldout": len(units)},
            live_adapter=live if live in self.engine.loaded_adapters else None,
            live_adapter_path=self.engine.loaded_adapters.get(live) if live else None,
            measure_behaviour=extra["measure_behaviour"],
            settings=settings.to_dict(),
            use_store=False,
        )
        private_mkdir(run_dir)
        config.save()
        write_rows(run_dir, rows)
        write_heldout(run_dir, units)
        return config


def _page(items: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    """OpenAI's list page: the items after the one whose id is `after` (none when it is unknown), `limit` of them."""
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    return {"object": "list", "data": items[:limit], "has_more": len(items) > limit}


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
