"""A stand-in engine with the engine client's interface, for layout snapshots and for the tests that need exact
adversarial model text or a generation that blocks. Everything else runs the real model."""

from __future__ import annotations

import re
import threading

from tuitune.generation import Generation, GenerationStats
from tuitune.model import ModelInfo

_ACTIVE = object()


class ScriptedEngine:
    def __init__(self, replies: list[str] | None = None, gate: threading.Event | None = None) -> None:
        self.info = ModelInfo("scripted-model", "", "cpu", "4bit", 0, 2048)
        self.ready = True
        self.active_adapter: str | None = None
        self.loaded_adapters: dict[str, str] = {}
        self.replies = list(replies or ["Paris is the capital of France."])
        self.gate = gate  # when given, the answer waits after its first piece until the gate opens
        self.prompts: list[list[dict[str, str]]] = []

    def load(self, progress=lambda _: None) -> ModelInfo:
        return self.info

    def generate(self, messages, cancel=None, max_new_tokens=None, *, adapter=_ACTIVE, sampling=None) -> Generation:
        self.prompts.append(messages)
        text = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        cancel = cancel or threading.Event()
        stats = GenerationStats(prompt_tokens=12, adapter=self.active_adapter if adapter is _ACTIVE else adapter)
        return Generation(self._pieces(text, cancel, stats), stats)

    def _pieces(self, text: str, cancel: threading.Event, stats: GenerationStats):
        pieces = re.findall(r"\S+\s*|\s+", text) or [text]
        stats.ttft_s, stats.finish = 0.05, "eos"
        for index, piece in enumerate(pieces):
            if cancel.is_set():
                stats.finish = "cancelled"
                return
            if self.gate is not None and index == 1:
                while not self.gate.wait(0.01):  # the real engine checks its cancel flag once per token too
                    if cancel.is_set():
                        stats.finish = "cancelled"
                        return
            stats.new_tokens = index + 1
            stats.total_s = 0.05 + 0.04 * index
            yield piece
        stats.total_s = 0.05 + 0.04 * len(pieces)
