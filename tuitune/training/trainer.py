"""The trainer process: `python -m tuitune.training --run-dir DIR`.

It loads its own 4-bit base, trains a LoRA adapter with trl, reports JSON lines on stdout, and renames a complete
adapter into place. It never runs inference before training: on CPUs with AVX512-BF16, bitsandbytes repacks 4-bit
weights at the first eval-mode forward without gradients, and a repacked model then learns nothing.

Under `accelerate launch` or `torchrun` every rank runs this; rank 0 alone reports, writes the store and saves.
A signal stops a rank at once, mid-step or mid-load, not at the next step's end: the handler raises where the
main thread is. Only saving and the store's last word are shielded from it.

Exit status: 0 done, 1 failed, 3 cancelled.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tuitune.errors import TuituneError
from tuitune.private import make_private, private_mkdir, private_write_text
from tuitune.training import ranks
from tuitune.training.config import FAIL_AT_STEP_ENV, FAIL_RANK_ENV, LOG_FILE, RunConfig, read_rows
from tuitune.training.ranks import is_main_process

EXIT_DONE, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 3
log = logging.getLogger("tuitune.training")


class Cancelled(Exception):
    """SIGTERM or SIGINT arrived: stop, save nothing."""


class TemplateMismatch(TuituneError, RuntimeError):
    """The trainer would format prompts differently from the engine that will chat with the adapter."""


class DiskFull(TuituneError):
    """The disk (or the user's quota) filled while the adapter was written; what was written is gone again."""

    def __init__(self) -> None:
        super().__init__("the disk filled while saving the adapter; nothing was kept")


def _is_disk_full(exc: BaseException | None) -> bool:
    """ENOSPC or EDQUOT, raised by Python, or worded by a library that wraps it (safetensors' SafetensorError)."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(words in str(exc) for words in ("No space left on device", "Disk quota exceeded")):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class Interrupts:
    """SIGTERM and SIGINT raise `Cancelled` in the main thread wherever it is (a long step, loading the model),
    except inside `shielded()`, which lets a write finish first and raises after it (unless told not to)."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.signal = 0
        self._shield = 0

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested.set()
        self.signal = signum
        if not self._shield:
            raise Cancelled()

    @contextmanager
    def shielded(self, then_raise: bool = True) -> Iterator[None]:
        self._shield += 1
        try:
            yield
        finally:
            self._shield -= 1
        if then_raise and not self._shield and self.requested.is_set():
            raise Cancelled()

    def settled(self) -> None:
        """The run's outcome is written: from now on a signal is only noted."""
        self._shield += 1


interrupts = Interrupts()
_events = sys.stdout


def own_stdout() -> None:
    """Keep stdout for events alone: whatever a library prints (transformers prints its log dicts) goes to stderr,
    which the launcher sends to train.log."""
    global _events
    sys.stdout.flush()
    _events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def emit(event: str, **fields: Any) -> None:
    if not is_main_process():
        return
    with interrupts.shielded():  # never half a line
        _events.write(json.dumps({"event": event, "time": round(time.time(), 3), **fields}) + "\n")
        _events.flush()


def memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def memory_now_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.memory_allocated() / 2**20
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _suggestion(exc: BaseException) -> str:
    text = f"{exc.__class__.__name__} {exc}".lower()
    if isinstance(exc, MemoryError) or "out of memory" in text or "outofmemory" in text:
        return (
            "out of memory: lower train.batch_size (raise train.grad_accum to keep the step size), "
            "train.max_length or lora.r"
        )
    if isinstance(exc, TemplateMismatch):
        return "train with the same model.template the chat uses"
    if isinstance(exc, DiskFull):
        return ""  # the one line says it all: nothing in the log would help
    return "see train.log in the run folder for the full traceback"


# ---- the parts of a run ------------------------------------------------------------------------------------
def _device(settings: Any) -> str:
    import torch

    from tuitune.model.loader import pick_device

    if "LOCAL_RANK" in os.environ and torch.cuda.is_available():
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return pick_device(settings.model.device)


def fsdp_enabled() -> bool:
    """`accelerate launch` with an FSDP config (`distributed_type: FSDP`) says so to its workers."""
    return os.environ.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true")


def _load_for_fsdp(source: Any) -> Any:
    """QLoRA under FSDP (peft's recipe): FSDP shards only floating-point tensors, so the packed 4-bit weights are
    stored as bf16 (the compute dtype) and the model is loaded in bf16; accelerate places and shards it."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
        bnb_4bit_quant_storage=torch.bfloat16,
    )
    return AutoModelForCausalLM.from_pretrained(
        source.path, quantization_config=quant, dtype=torch.bfloat16, trust_remote_code=False
    )


def _load(config: RunConfig, settings: Any):
    from tuitune.model.loader import load_base, load_tokenizer
    from tuitune.model.packing import allow_cpu_repack
    from tuitune.model.quiet import ignore_library_warnings, quiet_libraries
    from tuitune.model.source import resolve
    from tuitune.model.templates import choose_template, fingerprint

    quiet_libraries()
    ignore_library_warnings()  # the trainer's own process: the libraries' advisories stay out of its log
    source = resolve(settings.model.spec, settings.cache_dir)
    tokenizer = load_tokenizer(source)
    template = choose_template(tokenizer, settings.model.template, settings.prompts_dir)
    if config.template_fingerprint and fingerprint(template) != config.template_fingerprint:
        raise TemplateMismatch(
            f"the chat template or the tokenizer's encoding here ({fingerprint(template)}) differs from the "
            f"engine's ({config.template_fingerprint}); refusing to train an adapter the chat would feed other ids"
        )
    if config.base_model and source.name != config.base_model:
        raise TemplateMismatch(f"model.spec names {source.name}, the run was planned for {config.base_model}")
    if fsdp_enabled() and settings.model.quant == "4bit":
        model = _load_for_fsdp(source)
    else:
        model = load_base(source, settings.model.quant, _device(settings))
    allow_cpu_repack(model, False)  # belt and braces for the pitfall in the module docstring
    return source, tokenizer, model, fingerprint(template)


def steps_for(settings: Any, examples: int) -> int:
    """train.max_steps, or train.min_steps when train.epochs would make fewer optimizer steps than that: what
    teaches a small set is the number of updates (16 DPO pairs learned nothing in 16 steps and learned in 40).
    -1 lets the epochs decide."""
    t = settings.train
    if t.max_steps != -1:
        return t.max_steps
    per_epoch = math.ceil(math.ceil(max(examples, 1) / (t.batch_size * ranks.world_size())) / t.grad_accum)
    return t.min_steps if per_epoch * t.epochs < t.min_steps else -1


def _trainer_args(config: RunConfig, settings: Any, on_gpu: bool, examples: int) -> dict[str, Any]:
    t = settings.train
    return dict(
        output_dir=str(private_mkdir(config.folder / "checkpoints")),  # trl would make it with the umask's mode
        num_train_epochs=t.epochs,
        max_steps=steps_for(settings, examples),
        learning_rate=t.lr,
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        max_length=t.max_length,
        seed=t.seed,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="all",
        gradient_checkpointing=on_gpu,
        optim="paged_adamw_8bit" if on_gpu else "adamw_torch",
        bf16=on_gpu,
        use_cpu=not on_gpu,
        ddp_find_unused_parameters=False,  # every LoRA weight takes part in every step
        **({"gradient_checkpointing_kwargs": {"use_reentrant": True}} if on_gpu and fsdp_enabled() else {}),
    )


def _fit(rows: list[dict[str, Any]], tokenizer: Any, method: str, max_length: int) -> tuple[list[dict], int]:
    """Drop rows too long for max_length rather than let trl cut off their end (and with it the final EOS)."""
    from tuitune.model.templates import example_ids

    kept = []
    for row in rows:
        answers = [row[k] for k in ("completion", "chosen", "rejected") if k in row]
        longest = max(sum(map(len, example_ids(tokenizer, row["prompt"], answer))) for answer in answers)
        if longest <= max_length:
            kept.append({k: v for k, v in row.items() if k != "message_ids"})
    return kept, len(rows) - len(kept)


def make_trainer(config: RunConfig, settings: Any, model: Any, tokenizer: Any, rows: list[dict], callback: Any):
    import torch
    from datasets import Dataset
    from peft import LoraConfig, prepare_model_for_kbit_training

    from tuitune.training.tokens import exact

    on_gpu = torch.cuda.is_available() and str(model.device).startswith("cuda")
    if settings.model.quant != "none" and not fsdp_enabled():  # its fp32 upcasts would mix dtypes in FSDP's flat params
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=on_gpu)
    lora = LoraConfig(
        r=settings.lora.r,
        lora_alpha=settings.lora.alpha,
        lora_dropout=settings.lora.dropout,
        target_modules=settings.lora.target_modules(),
        task_type="CAUSAL_LM",
    )
    args = _trainer_args(config, settings, on_gpu, len(rows))
    dataset = Dataset.from_list(rows)
    common = dict(
        model=model, train_dataset=dataset, processing_class=tokenizer, peft_config=lora, callbacks=[callback]
    )
    if config.method == "sft":
        from trl import SFTConfig, SFTTrainer

        return exact(SFTTrainer)(args=SFTConfig(**args, completion_only_loss=True), **common)
    if config.method == "dpo":
        from trl import DPOConfig, DPOTrainer

        loss_types, weights = zip(*settings.train.dpo_losses(), strict=True)
        config_dpo = DPOConfig(**args, beta=settings.train.beta, loss_type=list(loss_types), loss_weights=list(weights))
        return exact(DPOTrainer)(args=config_dpo, **common)
    from trl import KTOConfig, KTOTrainer

    from tuitune.training.kto_sft import with_sft_term

    desirable, undesirable = kto_weights(rows)
    loss_type, sft_weight = settings.train.kto_losses()
    config_kto = KTOConfig(
        **args,
        beta=settings.train.beta,
        loss_type=loss_type,
        desirable_weight=desirable,
        undesirable_weight=undesirable,
    )
    return with_sft_term(exact(KTOTrainer), sft_weight)(args=config_kto, **common)


def kto_weights(rows: list[dict]) -> tuple[float, float]:
    """(desirable, undesirable) weights that make the scarcer label count as much as the other (the KTO paper
    keeps desirable_weight * good / (undesirable_weight * bad) within [1, 4/3]; trl warns outside it): thumbs
    are rarely balanced."""
    good = sum(1 for row in rows if row["label"])
    bad = len(rows) - good
    if not good or not bad:
        return 1.0, 1.0
    return (1.0, round(good / bad, 3)) if good >= bad else (round(bad / good, 3), 1.0)


def _measure(
    config: RunConfig, settings: Any, model: Any, tokenizer: Any, base_id: str, started: float
) -> dict[str, Any]:
    """What the adapter learned and whether it goes live: agreement with the held-out judgements
    (`tuitune.training.agreement`), the check questions and, where it is the user's, the behaviour set
    (`tuitune.training.measure`), and train.promote's decision (`tuitune.training.verdict`). A failure to measure is
    logged and noted, never the end of a trained adapter."""
    from tuitune.training.verdict import decide

    mode = settings.train.promote
    if not settings.train.measure or not is_main_process() or fsdp_enabled():
        if fsdp_enabled():
            log.info("not measuring: under FSDP every rank would have to take part in generating")
        why = "not measured (train.measure = false)" if not settings.train.measure else "not measured under FSDP"
        return {"decision": {"promote": mode != "never", "mode": mode, "reason": f"{why}; train.promote = {mode}"}}
    emit("phase", name="measure", t=round(time.perf_counter() - started, 3))
    figures = _agreement(config, settings, model, tokenizer)
    effect = _checks(config, settings, model, tokenizer, base_id)
    decision = decide(mode, figures, effect if "error" not in effect else None)
    log.info("measured: agreement %s; effect %s; decision %s", figures, effect, decision)
    return {"agreement": figures, "effect": effect, "decision": decision}


def _ticker(part: str):
    """`progress(done, total)` for one measuring part: a `measure` event with k of N and an ETA, twice a second."""
    began, last = time.perf_counter(), [0.0]

    def tick(done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - last[0] < 0.5:
            return
        last[0] = now
        eta = (now - began) / max(done, 1) * (total - done)
        emit("measure", part=part, done=done, total=total, eta_s=round(eta, 1))

    return tick


def _agreement(config: RunConfig, settings: Any, model: Any, tokenizer: Any) -> dict[str, Any]:
    from tuitune.training.agreement import score
    from tuitune.training.config import read_heldout

    units = read_heldout(config.folder)
    if not units:
        return {"n": 0, "enough": False, "agreement_s": 0.0}
    try:
        return score(
            model,
            tokenizer,
            units,
            config.live_adapter_path,
            settings.train.max_length,
            _ticker("agreement"),
            config.folder,
        )
    except Cancelled:
        raise
    except Exception as exc:  # the adapter is trained: keep it, say why there is no figure
        log.exception("scoring the held-out judgements failed")
        return {"n": len(units), "enough": False, "error": f"{exc.__class__.__name__}: {exc}"[:300]}


def _checks(config: RunConfig, settings: Any, model: Any, tokenizer: Any, base_id: str) -> dict[str, Any]:
    from tuitune.data import evalsets
    from tuitune.data.prompts import system_prompt_text
    from tuitune.training.measure import BASE_ANSWERS, measure

    try:
        sets = evalsets.load(settings.home)
        system = system_prompt_text(settings.generation.system_prompt, settings.prompts_dir)
        return measure(
            model,
            tokenizer,
            sets if config.measure_behaviour else sets.without_behaviour(),
            system,
            settings.generation.repetition_penalty,
            config.folder,
            base_id=base_id,
            cache=settings.runs_dir / BASE_ANSWERS,
            progress=_ticker("checks" if not config.measure_behaviour else "behaviour and checks"),
        )
    except Cancelled:
        raise
    except Exception as exc:  # the adapter is trained: keep it, say why there are no figures
        log.exception("measuring the adapter failed")
        return {"error": f"{exc.__class__.__name__}: {exc}"[:300]}


def _progress_callback(started: float):
    from transformers import TrainerCallback

    fail_at = int(os.environ.get(FAIL_AT_STEP_ENV, "0") or 0)
    fail_rank = os.environ.get(FAIL_RANK_ENV, "")
    if fail_rank and int(fail_rank) != ranks.rank():
        fail_at = 0

    class Progress(TrainerCallback):
        def __init__(self) -> None:
            self.train_start = 0.0
            self.last: dict[str, Any] = {}

        def on_train_begin(self, args, state, control, **kwargs):
            self.train_start = time.perf_counter()
            emit("phase", name="train", t=round(time.perf_counter() - started, 3), total=state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            if fail_at and state.global_step >= fail_at:
                raise RuntimeError(f"{FAIL_AT_STEP_ENV} made the trainer fail at step {state.global_step}")
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" not in logs:
                return
            elapsed = max(time.perf_counter() - self.train_start, 1e-9)
            steps_left = max(state.max_steps - state.global_step, 0)
            self.last = {k: v for k, v in logs.items() if isinstance(v, (int, float))}
            emit(
                "progress",
                step=state.global_step,
                total=state.max_steps,
                loss=round(float(logs["loss"]), 5),
                lr=float(logs.get("learning_rate", 0.0)),
                tokens_per_s=round(state.num_input_tokens_seen / elapsed, 1),
                eta_s=round(elapsed / max(state.global_step, 1) * steps_left, 1),
                memory_mb=round(memory_mb(), 1),
                extra={k: round(v, 5) for k, v in self.last.items() if k not in ("loss", "learning_rate")},
            )

    return Progress()


def _full_state_dict(trainer: Any) -> dict[str, Any] | None:
    """Under FSDP each rank holds a shard of the LoRA weights: every rank must take part in gathering them
    (rank 0 gets the whole); elsewhere the model saves its own."""
    if not getattr(trainer, "is_fsdp_enabled", False):
        return None
    trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    return trainer.accelerator.get_state_dict(trainer.model_wrapped)


def _save(
    config: RunConfig,
    settings: Any,
    model: Any,
    source_name: str,
    fingerprint: str,
    metrics: dict[str, Any],
    state_dict: dict[str, Any] | None = None,
) -> Path:
    """Write into a hidden temporary folder, then rename: the adapter folder exists only when complete."""
    private_mkdir(settings.adapters_dir)
    target = settings.adapters_dir / config.adapter_name
    if target.exists():
        raise FileExistsError(f"{target} exists already")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{config.adapter_name}-", dir=settings.adapters_dir))
    except OSError as exc:
        if _is_disk_full(exc):
            raise DiskFull() from None
        raise
    try:
        model.save_pretrained(str(tmp), safe_serialization=True, **({"state_dict": state_dict} if state_dict else {}))
        for stray in tmp.glob("*.bin"):
            stray.unlink()
        meta = {
            "base_model": source_name,
            "template_fingerprint": fingerprint,
            "method": config.method,
            "metrics": metrics,
            "example_ids": config.example_ids,
            "example_counts": config.counts,
            "run_id": config.run_id,
            "reason": config.reason,
            "training": {k: v for k, v in config.settings.items() if k.startswith(("train.", "lora.", "model."))},
        }
        private_write_text(tmp / "tuitune.json", json.dumps(meta, indent=2, ensure_ascii=False))
        make_private(tmp)
        os.rename(tmp, target)
    except Exception as exc:
        if _is_disk_full(exc):
            raise DiskFull() from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---- the whole run -----------------------------------------------------------------------------------------
def main(config: RunConfig) -> int:
    """Train one run to its end; every outcome is written to the store, the events and the log."""
    from tuitune.store import Store

    started = time.perf_counter()
    settings = config.run_settings()
    own_stdout()
    _log_to(config.folder / LOG_FILE)
    interrupts.install()
    store = None
    try:
        store = Store.open(settings.db_path) if is_main_process() and config.use_store else None
        return _train(config, settings, store, started)
    except Cancelled:
        with interrupts.shielded(then_raise=False):
            return _stopped(config, store)
    except BaseException as exc:  # a crash of any kind is a failed run with its reason, never a silent exit
        with interrupts.shielded(then_raise=False):
            return _failed(config, store, exc)
    finally:
        interrupts.settled()
        if store is not None:
            store.close()


def _train(config: RunConfig, settings: Any, store: Any, started: float) -> int:
    from tuitune.training import runs

    if store is not None:
        run = store.run(config.run_id)
        if run.status not in ("queued", "running"):
            raise RuntimeError(f"run {config.run_id} is {run.status} already")
        store.update_run(
            config.run_id,
            status="running",
            metrics={"world_size": ranks.world_size()},
            **({} if run.pid else {"pid": os.getpgrp()}),
        )
    if ranks.cancel_requested(config.folder):  # cancelled before this process started
        raise Cancelled()
    emit(
        "start",
        run_id=config.run_id,
        method=config.method,
        reason=config.reason,
        examples=config.counts.get("rows", 0),
        pid=os.getpid(),
        world_size=ranks.world_size(),
    )
    emit("phase", name="load", t=round(time.perf_counter() - started, 3))
    source, tokenizer, model, fingerprint = _load(config, settings)
    rows, dropped = _fit(read_rows(config.folder), tokenizer, config.method, settings.train.max_length)
    if not rows:
        raise ValueError(f"every example is longer than train.max_length ({settings.train.max_length} tokens)")
    if dropped:
        log.warning("left out %d examples longer than %d tokens", dropped, settings.train.max_length)
    emit(
        "phase",
        name="prepare",
        t=round(time.perf_counter() - started, 3),
        rows=len(rows),
        dropped=dropped,
        loaded_memory_mb=round(memory_now_mb(), 1),
        footprint_mb=round(model.get_memory_footprint() / 2**20, 1),
    )
    callback = _progress_callback(started)
    trainer = make_trainer(config, settings, model, tokenizer, rows, callback)
    output = trainer.train()
    train_s = time.perf_counter() - callback.train_start
    measured = _measure(
        config, settings, trainer.model, tokenizer, f"{source.path}|{settings.model.quant}|{fingerprint}", started
    )
    wrapped = type(trainer.model_wrapped).__name__
    log.info("trained %s as %s on %d process(es)", config.method, wrapped, ranks.world_size())
    if fsdp_enabled() and not getattr(trainer, "is_fsdp_enabled", False):
        log.warning("an FSDP config was given, but accelerate trained as %s (on a CPU it does not shard)", wrapped)
    with interrupts.shielded(then_raise=False):  # a cancel from here on comes too late: the adapter is complete
        emit("phase", name="save", t=round(time.perf_counter() - started, 3))
        metrics = {
            "train_loss": round(float(output.training_loss), 5),
            "final_loss": callback.last.get("loss"),
            "steps": int(trainer.state.global_step),
            "train_s": round(train_s, 2),
            "tokens_per_s": round(trainer.state.num_input_tokens_seen / max(train_s, 1e-9), 1),
            "peak_memory_mb": round(memory_mb(), 1),
            "examples": len(rows),
            "dropped": dropped,
            "world_size": ranks.world_size(),
            **{k: v for k, v in callback.last.items() if k.startswith(("rewards/", "kl"))},
            **measured,
        }
        state_dict = _full_state_dict(trainer)
        if not is_main_process():
            return EXIT_DONE
        path = _save(config, settings, trainer.model, source.name, fingerprint, metrics, state_dict)
        if store is not None:
            runs.settle(
                store,
                config.run_id,
                {"event": "done", "adapter_path": str(path), "adapter_name": config.adapter_name, "metrics": metrics},
                config,
            )
        emit(
            "done",
            adapter_path=str(path),
            adapter_name=config.adapter_name,
            metrics=metrics,
            t=round(time.perf_counter() - started, 3),
        )
        return EXIT_DONE


def _stopped(config: RunConfig, store: Any) -> int:
    """A signal stopped this rank: a cancel (asked for, or any signal to a single process), or, in a run of
    several processes, the launcher stopping the survivors of a rank that failed."""
    from tuitune.training import runs

    cause = ranks.failure_summary(config.folder, besides=ranks.rank())
    cancelled = not cause and (
        ranks.cancel_requested(config.folder) or interrupts.signal == signal.SIGINT or ranks.world_size() == 1
    )
    if cancelled:
        event = {"event": "cancelled", "message": "cancelled; no adapter was saved"}
    else:
        event = {
            "event": "error",
            "suggestion": "see train.log in the run folder",
            "message": cause
            or f"rank {ranks.rank()} was stopped by its launcher (signal "
            f"{interrupts.signal}) without a cancel: another process of the run ended",
        }
    log.warning("stopped by signal %s: %s", interrupts.signal, event["message"])
    if store is not None:
        runs.settle(store, config.run_id, event, config)
    emit(event["event"], **{k: v for k, v in event.items() if k != "event"})
    return EXIT_CANCELLED if cancelled else EXIT_FAILED


def _failed(config: RunConfig, store: Any, exc: BaseException) -> int:
    from tuitune.training import runs

    log.error("training failed on rank %d:\n%s", ranks.rank(), traceback.format_exc())
    message = f"{exc.__class__.__name__}: {exc}".strip().splitlines()[0][:400]
    if isinstance(exc, DiskFull):
        message = str(exc)
    if not is_main_process():
        ranks.record_failure(config.folder, message)
    # Another rank's failure is usually why this one failed too (a collective lost its peer): report the first.
    cause = ranks.failure_summary(config.folder, besides=ranks.rank())
    event = {"event": "error", "message": cause or message, "suggestion": _suggestion(exc)}
    if store is not None:
        runs.settle(store, config.run_id, event, config)
    emit("error", message=event["message"], suggestion=event["suggestion"])
    return EXIT_FAILED


def _log_to(path: Path) -> None:
    handler = logging.FileHandler(path, encoding="utf-8")
    where = f" rank {ranks.rank()}" if ranks.world_size() > 1 else ""
    handler.setFormatter(logging.Formatter(f"%(asctime)s{where} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
