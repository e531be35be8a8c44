"""Shared fixtures: a fresh home per test, and the real embedded model in real nf4, loaded once per session and
served once per session by the real engine server (in a thread of the test process) to the clients under test."""

from __future__ import annotations

import os
from dataclasses import replace
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


@pytest.fixture
def services_for(settings, store):
    """`services_for(engine, with_settings=None)`: what the app and the CLI work with (`open_services`) over this
    test's store, the given engine client, and this test's settings unless others are given."""
    from tuitune.services import open_services

    def build(engine, with_settings=None):
        return open_services(with_settings or settings, store=store, engine=engine)

    return build


@pytest.fixture(scope="session")
def engine(model_cache):
    """The real embedded model in nf4, shared; tests that load adapters must unload them again."""
    from tuitune.config import load_settings
    from tuitune.model import Engine

    settings = load_settings(model_cache / "engine-home", {"model.cache_dir": str(model_cache)})
    engine = Engine(settings)
    engine.load()
    return engine


def default_generation(engine) -> None:
    """Give the shared engine back its default generation settings (a test may have given it others)."""
    from tuitune.config import GenerationSettings

    engine.settings = replace(engine.settings, generation=GenerationSettings())


@pytest.fixture
def clean_engine(engine):
    """The shared engine, with default generation settings and no adapters afterwards."""
    default_generation(engine)
    yield engine
    for name in list(engine.loaded_adapters):
        engine.unload_adapter(name)
    engine.activate(None)
    default_generation(engine)


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

    default_generation(engine)
    client = EngineClient(settings, url=engine_server)
    client.load()
    yield client
    client.close()
    for name in list(engine.loaded_adapters):
        engine.unload_adapter(name)
    engine.activate(None)


from adapter_fixtures import make_adapter  # noqa: E402,F401  (a session fixture shared by model and CLI tests)


@pytest.fixture
def tiny_eval_sets(home):
    """Two behaviour prompts (one rule any answer meets, one the base never does) and two check questions, in the
    home, where they replace the shipped sets: measuring after a run takes seconds."""
    import json

    from tuitune.data import evalsets

    folder = evalsets.eval_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "behaviour.jsonl").write_text(
        json.dumps({"prompt": "Name a colour.", "first_line": "."}) + "\n"
        + json.dumps({"prompt": "Name a fruit.", "first_line": "^ZZZ-never"}) + "\n", encoding="utf-8")
    (folder / "checks.jsonl").write_text(
        json.dumps({"question": "What is the capital of France?", "answers": ["Paris"]}) + "\n"
        + json.dumps({"question": "What is the capital of Japan?", "answers": ["Tokyo"]}) + "\n", encoding="utf-8")
    return evalsets.load(home)
