"""`tuitune export`: the lossless round trip, the training formats, Parquet, and the CLI verbs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tuitune.cli import cli
from tuitune.data.rows import judgement_counts
from tuitune.exchange import export, import_files
from tuitune.store import Store

NASTY = "\x1b]0;pwned\x07 \u202e <script>x</script> [b]rich[/b] \x7f\x85 \ud83d lone"


def rich_store(store: Store, nasty: str = NASTY) -> None:
    """Everything the lossless format must carry: adapters, stats, histories, notes, edits, exclusions."""
    adapter = store.add_adapter("tldr-1", "/nowhere/tldr-1", "SmolLM2", method="sft")
    first = store.new_conversation("Rich " + nasty, system_prompt="Be brief.")
    user = store.add_message(first, "user", "Question? " + nasty)
    answer = store.add_message(
        first, "assistant", "Plain answer", user, adapter_id=adapter, model="SmolLM2",
        stats={"prompt_tokens": 12, "new_tokens": 7, "ttft_s": 0.125, "tokens_per_s": 31.7},
    )
    store.judge(answer, "good", "first take")
    store.judge(answer, None)
    store.judge(answer, "bad", "on second thought")
    regen = store.add_message(first, "assistant", "TL;DR: better", user, source="regenerate", status="stopped")
    store.judge(regen, "good")
    store.record_edit(answer, "TL;DR: edited")
    store.set_excluded(regen, True)
    doomed = store.add_message(first, "user", "follow-up to delete", regen)
    store.delete_message(doomed)
    store.set_active_leaf(first, regen)
    second = store.new_conversation("")
    store.add_message(second, "user", "")
    gone = store.new_conversation("deleted")
    store.add_message(gone, "user", "never exported")
    store.delete_conversation(gone)


def export_text(store: Store, settings, path: Path) -> str:
    export(store, settings, "conversations", path)
    return path.read_text(encoding="utf-8")


def test_conversations_round_trip_is_byte_identical(tmp_path: Path, settings, sample: Path) -> None:
    homes = [tmp_path / name for name in ("a", "b", "c")]
    with Store.open(homes[0] / "tuitune.db") as a:
        import_files(a, [sample])
        rich_store(a)
        first = export_text(a, settings, tmp_path / "a.jsonl")
    with Store.open(homes[1] / "tuitune.db") as b:
        report = import_files(b, [tmp_path / "a.jsonl"])
        assert report.conversations == 82
        second = export_text(b, settings, tmp_path / "b.jsonl")
        assert judgement_counts(b) == a_counts(homes[0])
    assert second == first
    lines = first.splitlines()
    assert len(lines) == 82
    rich = json.loads(lines[80])
    assert rich["title"] == "Rich " + NASTY
    original = rich["messages"][1]
    assert original["adapter"] == "tldr-1" and original["model"] == "SmolLM2"
    assert original["stats"] == {"prompt_tokens": 12, "new_tokens": 7, "ttft_s": 0.125, "tokens_per_s": 31.7}
    assert [(j["value"], j["note"]) for j in original["judgements"]] == [
        ("good", "first take"), (None, None), ("bad", "on second thought"),
    ]
    assert [m["content"] for m in rich["messages"]] == [
        "Question? " + NASTY, "Plain answer", "TL;DR: better", "TL;DR: edited",
    ]
    assert rich["messages"][2]["excluded"] is True and rich["messages"][2]["status"] == "stopped"
    assert rich["active_leaf"] == 3
    # Safe to print: no raw escape, C1 or bidi character reaches the terminal, yet the text loads back the same.
    assert not any(ch in first for ch in "\x1b\x07\x7f\x85\u202e")
    # The imported adapter is known by name only: it keeps its messages' attribution but is not offered for use.
    with Store.open(homes[1] / "tuitune.db") as b:
        assert b.adapters() == []


def a_counts(home: Path) -> dict[str, int]:
    with Store.open(home / "tuitune.db") as store:
        return judgement_counts(store)


def test_export_reimported_into_its_own_home_adds_nothing(store: Store, settings, sample: Path, tmp_path: Path) -> None:
    import_files(store, [sample])
    rich_store(store)
    export(store, settings, "conversations", tmp_path / "backup.jsonl")
    report = import_files(store, [tmp_path / "backup.jsonl"])
    assert (report.conversations, report.skipped) == (0, 82)


def test_parquet_round_trip(tmp_path: Path, settings, store: Store, sample: Path) -> None:
    import_files(store, [sample])
    rich_store(store, NASTY.replace("\ud83d", ""))
    jsonl = export_text(store, settings, tmp_path / "a.jsonl")
    assert export(store, settings, "conversations", tmp_path / "a.parquet") == 82
    with Store.open(tmp_path / "b" / "tuitune.db") as b:
        assert import_files(b, [tmp_path / "a.parquet"]).conversations == 82
        assert export_text(b, settings, tmp_path / "b.jsonl") == jsonl


@pytest.mark.parametrize(
    ("fmt", "columns", "count"),
    [("sft", ["prompt", "completion"], 68), ("dpo", ["prompt", "chosen", "rejected"], 37),
     ("kto", ["prompt", "completion", "label"], 117)],
)
def test_training_formats_load_in_datasets(store: Store, settings, sample: Path, tmp_path: Path, fmt, columns, count) -> None:
    from datasets import load_dataset

    import_files(store, [sample])
    assert export(store, settings, fmt, tmp_path / f"{fmt}.jsonl") == count
    data = load_dataset("json", data_files=str(tmp_path / f"{fmt}.jsonl"), split="train")
    assert data.column_names == columns and len(data) == count
    row = data[0]
    assert row["prompt"][-1]["role"] == "user"
    answer = row["completion" if fmt != "dpo" else "chosen"]
    assert answer[0]["role"] == "assistant"
    export(store, settings, fmt, tmp_path / f"{fmt}.parquet")
    parquet = load_dataset("parquet", data_files=str(tmp_path / f"{fmt}.parquet"), split="train")
    assert parquet.to_list() == data.to_list()


def test_exported_pairs_are_the_stored_judgements(store: Store, settings, tmp_path: Path, write_jsonl) -> None:
    import_files(store, [write_jsonl([{"prompt": "q", "chosen": "yes", "rejected": "no"}])])
    export(store, settings, "dpo", tmp_path / "dpo.jsonl")
    [row] = [json.loads(line) for line in (tmp_path / "dpo.jsonl").read_text().splitlines()]
    assert row["prompt"][-1] == {"role": "user", "content": "q"}
    assert (row["chosen"], row["rejected"]) == ([{"role": "assistant", "content": "yes"}], [{"role": "assistant", "content": "no"}])


def test_cli_import_export(home: Path, sample: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["import", str(sample)])
    assert result.exit_code == 0, result.output
    assert "imported 80 conversations" in result.stdout and "68 good, 49 bad, 37 pairs" in result.stdout
    again = runner.invoke(cli, ["import", str(sample)])
    assert "imported 0 conversations" in again.stdout and "skipped 80" in again.stdout
    out = runner.invoke(cli, ["export", "--format", "conversations"])
    assert out.exit_code == 0 and len(out.stdout.splitlines()) == 80
    result = runner.invoke(cli, ["export", "--format", "sft", "--out", str(tmp_path / "sft.jsonl")])
    assert result.exit_code == 0, result.output
    assert "wrote 68 SFT rows" in result.stderr
    assert len((tmp_path / "sft.jsonl").read_text().splitlines()) == 68


def test_cli_bad_file_is_one_line_and_non_zero(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a"}\n{"text": "b"}\n{"text": \n{"text": "d"}\n')
    result = CliRunner().invoke(cli, ["import", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("tuitune: error: ") and f"{path} line 3: not valid JSON" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    listed = CliRunner().invoke(cli, ["export", "--format", "conversations"])
    assert listed.stdout == ""


def test_failed_parquet_export_leaves_no_file(store: Store, settings, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to export"):
        export(store, settings, "sft", tmp_path / "empty.parquet")
    assert list(tmp_path.iterdir()) == [tmp_path / "home"]


def test_parquet_refuses_lone_surrogates_clearly(store: Store, settings, tmp_path: Path) -> None:
    rich_store(store)
    with pytest.raises(ValueError, match="Parquet cannot hold this text.*export to .jsonl"):
        export(store, settings, "conversations", tmp_path / "a.parquet")
    assert not (tmp_path / "a.parquet").exists()
