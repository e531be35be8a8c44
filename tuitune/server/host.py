"""The engine as the server holds it: loading in the background, which names it answers to, and how busy it is."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from tuitune.generation import BASE
from tuitune.server.protocol import ApiError, model_card


class EngineHost:
    """One Engine (tuitune.model.Engine, or anything with its interface) plus what the HTTP layer asks of it."""

    def __init__(self, engine: Any, address: str = "") -> None:
        self.engine = engine
        self.address = address
        self.started = time.time()
        self.progress = "starting"
        self.error = ""
        self.served = 0
        self._in_flight = 0
        self._last_used = time.monotonic()
        self._count = threading.Lock()
        self.jobs: Any = None  # tuitune.server.jobs.Jobs, where this server runs fine-tuning jobs

    # ---- loading -------------------------------------------------------------------------------------------
    def load(self) -> None:
        """Load the model (blocking); the server answers /health with the progress meanwhile."""
        try:
            if not self.engine.ready:
                self.engine.load(progress=self._note)
                self._note("warming up")
                # The first forward repacks 4-bit weights on some CPUs; pay it here, not in the user's first answer.
                self.engine.generate([{"role": "user", "content": "Hi"}], max_new_tokens=1).text()
            with self._count:
                self._last_used = time.monotonic()  # idle time counts from ready, not from the start
            self.progress = "ready"
        except Exception as exc:  # the server stays up to say why; /health reports it
            self.error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            self.progress = "failed"
            with self._count:
                self._last_used = time.monotonic()

    def _note(self, text: str) -> None:
        self.progress = text

    def require_ready(self) -> Any:
        if self.error:
            raise ApiError(500, f"the model could not be loaded: {self.error}")
        if not self.engine.ready:
            raise ApiError(503, f"the model is loading ({self.progress})")
        return self.engine

    # ---- names ---------------------------------------------------------------------------------------------
    @property
    def base_id(self) -> str:
        info = self.engine.info
        return info.name if info else ""

    def adapter_for(self, model: str) -> str | None:
        """The adapter a request's `model` names; None for the base (its name, or BASE)."""
        if model in (self.base_id, BASE):
            return None
        if model in self.engine.loaded_adapters:
            return model
        raise ApiError(404, f"The model `{model}` does not exist.", "model")

    def models(self) -> list[dict[str, Any]]:
        engine = self.require_ready()
        info = engine.info
        cards = [model_card(info.name, info.path, None, info.context_window, self.started)]
        cards += [
            model_card(name, path, info.name, info.context_window, self.started)
            for name, path in engine.loaded_adapters.items()
        ]
        return cards

    # ---- use -----------------------------------------------------------------------------------------------
    def begin(self) -> None:
        with self._count:
            self._in_flight += 1
            self._last_used = time.monotonic()

    def end(self) -> None:
        with self._count:
            self._in_flight -= 1
            self.served += 1
            self._last_used = time.monotonic()

    def touch(self) -> None:
        """A client that is open but quiet (an app showing a conversation) still counts as use."""
        with self._count:
            self._last_used = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since the last request ended, the last keepalive came, or the last job was running or queued; 0
        while a request or a job is."""
        busy_with_jobs = self.jobs is not None and self.jobs.busy()
        with self._count:
            if self._in_flight or busy_with_jobs:
                self._last_used = time.monotonic()
                return 0.0
            return time.monotonic() - self._last_used

    def status(self) -> dict[str, Any]:
        info = self.engine.info
        return {
            "pid": os.getpid(),
            "backend": "local",
            "address": self.address,
            "state": "failed" if self.error else ("ready" if self.engine.ready else "loading"),
            "progress": self.error or self.progress,
            "model": info.name if info else None,
            "model_path": info.path if info else None,
            "quant": info.quant if info else None,
            "device": info.device if info else None,
            "footprint_mb": round(info.footprint_mb, 1) if info else None,
            "context_window": info.context_window if info else None,
            "template_fingerprint": getattr(self.engine, "template_fingerprint", "") or None,
            "adapters": dict(self.engine.loaded_adapters),
            "started": self.started,
            "uptime_s": round(time.time() - self.started, 1),
            "rss_mb": _rss_mb(),
            "requests_served": self.served,
            "in_flight": self._in_flight,
            "queued_requests": max(self._in_flight - 1, 0),  # the engine answers one at a time
            "device_memory": self.device_memory(),
            "jobs": self.jobs.status() if self.jobs is not None else None,
        }

    def device_memory(self) -> dict[str, Any]:
        """What the accelerator holds: CUDA's used and total memory where there is a GPU (whoever uses it: the
        engine and a trainer alike); on a CPU the resident memory of this process and of a running trainer."""
        torch = sys.modules.get("torch")  # never imported here: only when the engine already did
        if torch is not None and torch.cuda.is_available():
            free, total = torch.cuda.mem_get_info()
            return {"kind": "cuda", "used_mb": round((total - free) / 2**20, 1), "total_mb": round(total / 2**20, 1)}
        trainer = self.jobs.trainer_pid() if self.jobs is not None else None
        engine_mb = _rss_mb() or 0.0
        trainer_mb = _rss_mb(trainer) if trainer else None
        return {"kind": "rss", "used_mb": round(engine_mb + (trainer_mb or 0.0), 1), "engine_mb": engine_mb,
                "trainer_mb": trainer_mb, "total_mb": _total_mb()}  # fmt: skip


def _total_mb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20, 1)
    except (ValueError, OSError):
        return None


def _rss_mb(pid: int | None = None) -> float | None:
    try:
        with open(f"/proc/{pid or 'self'}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
