"""The model part: load a base in 4-bit, chat with it, swap LoRA adapters in place. Never touches the store.

Only the engine server and the trainer run this part. Names are resolved on first use, so a client that reads an
adapter's metadata (tuitune.model.adapters) does not load the engine's modules with it.
"""

from importlib import import_module
from typing import Any

_WHERE = {
    "AdapterError": "tuitune.model.adapters",
    "Engine": "tuitune.model.engine",
    "EngineError": "tuitune.model.engine",
    "Sampling": "tuitune.generation",
    "Generation": "tuitune.generation",
    "GenerationStats": "tuitune.generation",
    "ModelInfo": "tuitune.model.loader",
    "ModelSourceError": "tuitune.model.source",
    "PromptTooLong": "tuitune.model.templates",
    "TemplateError": "tuitune.model.templates",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tuitune.model' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
