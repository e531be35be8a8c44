"""Shared fixtures: a fresh home per test, and the real embedded model in real nf4, loaded once per session and
served once per session by the real engine server (in a thread of the test process) to the clients under test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """Converted models are cached once per test session (the GGUF conversion takes seconds)."""
    return Path(os.environ.get("TUITUNE_TEST_MODEL_CACHE") or tmp_path_factory.mktemp("model-cache"))


@pytest.fixture
def home(tmp_path, model_cache, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("TUITUNE_HOME", str(home))
    monkeypatch.setenv("TUITUNE_MODEL_CACHE", str(model_cache))
    yield home
    from tuitune.server import lifecycle

    lifecycle.stop(lifecycle.EnginePaths(home))  # a CLI verb may have started the home's engine server


@pytest.fixture
def settings(home):
    from tuitune.config import load_settings

    return load_settings(home)


@pytest.fixture
def store(settings):
    from tuitune.store import Store

    store = Store.open(settings.db_path)
    yield store
    store.close()


@pytest.fixture(scope="session")
def engine(model_cache):
    """The real embedded model in nf4, shared; tests that load adapters must unload them again."""
    from tuitune.config import load_settings
    from tuitune.model import Engine

    settings = load_settings(model_cache / "engine-home", {"model.cache_dir": str(model_cache)})
    engine = Engine(settings)
    engine.load()
    return engine


@pytest.fixture
def clean_engine(engine):
    """The shared engine, with default generation settings and no adapters afterwards."""
    from tuitune.config import GenerationSettings

    engine.settings.generation = GenerationSettings()
    yield engine
    for name in list(engine.loaded_adapters):
        engine.unload_adapter(name)
    engine.activate(None)
    engine.settings.generation = GenerationSettings()


@pytest.fixture(scope="session")
def threaded_server(engine, tmp_path_factory):
    """The session's engine behind the real HTTP server (uvicorn + Starlette), on a Unix socket."""
    from tuitune.server.serve import ThreadedServer

    server = ThreadedServer(engine, tmp_path_factory.mktemp("srv") / "engine.sock").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def engine_server(threaded_server) -> str:
    """The URL clients attach to the session's server with."""
    return threaded_server.url


@pytest.fixture
def engine_client(engine, engine_server, settings):
    """An EngineClient of the session's server with this test's settings; the server drops every adapter after."""
    from tuitune.client import EngineClient
    from tuitune.config import GenerationSettings

    engine.settings.generation = GenerationSettings()
    client = EngineClient(settings, url=engine_server)
    client.load()
    yield client
    client.close()
    for name in list(engine.loaded_adapters):
        engine.unload_adapter(name)
    engine.activate(None)


from adapter_fixtures import make_adapter  # noqa: E402,F401  (a session fixture shared by model and CLI tests)
