"""The trainer out of disk (issue 19, item 7): saving the adapter onto a full filesystem ends the run with one line,
"the disk filled while saving the adapter; nothing was kept", leaves no partial folder, and points at no log.

A real 128 KB tmpfs is the full disk where this runs as root; a real LoRA model (a tiny random base, so the test
takes a second) writes its real safetensors onto it."""

from __future__ import annotations

import io
import json
import os
import subprocess

import pytest

DISK_FULL = "the disk filled while saving the adapter; nothing was kept"


@pytest.fixture
def full_adapters_dir(settings):
    folder = settings.adapters_dir
    folder.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k,mode=0700", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"no tmpfs here: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def _lora_model():
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    base = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=256, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=4))
    return get_peft_model(base, LoraConfig(r=64, target_modules=["q_proj", "v_proj"]))  # ~512 KB of LoRA weights


def _config(settings):
    from tuitune.training.config import RunConfig

    return RunConfig(run_id=1, run_dir=str(settings.home / "runs" / "1"), method="sft", adapter_name="full",
                     settings=settings.to_dict())


def test_a_full_disk_while_saving_ends_in_one_line_and_keeps_nothing(settings, full_adapters_dir, monkeypatch):
    from tuitune.training import trainer

    with pytest.raises(trainer.DiskFull) as failed:
        trainer._save(_config(settings), settings, _lora_model(), "tiny", "0" * 16, {})
    assert str(failed.value) == DISK_FULL
    assert os.listdir(full_adapters_dir) == []  # neither the adapter nor its temporary folder
    events = io.StringIO()
    monkeypatch.setattr(trainer, "_events", events, raising=False)
    assert trainer._failed(_config(settings), None, failed.value) == trainer.EXIT_FAILED
    (event,) = [json.loads(line) for line in events.getvalue().splitlines()]
    assert event["event"] == "error" and event["message"] == DISK_FULL and event["suggestion"] == ""


def test_only_disk_full_errors_are_told_as_such():
    import errno

    from tuitune.training.trainer import _is_disk_full

    assert _is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert _is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    wrapped = RuntimeError("Error while serializing")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert _is_disk_full(wrapped)
    assert not _is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not _is_disk_full(ValueError("shape mismatch"))
