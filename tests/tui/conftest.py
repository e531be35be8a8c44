"""Fixtures for driving the app headless; helpers.py has the functions the tests share."""

from __future__ import annotations

import pytest

from tuitune.tui.app import make_app


@pytest.fixture
def short_engine(clean_engine):
    """The real embedded model, answering in a few tokens."""
    clean_engine.settings.generation.max_new_tokens = 8
    return clean_engine


@pytest.fixture
def app_for(settings, store):
    def build(engine):
        return make_app(settings, store=store, engine=engine)

    return build


@pytest.fixture
def clean_engine(engine_client):
    """The app reaches the model through the engine server, as it does for users."""
    return engine_client
