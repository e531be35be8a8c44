"""Conversations, messages and the tree they form; text that must come back byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuitune.data.rows import judgement_counts
from tuitune.store import NotFound, Store

NASTY_TEXT = [
    "lone high \ud800 and low \udfff surrogates",
    "\ud83d\ude00 an escaped pair is two code points, not one emoji",
    "NUL \x00 in the middle and at the end \x00",
    "ESC \x1b[31mred\x1b[0m and a bell \x07",
    "bidi \u202e override \u2066 isolate \u200f mark",
    "real emoji 😀 and CJK 漢字 and combining e\u0301",
    "",
]

ADD_WHEN_RELEASED = """
import sys
from pathlib import Path
from tuitune.store import Store
store = Store.open(Path(sys.argv[1]))
conversation, tag = int(sys.argv[2]), sys.argv[3]
print("ready", flush=True)
sys.stdin.readline()
parent = None
for i in range(50):
    role = "user" if i % 2 == 0 else "assistant"
    parent = store.add_message(conversation, role, f"{tag}{i}", parent)
    if role == "assistant":
        store.judge(parent, "good")
store.close()
"""


def test_conversations_list_newest_first_and_soft_delete(store: Store) -> None:
    first = store.new_conversation("first")
    second = store.new_conversation("second", system_prompt="be brief")
    assert [c.id for c in store.conversations()] == [second, first]
    store.add_message(first, "user", "bump")
    assert [c.id for c in store.conversations()] == [first, second]
    store.rename_conversation(second, "renamed")
    store.set_system_prompt(first, "be kind")
    assert store.conversation(second).title == "renamed"
    assert store.conversation(second).system_prompt == "be brief"
    assert store.conversation(first).system_prompt == "be kind"
    store.set_system_prompt(first, None)
    assert store.conversation(first).system_prompt is None
    store.delete_conversation(first)
    assert [c.id for c in store.conversations()] == [second]
    assert store.conversation(first).deleted_at is not None
    with pytest.raises(NotFound):
        store.conversation(999)


def test_times_are_iso_utc(chat: tuple[Store, int]) -> None:
    store, c = chat
    created = store.conversation(c).created_at
    assert created.endswith("+00:00") and created[10] == "T"
    message = store.message(store.add_message(c, "user", "hi"))
    assert message.created_at >= created
    assert store.conversation(c).updated_at == message.created_at


def test_add_message_sets_the_active_leaf_and_records_everything(chat: tuple[Store, int]) -> None:
    store, c = chat
    adapter = store.add_adapter("a1", "/adapters/a1", "llama")
    user = store.add_message(c, "user", "question")
    answer = store.add_message(
        c, "assistant", "answer", user, adapter_id=adapter, source="regenerate", model="llama",
        stats={"prompt_tokens": 12, "new_tokens": 3, "ttft_s": 0.25, "tokens_per_s": 40.5},
    )  # fmt: skip
    assert store.conversation(c).active_leaf_id == answer
    m = store.message(answer)
    assert (m.role, m.content, m.parent_id, m.conversation_id) == ("assistant", "answer", user, c)
    assert (m.adapter_id, m.adapter, m.source, m.model, m.status) == (
        adapter, "a1", "regenerate", "llama", "complete",
    )  # fmt: skip
    assert (m.prompt_tokens, m.new_tokens, m.ttft_s, m.tokens_per_s) == (12, 3, 0.25, 40.5)
    assert m.excluded is False and m.judgement is None
    assert store.message(user).adapter is None


def test_add_message_rejects_bad_input(chat: tuple[Store, int]) -> None:
    store, c = chat
    other = store.new_conversation()
    foreign = store.add_message(other, "user", "elsewhere")
    with pytest.raises(ValueError):
        store.add_message(c, "robot", "x")
    with pytest.raises(ValueError):
        store.add_message(c, "user", "x", status="done")
    with pytest.raises(ValueError):
        store.add_message(c, "user", "x", source="web")
    with pytest.raises(ValueError):
        store.add_message(c, "user", "x", stats={"wall_s": 1})
    with pytest.raises(ValueError):
        store.add_message(c, "user", "x", foreign)
    with pytest.raises(TypeError):
        store.add_message(c, "user", b"bytes")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        store.add_message(12345, "user", "x")
    assert store.children(c, None) == []


def test_streaming_updates_and_stopped_on_restart(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = Store.open(path)
    c = store.new_conversation()
    user = store.add_message(c, "user", "q")
    answer = store.add_message(c, "assistant", "", user, status="streaming")
    done = store.add_message(c, "assistant", "full", user)
    text = ""
    for token in ["Hel", "lo", " wor", "ld"]:
        text += token
        store.update_message(answer, content=text)
    store.update_message(answer, stats={"new_tokens": 4})
    store.close()  # the app was killed mid-answer

    with Store.open(path) as store:
        assert store.message(answer).status == "streaming"
        assert store.mark_streaming_stopped() == 1
        assert store.mark_streaming_stopped() == 0
        m = store.message(answer)
        assert (m.status, m.content, m.new_tokens) == ("stopped", "Hello world", 4)
        assert store.message(done).status == "complete"
        store.update_message(answer, status="complete")
        assert store.message(answer).status == "complete"
        with pytest.raises(NotFound):
            store.update_message(999, content="x")
        with pytest.raises(ValueError):
            store.update_message(answer, status="finished")


@pytest.mark.parametrize("text", NASTY_TEXT)
def test_text_round_trips_verbatim(chat: tuple[Store, int], text: str) -> None:
    store, c = chat
    store.rename_conversation(c, text)
    store.set_system_prompt(c, text)
    message = store.add_message(c, "user", text)
    store.judge(message, "good", note=text)
    streamed = store.add_message(c, "assistant", "", message, status="streaming")
    store.update_message(streamed, content=text + text)
    store.set_setting("key", text)
    run = store.create_run("sft", params={"t": text}, example_ids=[], base_model="m", reason=text)
    store.update_run(run, error=text, log_path=text)

    assert store.conversation(c).title == text
    assert store.conversation(c).system_prompt == text
    assert store.message(message).content == text
    assert store.message(message).judgement_note == text
    assert store.judgement_history(message)[-1][:2] == ("good", text)
    assert store.message(streamed).content == text + text
    assert store.get_setting("key") == text
    got = store.run(run)
    assert (got.params["t"], got.reason, got.error, got.log_path) == (text, text, text, text)


def test_odd_adapter_names_and_paths_round_trip(store: Store) -> None:
    name, path = "ad\ud800pter\x00", "/home/x/\udcff-weird-bytes"
    adapter = store.add_adapter(name, path, "llama")
    found = store.adapter(name)
    assert found is not None and found.id == adapter and found.path == path
    assert store.adapter("ad\ud800pter") is None


def _conversation_tree(store: Store, c: int) -> dict[str, int]:
    """u1 ─ a1 ─ u2 ─ a2
            ├ a1b (regenerated)
            └ a1c ─ u3"""
    ids = {"u1": store.add_message(c, "user", "u1")}
    ids["a1"] = store.add_message(c, "assistant", "a1", ids["u1"])
    ids["u2"] = store.add_message(c, "user", "u2", ids["a1"])
    ids["a2"] = store.add_message(c, "assistant", "a2", ids["u2"])
    ids["a1b"] = store.add_message(c, "assistant", "a1b", ids["u1"], source="regenerate")
    ids["a1c"] = store.add_message(c, "assistant", "a1c", ids["u1"], source="regenerate")
    ids["u3"] = store.add_message(c, "user", "u3", ids["a1c"])
    return ids


def _contents(messages) -> list[str]:
    return [m.content for m in messages]


def test_tree_children_siblings_path(chat: tuple[Store, int]) -> None:
    store, c = chat
    ids = _conversation_tree(store, c)
    assert _contents(store.children(c, None)) == ["u1"]
    assert _contents(store.children(c, ids["u1"])) == ["a1", "a1b", "a1c"]
    assert _contents(store.siblings(ids["a1b"])) == ["a1", "a1b", "a1c"]
    assert _contents(store.siblings(ids["u1"])) == ["u1"]
    assert _contents(store.path_to(ids["a2"])) == ["u1", "a1", "u2", "a2"]
    assert _contents(store.path_to(ids["u1"])) == ["u1"]
    with pytest.raises(NotFound):
        store.path_to(999)


def test_branch_follows_active_leaf_or_newest(chat: tuple[Store, int]) -> None:
    store, c = chat
    assert store.branch(c) == []
    ids = _conversation_tree(store, c)
    assert _contents(store.branch(c)) == ["u1", "a1c", "u3"]  # the last added is active
    store.set_active_leaf(c, ids["a2"])
    assert _contents(store.branch(c)) == ["u1", "a1", "u2", "a2"]
    store.set_active_leaf(c, ids["a1b"])
    assert _contents(store.branch(c)) == ["u1", "a1b"]
    store.set_active_leaf(c, store.newest_leaf(ids["a1"]))
    assert _contents(store.branch(c)) == ["u1", "a1", "u2", "a2"]
    store.set_active_leaf(c, None)  # no active leaf: newest child at each step
    assert _contents(store.branch(c)) == ["u1", "a1c", "u3"]
    other = store.new_conversation()
    with pytest.raises(ValueError):
        store.set_active_leaf(other, ids["a2"])


def test_delete_message_hides_its_subtree(chat: tuple[Store, int]) -> None:
    store, c = chat
    ids = _conversation_tree(store, c)
    store.delete_message(ids["a1c"])
    assert store.message(ids["u3"]).deleted_at is not None
    assert _contents(store.children(c, ids["u1"])) == ["a1", "a1b"]
    assert _contents(store.branch(c)) == ["u1", "a1b"]
    assert store.conversation(c).active_leaf_id == ids["a1b"]


def test_excluded_flag(chat: tuple[Store, int]) -> None:
    store, c = chat
    m = store.add_message(c, "user", "x")
    store.set_excluded(m, True)
    assert store.message(m).excluded is True
    store.set_excluded(m, False)
    assert store.message(m).excluded is False


def test_store_is_shared_safely_between_threads(chat: tuple[Store, int]) -> None:
    import threading

    store, c = chat
    root = store.add_message(c, "user", "q")

    def write(tag: str) -> None:
        for i in range(40):
            store.add_message(c, "assistant", f"{tag}{i}", root)

    threads = [threading.Thread(target=write, args=(tag,)) for tag in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.children(c, root)) == 80


def test_two_processes_writing_lose_nothing(tmp_path: Path, python, together) -> None:
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        conversations = [store.new_conversation(tag) for tag in "ab"]
    shared = conversations[0]
    procs = [python(ADD_WHEN_RELEASED, str(path), str(shared), tag) for tag in "ab"]
    together(procs)
    with Store.open(path) as store:
        everything = store.children(shared, None)
        assert sorted(m.content for m in everything) == ["a0", "b0"]
        for root in everything:
            tag = root.content[0]
            chain = store.path_to(store.newest_leaf(root.id))
            assert _contents(chain) == [f"{tag}{i}" for i in range(50)]
        assert judgement_counts(store)["good"] == 50
