"""The engine server: one long-lived process per home holds the base model and its LoRA adapters and serves them
over the OpenAI-compatible HTTP API with vLLM's adapter endpoints (`tuitune serve`). `lifecycle` is the light part
clients use to find, start and stop it; `serve` and `app` import uvicorn and Starlette, and the engine torch."""
