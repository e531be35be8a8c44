"""The model part: load a base in 4-bit, chat with it, swap LoRA adapters in place. Never touches the store."""

from tuitune.model.adapters import AdapterError
from tuitune.model.engine import Engine, EngineError, Generation, GenerationStats
from tuitune.model.loader import ModelInfo
from tuitune.model.source import ModelSourceError
from tuitune.model.templates import PromptTooLong

__all__ = [
    "AdapterError", "Engine", "EngineError", "Generation", "GenerationStats", "ModelInfo", "ModelSourceError",
    "PromptTooLong",
]
