import pytest


@pytest.fixture
def clean_engine(engine_client):
    """Chat and A/B reach the model through the engine server, as they do for users."""
    return engine_client
