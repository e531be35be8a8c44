"""Fine-tuning through the engine server with OpenAI's API, driven by the official `openai` client: upload, a DPO
job on the real model (its trainer a real process), its events, chat with the result, cancel, the queue; a trainer
killed mid-job; and hostile uploads and job requests, each refused in OpenAI's error shape, leaving nothing."""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
import httpx2
import openai
import pytest
from finetune_data import dpo_pairs, jsonl

pytestmark = pytest.mark.slow

PAIRS = dpo_pairs(6)
FAST = {"settings": {"train.max_steps": 2, "train.min_steps": 1}}  # tuitune's extension field


@pytest.fixture(scope="module")
def jobs_server(engine, model_cache, tmp_path_factory):
    """The session's model behind the real HTTP server, running jobs in its own home; its trainers load the base
    unquantized (the same code path, and minutes faster on a CPU without AVX512) and measure on two checks."""
    from tuitune.config import load_settings
    from tuitune.data import evalsets
    from tuitune.server.serve import ThreadedServer

    home = tmp_path_factory.mktemp("jobs-home")
    settings = load_settings(home, {"model.cache_dir": str(model_cache), "model.quant": "none"})
    folder = evalsets.eval_dir(home)
    folder.mkdir(parents=True)
    (folder / "checks.jsonl").write_text(
        json.dumps({"question": "What is the capital of France?", "answers": ["Paris"]}) + "\n", encoding="utf-8"
    )
    server = ThreadedServer(engine, tmp_path_factory.mktemp("jobs-srv") / "engine.sock", jobs_settings=settings)
    server.start()
    yield server, settings
    server.stop()
    for name in list(engine.loaded_adapters):
        engine.unload_adapter(name)
    engine.activate(None)


@pytest.fixture
def api(jobs_server):
    server, _ = jobs_server
    http = httpx2.Client(transport=httpx2.HTTPTransport(uds=server.url[len("unix:") :]))
    client = openai.OpenAI(base_url="http://tuitune/v1", api_key="unused", http_client=http, max_retries=0)
    yield client
    client.close()


@pytest.fixture
def raw(jobs_server):
    server, _ = jobs_server
    with httpx.Client(base_url="http://tuitune", transport=httpx.HTTPTransport(uds=server.url[5:])) as client:
        yield client


def _wait(api, job_id: str, until, timeout: float = 600.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.fine_tuning.jobs.retrieve(job_id)
        if until(job):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} is still {job.status}")


def _ended(job) -> bool:
    return job.status in ("succeeded", "failed", "cancelled")


def test_the_openai_client_fine_tunes_follows_chats_and_cancels(api, raw, jobs_server):
    _, settings = jobs_server
    base = next(m.id for m in api.models.list().data if getattr(m, "parent", None) is None)
    training = api.files.create(file=("pairs.jsonl", jsonl(PAIRS)), purpose="fine-tune")
    assert training.status == "processed" and training.bytes > 0
    job = api.fine_tuning.jobs.create(
        model=base,
        training_file=training.id,
        validation_file=training.id,  # the held-out judgements the new adapter is measured on
        suffix="tldr",
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1, "n_epochs": 1}}},
        extra_body={"tuitune": FAST},
    )
    second = api.fine_tuning.jobs.create(model=base, training_file=training.id, method={"type": "dpo"})
    assert job.status == "queued" and second.status == "queued"
    running = _wait(api, job.id, lambda j: j.status == "running" or _ended(j))
    assert running.status == "running"
    status = raw.get("/v1/status").json()
    assert status["jobs"]["running"]["id"] == job.id and second.id in status["jobs"]["queued"]
    assert status["device_memory"]["kind"] in ("cuda", "rss") and status["device_memory"]["used_mb"] > 0
    listed = {j.id: j.status for j in api.fine_tuning.jobs.list().data}
    assert listed[second.id] == "queued"
    assert api.fine_tuning.jobs.cancel(second.id).status == "cancelled"  # a queued job ends at once

    done = _wait(api, job.id, _ended)
    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model.startswith("ft-tldr-") and done.trained_tokens > 0
    events = list(reversed(api.fine_tuning.jobs.list_events(job.id, limit=200).data))
    messages = [e.message for e in events]
    assert messages[0].startswith("Created fine-tuning job") and messages[-1].startswith("The job has successfully")
    steps = [e for e in events if e.type == "metrics"]
    assert [e.data["step"] for e in steps] == [1, 2] and all(e.data["train_loss"] > 0 for e in steps)
    assert any(m.startswith("Measuring agreement") for m in messages)
    assert any(m.startswith("Trained; decision:") for m in messages)  # train.promote's decision, with its reason
    page = api.fine_tuning.jobs.list_events(job.id, limit=2)
    assert len(page.data) == 2 and page.has_more and page.data[0].message == messages[-1]  # newest first

    assert done.fine_tuned_model in {m.id for m in api.models.list().data}
    answer = api.chat.completions.create(
        model=done.fine_tuned_model, messages=[{"role": "user", "content": "Tell me about topic 9."}], max_tokens=8
    )
    assert answer.model == done.fine_tuned_model and answer.choices[0].message.content
    assert (settings.adapters_dir / done.fine_tuned_model / "adapter_model.safetensors").is_file()
    with pytest.raises(openai.BadRequestError):
        api.fine_tuning.jobs.cancel(job.id)  # over already


