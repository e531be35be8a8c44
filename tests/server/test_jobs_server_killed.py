"""An engine server killed (kill -9) mid-job: its trainer stops too (no orphan keeps the GPU), the restarted server
reports the job failed with the reason, no adapter of it is listed, and the next job runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from finetune_data import dpo_pairs, jsonl

from tuitune.training.runs import pid_alive

pytestmark = pytest.mark.slow

PAIRS = dpo_pairs(4)


def _serve(home: Path, model_cache: Path) -> tuple[subprocess.Popen, httpx.Client]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TUITUNE_MODEL_CACHE": str(model_cache), "TUITUNE_MODEL_QUANT": "none"}
    server = subprocess.Popen([sys.executable, "-m", "tuitune", "--home", str(home), "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    http = httpx.Client(base_url="http://box", transport=httpx.HTTPTransport(uds=str(home / "engine.sock")))
    deadline = time.monotonic() + 300
    while True:
        assert server.poll() is None and time.monotonic() < deadline, "the server did not come up"
        try:
            if http.get("/health").status_code == 200:
                return server, http
        except httpx.HTTPError:
            pass
        time.sleep(0.5)


def _job(http: httpx.Client) -> dict:
    upload = http.post("/v1/files", files={"file": ("p.jsonl", jsonl(PAIRS))},
                       data={"purpose": "fine-tune"})  # fmt: skip
    body = {"model": "base", "training_file": upload.json()["id"], "method": {"type": "dpo"},
            "tuitune": {"settings": {"train.max_steps": 2, "train.min_steps": 1, "train.measure": False}}}  # fmt: skip
    return http.post("/v1/fine_tuning/jobs", json=body).json()


def _until(http: httpx.Client, job_id: str, check, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1/fine_tuning/jobs/{job_id}").json()
        if check(job):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id}: {job['status']}")


def test_a_server_killed_mid_job_takes_its_trainer_and_the_next_server_reports_it(tmp_path, model_cache):
    from tuitune.server import lifecycle

    home = tmp_path / "box"
    server, http = _serve(home, model_cache)
    try:
        job = _job(http)
        running = _until(http, job["id"], lambda j: j["status"] == "running" and j["tuitune"].get("pid"))
        trainer = running["tuitune"]["pid"]
        time.sleep(2)
        server.send_signal(signal.SIGKILL)
        server.wait()
        deadline = time.monotonic() + 30
        while pid_alive(trainer):  # SIGTERM reached it when the server died: it cancels itself
            assert time.monotonic() < deadline, "the trainer outlived its server"
            time.sleep(0.2)
        http.close()

        server, http = _serve(home, model_cache)
        failed = http.get(f"/v1/fine_tuning/jobs/{job['id']}").json()
        assert failed["status"] == "failed" and "engine server stopped" in failed["error"]["message"]
        name = failed["tuitune"]["adapter_name"]
        assert name not in {m["id"] for m in http.get("/v1/models").json()["data"]}
        assert not list((home / "adapters").glob(f"*{name}*")) if (home / "adapters").exists() else True

        following = _job(http)
        done = _until(http, following["id"], lambda j: j["status"] in ("succeeded", "failed", "cancelled"), 300)
        assert done["status"] == "succeeded", done["error"]
        assert done["fine_tuned_model"] in {m["id"] for m in http.get("/v1/models").json()["data"]}
    finally:
        http.close()
        lifecycle.stop(lifecycle.EnginePaths(home))
        server.wait(30)
