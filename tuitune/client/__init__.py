"""The one way the app reaches a model: an HTTP client of tuitune's engine server or of vLLM. Never imports torch."""

from tuitune.client.engine import AdapterError, EngineClient, EngineError, EngineGone, EngineInfo

__all__ = ["AdapterError", "EngineClient", "EngineError", "EngineGone", "EngineInfo"]
