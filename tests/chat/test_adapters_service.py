"""The adapters service keeps which adapter is live and where roll back goes, for the CLI and the TUI alike, and
tells whoever subscribed of every change of the live adapter. Real LoRA adapters through the engine server."""

from __future__ import annotations

import pytest

from tuitune.chat.adapters import Swap
from tuitune.client import AdapterError


def test_use_rollback_and_remove_keep_the_live_adapter_and_the_rollback_target(services_for, clean_engine,
                                                                               make_adapter):
    adapters = services_for(clean_engine).adapters
    heard: list[Swap] = []
    stop = adapters.subscribe(heard.append)
    for name, seed in (("one", 1), ("two", 2)):
        adapters.add(make_adapter(name, seed), name)
    with pytest.raises(AdapterError, match="nothing to roll back to yet"):
        adapters.rollback_target()

    adapters.use("one")
    assert (adapters.active_name, adapters.previous_name, clean_engine.active_adapter) == ("one", "", "one")
    assert adapters.rollback_target() is None  # the base was live before
    adapters.use("two")
    adapters.use(adapters.rollback_target())  # roll back: to the one live before the last switch
    assert (adapters.active_name, adapters.rollback_target(), clean_engine.active_adapter) == ("one", "two", "one")
    adapters.restore()  # the remembered adapter again, as at a start: not a switch, the rollback target stays
    assert adapters.rollback_target() == "two"
    assert [(s.name, s.previous) for s in heard] == [("one", None), ("two", "one"), ("one", "two"), ("one", "one")]
    assert all(s.seconds >= 0 for s in heard)

    adapters.remove("two")  # the rollback target: roll back forgets it
    with pytest.raises(AdapterError, match="nothing to roll back to yet"):
        adapters.rollback_target()
    adapters.remove("one")  # the live one: the base is live now, and the listeners hear it
    assert adapters.active_name is None and clean_engine.active_adapter is None
    assert heard[-1] == Swap(None, "one")
    stop()
    adapters.use(None)
    assert len(heard) == 5  # no longer listening
