"""Fixtures for driving the app headless; helpers.py has the functions the tests share."""

from __future__ import annotations

import pytest

from tuitune.tui.app import make_app


@pytest.fixture
def short_engine(clean_engine):
    """The real embedded model, answering in a few tokens."""
    clean_engine.settings = clean_engine.settings.with_overrides({"generation.max_new_tokens": 8})
    return clean_engine


@pytest.fixture
def app_for(settings, store):
    """`app_for(engine, with_settings=None)`: the app as `make_app` builds it, over this test's store, the given
    engine client, and this test's settings unless others are given; it opens the latest conversation (as
    `tuitune --continue`), so what a test put in the store is on the screen."""

    def build(engine, with_settings=None):
        return make_app(with_settings or settings, store=store, engine=engine, continue_latest=True)

    return build


@pytest.fixture
def clean_engine(engine_client):
    """The app reaches the model through the engine server, as it does for users."""
    return engine_client
