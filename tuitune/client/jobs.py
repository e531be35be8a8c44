"""Training through the engine server: a run planned from this client's store goes to the server as an OpenAI
fine-tuning job (files, then a job), and is followed through the job's events.

The rows are written in OpenAI's formats (supervised: `messages`; dpo: `input` / `preferred_output` /
`non_preferred_output`; kto: tuitune's `prompt` / `completion` / `label`), the held-out judgements as the job's
validation file (pairs in the dpo format, thumbs in the kto format), and what only tuitune knows (the method when
it is kto, the run's settings, the adapter's name, the live adapter to beat) in the job's `tuitune` field.
"""

from __future__ import annotations

import json
from contextlib import suppress
from typing import Any

from tuitune.client.engine import EngineClient, EngineError
from tuitune.errors import TuituneError
from tuitune.generation import BASE
from tuitune.server.job_requests import JOB_SETTINGS
from tuitune.training.config import RunConfig

FINAL = {"succeeded": "done", "failed": "error", "cancelled": "cancelled"}


def file_lines(method: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """trl rows as the lines of an OpenAI fine-tuning file for `method`."""
    if method == "sft":
        return [{"messages": [*row["prompt"], *row["completion"]]} for row in rows]
    if method == "dpo":
        return [
            {"input": {"messages": row["prompt"]}, "preferred_output": row["chosen"],
             "non_preferred_output": row["rejected"]}
            for row in rows
        ]  # fmt: skip
    return [{"prompt": row["prompt"], "completion": row["completion"], "label": bool(row["label"])} for row in rows]


def validation_lines(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The held-out judgements as validation lines: pairs in the dpo format, thumbs in the kto format."""
    lines = []
    for unit in units:
        extra: dict[str, Any] = {"tuitune": {"turn_id": unit.get("turn_id")}}
        if unit["kind"] == "pair":
            lines.append(
                {"input": {"messages": unit["prompt"]},
                 "preferred_output": [{"role": "assistant", "content": unit["better"]}],
                 "non_preferred_output": [{"role": "assistant", "content": unit["worse"]}], **extra}
            )  # fmt: skip
        else:
            answer = [{"role": "assistant", "content": unit["answer"]}]
            lines.append({"prompt": unit["prompt"], "completion": answer, "label": bool(unit["good"]), **extra})
    return lines


class ServerJobs:
    """`tuitune.training.launcher.JobService` over an engine client attached to a tuitune server."""

    def __init__(self, engine: EngineClient) -> None:
        self.engine = engine
        self._offered: bool | None = None

    def available(self) -> bool:
        """Whether the server runs jobs: tuitune's own does (vLLM does not; training then runs here, beside it).
        Attaches the engine client first when it is not yet."""
        if self._offered is None:
            if self.engine.settings.engine.backend != "local":
                return False
            if not self.engine.ready:
                self.engine.load()
            try:
                self._offered = self._call("GET", "/v1/status").get("jobs") is not None
            except EngineError:
                self._offered = False
        return self._offered

    def identity(self) -> tuple[str, str]:
        """(the server's base model name, its chat template's fingerprint): what a run trained there is for."""
        status = self._call("GET", "/v1/status")
        return str(status.get("model") or ""), str(status.get("template_fingerprint") or "")

    def submit(self, config: RunConfig, rows: list[dict[str, Any]], units: list[dict[str, Any]]) -> str:
        live, path = config.live_adapter, config.live_adapter_path
        if live and path and live not in self.engine.loaded_adapters:
            with suppress(TuituneError):  # the server measures against the base then, and says so in the reason
                self.engine.load_adapter(live, path, activate=False)
        training = self._upload(file_lines(config.method, rows), f"run-{config.run_id}-train.jsonl")
        validation = self._upload(validation_lines(units), f"run-{config.run_id}-heldout.jsonl") if units else None
        body = {
            "model": BASE,
            "training_file": training,
            "validation_file": validation,
            "method": {"type": "dpo" if config.method == "dpo" else "supervised"},
            "tuitune": {
                "method": config.method,
                "settings": {k: v for k, v in config.settings.items() if k in JOB_SETTINGS},
                "adapter_name": config.adapter_name,
                "live_adapter": config.live_adapter,
                "reason": config.reason,
                "example_ids": config.example_ids,
                "counts": config.counts,
                "measure_behaviour": config.measure_behaviour,
                "delete_files": True,  # one run's rows: no use to anyone once its trainer has them
            },
        }
        return str(self._call("POST", "/v1/fine_tuning/jobs", json=body)["id"])

    def follow(self, job_id: str, since: int) -> tuple[list[dict[str, Any]], int]:
        """The run's events after sequence number `since`, as the trainer wrote them (the job's own last event as
        the terminal one: the adapter is loaded by then), and the new `since`."""
        # A long poll: answered at the job's next event, or after a second (so a closing app's follower leaves soon).
        query = {"since": since, "limit": 500, "wait": 1}
        page = self._call("GET", f"/v1/fine_tuning/jobs/{job_id}/events", params=query)
        events = []
        for item in page.get("data", []):
            since = max(since, int(item.get("seq", since)))
            data = item.get("data") or {}
            status = data.get("status")
            if status in FINAL:
                events.append(_terminal(status, item.get("message", ""), data))
            elif "event" in data and data["event"] not in ("done", "error", "cancelled"):
                events.append(data)
        return events, since

    def status(self, job_id: str) -> str:
        """The job's state; asked when an app opens, so a server out of reach costs seconds, not a minute."""
        return str(self._call("GET", f"/v1/fine_tuning/jobs/{job_id}", timeout=5.0)["status"])

    def cancel(self, job_id: str) -> None:
        try:
            self._call("POST", f"/v1/fine_tuning/jobs/{job_id}/cancel")
        except EngineError as exc:
            if "already" not in str(exc):
                raise

    def _upload(self, lines: list[dict[str, Any]], name: str) -> str:
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode("utf-8")
        files = {"file": (name, data, "application/jsonl")}
        return str(self._call("POST", "/v1/files", files=files, data={"purpose": "fine-tune"})["id"])

    def _call(self, method: str, path: str, timeout: float = 60.0, **kwargs: Any) -> dict[str, Any]:
        return self.engine.call(method, path, timeout=timeout, **kwargs)


def _terminal(status: str, message: str, data: dict[str, Any]) -> dict[str, Any]:
    if status == "succeeded":
        return {"event": "done", "adapter_path": data.get("adapter_path", ""),
                "adapter_name": data.get("adapter_name", ""), "metrics": data.get("metrics") or {}}  # fmt: skip
    if status == "cancelled":
        return {"event": "cancelled", "message": message}
    return {"event": "error", "message": message.removeprefix("The job failed: "), "suggestion": ""}