def test_a_killed_trainer_fails_its_job_and_the_next_job_runs(api, jobs_server):
    _, settings = jobs_server
    training = api.files.create(file=("pairs.jsonl", jsonl(PAIRS)), purpose="fine-tune")
    first = api.fine_tuning.jobs.create(model="base", training_file=training.id, method={"type": "dpo"},
                                        extra_body={"tuitune": FAST})  # fmt: skip
    second = api.fine_tuning.jobs.create(model="base", training_file=training.id, method={"type": "dpo"},
                                         extra_body={"tuitune": FAST})  # fmt: skip
    running = _wait(api, first.id, lambda j: j.status == "running" and j.model_extra["tuitune"].get("pid"))
    time.sleep(3)  # mid-load
    os.killpg(running.model_extra["tuitune"]["pid"], signal.SIGKILL)
    failed = _wait(api, first.id, _ended, timeout=60)
    assert failed.status == "failed" and "killed by signal 9" in failed.error.message
    assert failed.fine_tuned_model is None
    name = failed.model_extra["tuitune"]["adapter_name"]
    assert not [p for p in settings.adapters_dir.glob(f"*{name}*")] if settings.adapters_dir.exists() else True

    _wait(api, second.id, lambda j: j.status == "running" or _ended(j), timeout=60)  # the queue moves on
    api.fine_tuning.jobs.cancel(second.id)
    cancelled = _wait(api, second.id, _ended, timeout=120)
    assert cancelled.status == "cancelled" and cancelled.fine_tuned_model is None
    assert cancelled.model_extra["tuitune"]["adapter_name"] not in {m.id for m in api.models.list().data}


def _refused(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"} and error["message"]
    return error["message"]


def test_hostile_uploads_and_job_requests_are_refused_and_leave_nothing(raw, jobs_server, monkeypatch):
    from tuitune.server import finetune_files, jobs_api

    _, settings = jobs_server
    files = settings.home / "jobs" / "files"
    before = sorted(files.iterdir()) if files.exists() else []
    jobs_before = sorted((settings.home / "jobs").glob("ftjob-*"))

    def upload(content: bytes, name: str = "x.jsonl", purpose: str = "fine-tune") -> httpx.Response:
        return raw.post("/v1/files", files={"file": (name, content)}, data={"purpose": purpose})

    _refused(upload(b"[" * 100_000 + b"]" * 100_000))  # nesting past the parser
    monkeypatch.setattr(finetune_files, "MAX_FILE_BYTES", 4096)
    monkeypatch.setattr(jobs_api, "_UPLOAD_LIMIT", 8192)
    assert "over" in _refused(upload(jsonl(PAIRS * 40)), 413)  # huge (as far as this server is told)
    assert "line 2" in _refused(upload(jsonl(PAIRS[:1]) + b"{not json\n"))  # malformed
    assert "UTF-8" in _refused(upload(b"\x89PNG\r\n\x1a\n\x00\x00"))  # another format: binary
    _refused(upload(b"prompt,chosen,rejected\nhi,a,b\n"))  # another format: CSV
    _refused(upload(b""))  # empty
    _refused(upload(jsonl([{"messages": [{"role": "user", "content": "no answer"}]}])))
    _refused(upload(jsonl(PAIRS), purpose="assistants"))
    _refused(raw.post("/v1/files", content=b"--x\r\nnonsense", headers={"content-type": "multipart/form-data"}))
    _refused(raw.post("/v1/files", json={"file": "x"}))
    assert (sorted(files.iterdir()) if files.exists() else []) == before  # nothing stayed behind

    good = upload(jsonl(PAIRS), name="../../../etc/passwd")
    assert good.status_code == 200 and good.json()["filename"] == "passwd"
    file_id = good.json()["id"]
    assert (files / f"{file_id}.jsonl").is_file() and not (settings.home / "etc").exists()
    sft = upload(jsonl([{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}]))

    def create(**body) -> httpx.Response:
        return raw.post("/v1/fine_tuning/jobs", json={"model": "base", "training_file": file_id, **body})

    for suffix in ("../../escape", "a/b", ".hidden", "x" * 41, 7):
        assert "suffix" in _refused(create(suffix=suffix, method={"type": "dpo"}))
    lone = b'{"model": "base", "training_file": "%s", "suffix": "\\ud800", "method": {"type": "dpo"}}' % file_id.encode()
    assert "suffix" in _refused(raw.post("/v1/fine_tuning/jobs", content=lone))
    _refused(create(method={"type": "dpo"}, tuitune={"adapter_name": "../up"}))
    _refused(create(method={"type": "dpo"}, tuitune={"settings": {"train.launcher": "rm -rf /"}}))  # never a command
    _refused(create(method={"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 10**30}}}))
    nan = b'{"model": "base", "training_file": "%s", "method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": NaN}}}}'
    assert "beta" in _refused(raw.post("/v1/fine_tuning/jobs", content=nan % file_id.encode()))
    _refused(create(method={"type": "reinforcement"}))
    _refused(create())  # supervised on a file of pairs
    _refused(create(method={"type": "dpo"}, model="gpt-4o-mini"))
    _refused(create(method={"type": "dpo"}, training_file="file-nope"), 404)
    _refused(create(method={"type": "dpo"}, training_file="../../tuitune.db"), 404)
    _refused(create(method={"type": "dpo"}, validation_file=sft.json()["id"]))
    _refused(raw.get("/v1/fine_tuning/jobs/ftjob-../../x"), 404)
    _refused(raw.get("/v1/fine_tuning/jobs/ftjob-abc/events", params={"limit": "0"}))
    assert sorted((settings.home / "jobs").glob("ftjob-*")) == jobs_before  # no job was created
    assert raw.delete(f"/v1/files/{file_id}").json()["deleted"] is True
    assert not (files / f"{file_id}.jsonl").exists()
