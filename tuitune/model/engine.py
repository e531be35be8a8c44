"""The engine: one loaded base model, streaming generation with cancel, and LoRA adapters swapped in place.

Generation is a plain generator of text pieces; it knows nothing about any UI. One lock serialises generation and
adapter swaps, so an adapter never changes under an answer in flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

from tuitune.config import Settings
from tuitune.errors import TuituneError
from tuitune.generation import Generation, GenerationStats, Sampling
from tuitune.model import adapters as adapter_files
from tuitune.model.loader import ModelInfo, load
from tuitune.model.packing import weights_stay_packed
from tuitune.model.quiet import quiet_warnings
from tuitune.model.templates import choose_template, fingerprint, fit_messages


class EngineError(TuituneError, RuntimeError):
    """A request the engine refuses; the message is for the user."""


_ACTIVE = object()  # generate(adapter=...) default: whatever adapter is active


class Engine:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.model: Any = None
        self.tokenizer: Any = None
        self.info: ModelInfo | None = None
        self.template_fingerprint = ""
        self.active_adapter: str | None = None
        self.loaded_adapters: dict[str, str] = {}  # name -> folder
        self._lock = threading.RLock()

    # ---- loading -------------------------------------------------------------------------------------------
    def load(self, progress: Callable[[str], None] = lambda _: None) -> ModelInfo:
        model, tokenizer, info = load(self.settings.model, self.settings.cache_dir, progress)
        template = choose_template(tokenizer, self.settings.model.template, self.settings.prompts_dir)
        with self._lock:
            self.model, self.tokenizer, self.info = model, tokenizer, info
            self.template_fingerprint = fingerprint(template)
        return info

    @property
    def ready(self) -> bool:
        return self.model is not None

    def _require(self) -> None:
        if self.model is None:
            raise EngineError("the model is not loaded yet")

    # ---- generation ----------------------------------------------------------------------------------------
    def context_budget(self, max_new_tokens: int) -> int:
        window = self.settings.generation.context_window or (self.info.context_window if self.info else 2048)
        return window - max_new_tokens

    def generate(
        self,
        messages: list[dict[str, str]],
        cancel: threading.Event | None = None,
        max_new_tokens: int | None = None,
        *,
        adapter: Any = _ACTIVE,
        sampling: Sampling | None = None,
    ) -> Generation:
        """Fit the conversation to the context window now (errors surface here), then stream lazily.

        `adapter` names the loaded adapter to answer with (None: the base); it is applied under the engine lock,
        so the answer is written by exactly that adapter whatever other requests switch in between."""
        self._require()
        sampling = sampling or Sampling()
        budget = max_new_tokens or sampling.max_new_tokens or self.settings.generation.max_new_tokens
        if not messages or messages[-1]["role"] != "user":
            raise EngineError("a generation needs a conversation that ends with a user turn")
        if not messages[-1]["content"].strip():
            raise EngineError("the prompt is empty")
        name = self.active_adapter if adapter is _ACTIVE else adapter
        self._require_adapter(name)
        fitted = fit_messages(self.tokenizer, messages, self.context_budget(budget))
        stats = GenerationStats(prompt_tokens=len(fitted.input_ids), dropped_turns=fitted.dropped_turns, adapter=name)
        pieces = self._stream(fitted.input_ids, budget, cancel or threading.Event(), stats, sampling)
        return Generation(_cut_at_stop(pieces, sampling.stop, stats) if sampling.stop else pieces, stats)

    def _require_adapter(self, name: str | None) -> None:
        if name is not None and name not in self.loaded_adapters:
            raise EngineError(f"adapter {name!r} is not loaded")

    def _stream(
        self, prompt: list[int], budget: int, cancel: threading.Event, stats: GenerationStats, sampling: Sampling
    ):
        import torch

        temperature = self._pick(sampling.temperature, "temperature")
        processors = self._logits_processors(sampling)
        stop_ids = self._stop_ids()
        with self._lock, torch.inference_mode():
            self._require_adapter(stats.adapter)  # it may have been unloaded while this request waited
            with self._adapter_context(stats.adapter):
                yield from self._decode(prompt, budget, cancel, stats, temperature, processors, stop_ids, sampling.seed)

    def _decode(self, prompt, budget, cancel, stats, temperature, processors, stop_ids, seed):
        import torch
        from transformers import DynamicCache

        if cancel.is_set():  # the client left while this request queued for the engine
            stats.finish = "cancelled"
            return
        start = time.perf_counter()
        device = self.model.device
        rng = torch.Generator(device=device).manual_seed(seed) if seed is not None and temperature > 0 else None
        ids = torch.tensor([prompt], device=device)
        cache = DynamicCache()
        new: list[int] = []
        prefix_at = read_at = 0
        stats.finish = "length"
        logits = self.model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1).logits[:, -1, :]
        while len(new) < budget:
            if cancel.is_set():
                stats.finish = "cancelled"
                break
            if processors:
                context = torch.tensor([prompt + new], device=device)
                logits = processors(context, logits.float())
            if temperature > 0:
                probs = torch.softmax(logits.float(), dim=-1)
                token = int(torch.multinomial(probs, 1, generator=rng)[0, 0])
            else:
                token = int(logits.argmax(dim=-1)[0])
            if not new:
                stats.ttft_s = time.perf_counter() - start
            if token in stop_ids:
                stats.finish = "eos"
                break
            new.append(token)
            piece, prefix_at, read_at = self._decode_tail(new, prefix_at, read_at)
            if piece:
                stats.new_tokens, stats.total_s = len(new), time.perf_counter() - start
                yield piece
            if len(new) >= budget or cancel.is_set():
                continue
            step = torch.tensor([[token]], device=device)
            logits = self.model(input_ids=step, cache=cache, use_cache=True).logits[:, -1, :]
        stats.new_tokens, stats.total_s = len(new), time.perf_counter() - start
        if cancel.is_set():
            stats.finish = "cancelled"

    def _pick(self, value: Any, name: str) -> Any:
        return getattr(self.settings.generation, name) if value is None else value

    def _decode_tail(self, tokens: list[int], prefix_at: int, read_at: int) -> tuple[str, int, int]:
        """Decode only the newest tokens, with a little context before them so spacing comes out right.

        Decoding the whole answer at every token grows with its length and holds the GIL the UI needs. A multi-byte
        character may span tokens: hold back while the text ends in a replacement character.
        """
        decode = self.tokenizer.decode
        before = decode(tokens[prefix_at:read_at], skip_special_tokens=True)
        after = decode(tokens[prefix_at:], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith("\ufffd"):
            return after[len(before) :], read_at, len(tokens)
        return "", prefix_at, read_at

    def _logits_processors(self, sampling: Sampling):
        from transformers import (
            LogitsProcessorList,
            RepetitionPenaltyLogitsProcessor,
            TemperatureLogitsWarper,
            TopPLogitsWarper,
        )

        penalty = self._pick(sampling.repetition_penalty, "repetition_penalty")
        temperature = self._pick(sampling.temperature, "temperature")
        top_p = self._pick(sampling.top_p, "top_p")
        processors = LogitsProcessorList()
        if penalty and penalty != 1.0:
            processors.append(RepetitionPenaltyLogitsProcessor(penalty))
        if temperature > 0:
            processors.append(TemperatureLogitsWarper(temperature))
            if top_p < 1.0:
                processors.append(TopPLogitsWarper(top_p))
        return processors

    def _stop_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        ids.update(configured if isinstance(configured, list) else [configured])
        return {int(i) for i in ids if i is not None}

    def _adapter_context(self, name: str | None):
        from contextlib import nullcontext

        if name is None:
            return self.model.disable_adapter() if hasattr(self.model, "disable_adapter") else nullcontext()
        if self.model.active_adapter != name:
            self.model.set_adapter(name)
        return nullcontext()

    # ---- adapters ------------------------------------------------------------------------------------------
    def load_adapter(self, name: str, folder: str, activate: bool = True) -> float:
        """Load (and by default activate) an adapter into the running base; returns the seconds the swap took."""
        self._require()
        start = time.perf_counter()
        with self._lock:
            check = adapter_files.validate(folder, self.model, self.info.name if self.info else None)
            if check.metadata.get("template_fingerprint") not in (None, self.template_fingerprint):
                raise adapter_files.AdapterError(
                    f"{folder}: trained with another chat template than the one this model chats with"
                )
            if name in self.loaded_adapters:
                self.unload_adapter(name)
            self._peft_load(name, str(check.path))
            self.loaded_adapters[name] = str(check.path)
            if activate:
                self._activate(name)
        return time.perf_counter() - start

    def _peft_load(self, name: str, folder: str) -> None:
        from peft import PeftModel

        previous = self.active_adapter
        try:
            with weights_stay_packed(), quiet_warnings():
                if isinstance(self.model, PeftModel):
                    self.model.load_adapter(folder, adapter_name=name, is_trainable=False)
                else:
                    self.model = PeftModel.from_pretrained(self.model, folder, adapter_name=name, is_trainable=False)
                    self.model.eval()
        except Exception as exc:
            if isinstance(self.model, PeftModel) and name in self.model.peft_config:
                self.model.delete_adapter(name)
            raise adapter_files.AdapterError(f"{folder}: peft could not load it ({exc})") from None
        finally:
            self._activate(previous)

    def activate(self, name: str | None) -> float:
        """Make `name` the active adapter, or None for the base; returns seconds taken."""
        start = time.perf_counter()
        with self._lock:
            if name is not None and name not in self.loaded_adapters:
                raise EngineError(f"adapter {name!r} is not loaded")
            self._activate(name)
        return time.perf_counter() - start

    def _activate(self, name: str | None) -> None:
        if name is not None:
            self.model.set_adapter(name)
        self.active_adapter = name

    def unload_adapter(self, name: str) -> None:
        with self._lock:
            if name not in self.loaded_adapters:
                return
            if self.active_adapter == name:
                self._activate(None)
            remaining = [other for other in self.loaded_adapters if other != name]
            if remaining and self.model.active_adapter == name:
                self.model.set_adapter(remaining[0])
            if remaining:
                self.model.delete_adapter(name)
            else:
                # peft keeps one adapter at least; unwrap to the bare base instead.
                self.model = self.model.unload()
            del self.loaded_adapters[name]


def _cut_at_stop(pieces: Generator[str, None, None], stops: tuple[str, ...], stats: GenerationStats) -> Iterator[str]:
    """Pass pieces through until a stop string appears; text that might begin a stop string is held back until
    the next piece decides. Closing the inner generator ends the decode, so the compute stops too."""
    held = ""
    longest = max(len(stop) for stop in stops)
    try:
        for piece in pieces:
            held += piece
            hits = [held.index(stop) for stop in stops if stop in held]
            if hits:
                stats.finish = "stop"
                if held[: min(hits)]:
                    yield held[: min(hits)]
                return
            keep = next(
                (
                    n
                    for n in range(min(longest - 1, len(held)), 0, -1)
                    if any(stop.startswith(held[-n:]) for stop in stops)
                ),
                0,
            )
            if len(held) > keep:
                yield held[: len(held) - keep]
                held = held[len(held) - keep :]
        if held:
            yield held
    finally:
        pieces.close()
