"""Shared fixtures: a fresh home per test, and the real embedded model in real nf4, loaded once per session."""

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
def home(tmp_path, model_cache, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TUITUNE_HOME", str(home))
    monkeypatch.setenv("TUITUNE_MODEL_CACHE", str(model_cache))
    return home


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


from adapter_fixtures import make_adapter  # noqa: E402,F401  (a session fixture shared by model and CLI tests)
