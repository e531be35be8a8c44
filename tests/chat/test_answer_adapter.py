"""The adapter is a parameter of each request: every stored answer records the adapter the server reports for
that very request, whatever another client switches meanwhile."""

from __future__ import annotations

import threading

from tuitune.client import EngineClient


def test_two_clients_with_different_adapters_at_once_each_record_their_own(settings, store, engine_client,
                                                                          engine_server, make_adapter, services_for):
    settings = settings.with_overrides({"generation.max_new_tokens": 6})
    engine_client.settings = settings
    folder = make_adapter("rec", 5)
    store.add_adapter("rec", str(folder), engine_client.info.name)
    other = EngineClient(settings, url=engine_server)
    other.load()
    engine_client.load_adapter("rec", str(folder))  # this client answers with rec from now on
    assert other.active_adapter is None  # ...and the other one still with the base: no global switch
    chats = {"rec": services_for(engine_client, settings).chat, "base": services_for(other, settings).chat}
    ids: dict[str, int] = {}

    def answer(key: str) -> None:
        chat = chats[key]
        conversation = chat.new_conversation()
        reply = chat.answer(chat.send(conversation, f"Say something about {key}."))
        "".join(reply)
        ids[key] = reply.message_id

    threads = [threading.Thread(target=answer, args=(key,)) for key in chats for _ in range(1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert store.message(ids["rec"]).adapter == "rec"
    assert store.message(ids["base"]).adapter is None
    explicit = chats["rec"].answer(chats["rec"].send(chats["rec"].new_conversation(), "Hi"), adapter=None)
    "".join(explicit)
    assert store.message(explicit.message_id).adapter is None and explicit.stats.adapter is None
    other.close()
