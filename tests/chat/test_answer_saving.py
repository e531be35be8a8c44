"""An answer streaming into a store that is busy or full loses nothing: saves that meet another process's lock
wait in memory, a full disk keeps the text and says it was not saved."""

from __future__ import annotations

import threading
import time

import pytest

from tuitune.client import AdapterError

from test_hardening_store import LockHolder  # another process holding the store's write lock


def test_an_answer_streaming_while_another_process_holds_the_lock_is_saved_whole(settings, store, engine_client,
                                                                                 services_for):
    engine_client.settings = settings.with_overrides({"generation.max_new_tokens": 40})
    chat = services_for(engine_client).chat
    conversation = chat.new_conversation()
    answer = chat.answer(chat.send(conversation, "Tell me about the sea."))
    holder = LockHolder(settings.db_path)
    try:
        pieces = iter(answer)
        started = time.monotonic()
        for _ in range(15):  # several periodic saves meet the lock: none may wait or raise
            next(pieces)
        assert time.monotonic() - started < 8
        threading.Timer(1.0, holder.release).start()  # the last save waits for it, then writes everything
        for _ in pieces:
            pass
    finally:
        holder.release()
    saved = store.message(answer.message_id)
    assert saved.status == "complete" and saved.content == answer.text and answer.text and not answer.not_saved


def test_an_answer_streaming_into_a_full_disk_keeps_its_text_and_says_it_was_not_saved(settings, store,
                                                                                        engine_client, services_for):
    engine_client.settings = settings.with_overrides({"generation.max_new_tokens": 24})
    chat = services_for(engine_client).chat
    conversation = chat.new_conversation()
    answer = chat.answer(chat.send(conversation, "Tell me about the sea."))
    pages = store._scalar("PRAGMA page_count")
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's page limit: the disk is full from here
    store.update_message = _growing(store.update_message)
    text = "".join(answer)
    assert text and answer.text == text  # every piece reached the reader
    assert "disk is full" in answer.not_saved and "not saved" in answer.error
    store._db.execute("PRAGMA max_page_count = 1073741823")
    assert store.message(answer.message_id).status == "streaming"  # nothing half-written; marked at next start


def _growing(update):
    """Pad each write so that it needs a new page (a short answer could fit the page the row already has)."""
    def padded(message_id, content=None, **values):
        return update(message_id, content=None if content is None else content + " " * 20_000, **values)
    return padded


def test_adapters_add_refuses_a_link_that_leaves_the_folder(settings, store, tmp_path, services_for):
    folder = tmp_path / "evil"
    folder.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    (folder / "adapter_config.json").symlink_to(secret)
    (folder / "adapter_model.safetensors").write_bytes(b"x")
    with pytest.raises(AdapterError, match="leaves the adapter folder"):
        services_for(None).adapters.add(folder, "evil")
    assert not (settings.adapters_dir / "evil").exists() and store.adapter("evil") is None
