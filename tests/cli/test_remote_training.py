"""The TUI's machine and the model's machine apart, as two homes here: the "GPU box" home runs `tuitune serve`
with the model; the "laptop" home holds only the store and names the server with TUITUNE_ENGINE_URL (what an
`ssh -L /local.sock:/remote.sock` forward gives). From the laptop: import judgements, train (on the server, as a
job), lose the client mid-job (kill -9), find the run settled from the server, make the adapter live, chat with
it — and the laptop's processes never import torch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Runs the CLI, then notes whether torch was imported, whatever the exit.
RUN_CLI = (
    "import atexit, sys\n"
    "seen = sys.argv.pop(1)\n"
    "atexit.register(lambda: open(seen, 'a').write(str('torch' in sys.modules) + '\\n'))\n"
    "from tuitune.cli import main\n"
    "main()\n"
)


def test_a_laptop_home_trains_chats_and_swaps_through_the_gpu_box_server(tmp_path, model_cache):
    from tuitune.server import lifecycle
    from tuitune.store import Store

    box, laptop, torch_seen = tmp_path / "box", tmp_path / "laptop", tmp_path / "torch-seen"
    eval_dir = box / "eval"
    eval_dir.mkdir(parents=True)
    (eval_dir / "checks.jsonl").write_text(json.dumps({"question": "What is 2+2?", "answers": ["4"]}) + "\n")
    (eval_dir / "behaviour.jsonl").write_text(json.dumps({"prompt": "Name a colour.", "first_line": "^TL;DR"}) + "\n")
    base_env = {key: value for key, value in os.environ.items() if not key.startswith("TUITUNE_")}
    server_env = {**base_env, "HF_HUB_OFFLINE": "1", "TUITUNE_MODEL_CACHE": str(model_cache),
                  "TUITUNE_MODEL_QUANT": "none"}  # fmt: skip
    server = subprocess.Popen([sys.executable, "-m", "tuitune", "--home", str(box), "serve"], env=server_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    socket_path = box / "engine.sock"
    client_env = {**base_env, "HF_HUB_OFFLINE": "1", "TUITUNE_ENGINE_URL": f"unix:{socket_path}",
                  "PYTHONPATH": str(ROOT)}  # fmt: skip

    def laptop_cli(*args: str, wait: bool = True):
        argv = [sys.executable, "-c", RUN_CLI, str(torch_seen), "--home", str(laptop), *args]
        if not wait:
            return subprocess.Popen(argv, env=client_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return subprocess.run(argv, env=client_env, capture_output=True, text=True, timeout=600)

    try:
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, "the server ended"
            assert time.monotonic() < deadline, "the server was not ready"
            try:
                with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path))) as http:
                    if http.get("http://box/health").status_code == 200:
                        break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)

        imported = laptop_cli("import", str(ROOT / "sample_data" / "tldr_conversations.jsonl"))
        assert imported.returncode == 0, imported.stderr
        trainer = laptop_cli("train", "--max-steps", "2", wait=False)
        with Store.open(laptop / "tuitune.db") as store:
            deadline = time.monotonic() + 120
            while not (store.runs() and store.runs()[0].job_id):
                assert trainer.poll() is None, trainer.communicate()
                assert time.monotonic() < deadline, "no job was submitted"
                time.sleep(0.2)
            run = store.runs()[0]
        trainer.send_signal(signal.SIGKILL)  # the laptop's client goes away mid-job; the job goes on
        trainer.wait()

        deadline = time.monotonic() + 600
        while True:
            listing = laptop_cli("runs")
            assert listing.returncode == 0, listing.stderr
            if " done " in listing.stdout or "failed" in listing.stdout:
                break
            assert time.monotonic() < deadline, listing.stdout
            time.sleep(10)  # each look is a CLI process: few, so the training keeps the cores
        with Store.open(laptop / "tuitune.db") as store:
            settled = store.run(run.id)
            assert settled.status == "done", settled.error
            adapter = store.adapter_by_id(settled.adapter_id)
        assert Path(adapter.path).is_relative_to(box / "adapters")  # trained where the model is
        assert settled.metrics["agreement"]["n"] > 0 and "decision" in settled.metrics

        used = laptop_cli("adapters", "use", adapter.name)
        assert used.returncode == 0, used.stderr
        asked = laptop_cli("ask", "--max-new-tokens", "8", "Name a colour.")
        assert asked.returncode == 0 and asked.stdout.strip(), asked.stderr
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path))) as http:
            assert adapter.name in {m["id"] for m in http.get("http://box/v1/models").json()["data"]}
        assert not (laptop / "models").exists() and not (laptop / "adapters").exists()
        assert set(torch_seen.read_text().split()) == {"False"}  # every laptop process, the killed one aside
    finally:
        lifecycle.stop(lifecycle.EnginePaths(box))
        server.wait(30)
