"""A small judged store for the curate tests: two conversations, a DPO pair, a base and an adapter answer."""

from __future__ import annotations

import pytest

ADVERSARIAL = "[@click=app.quit]x[/] \x1b[31mred\x1b[0m \x1b]0;pwned\x07 [bold]loud[/bold]"


@pytest.fixture
def judged(store):
    """Message ids by role in the story; newest first in the table is: adversarial, volcano, pair_bad, pair_good."""
    adapter_id = store.add_adapter("tldr-1", "/nowhere/tldr-1", "SmolLM2-135M-Instruct")
    c = store.new_conversation("Printing")
    q1 = store.add_message(c, "user", "Who invented the printing press?")
    ids = {"q1": q1}
    ids["pair_good"] = store.add_message(c, "assistant", "Johannes Gutenberg, around 1440.", q1)
    store.judge(ids["pair_good"], "good")
    ids["pair_bad"] = store.add_message(c, "assistant", "Thomas Edison invented it.", q1, source="regenerate")
    store.judge(ids["pair_bad"], "bad")
    d = store.new_conversation("Volcanoes")
    q2 = store.add_message(d, "user", "Why do volcanoes erupt?")
    ids["volcano"] = store.add_message(d, "assistant", "Magma pressure builds until it escapes.", q2,
                                       adapter_id=adapter_id)
    store.judge(ids["volcano"], "good")
    e = store.new_conversation("Hostile")
    q3 = store.add_message(e, "user", "Say something odd")
    ids["adversarial"] = store.add_message(e, "assistant", ADVERSARIAL, q3)
    store.judge(ids["adversarial"], "bad")
    return ids
