"""`tuitune runs` says, per run, how its adapter agreed with the held-out judgements (base→adapter, or too few to
tell) and whether it went live: promoted, held back, or promoted by hand. Each figure sits under its own header."""

from __future__ import annotations

from click.testing import CliRunner

from tuitune.cli import cli

FEW = {"n": 5, "enough": False, "pairs": 3, "thumbs": 2}
ENOUGH = {"n": 12, "enough": True, "base": 0.5, "live": 0.5, "adapter": 0.833, "adapter_ci": [0.55, 0.95],
          "wins": 9, "losses": 1, "p": 0.011}  # fmt: skip
EFFECT = {"base_accuracy": 0.567, "adapter_accuracy": 0.6}


def finished(store, name: str, metrics: dict, promotion: tuple[str, str] | None) -> int:
    run_id = store.create_run("sft", params={}, example_ids=[1, 2, 3], base_model="m", status="running")
    store.update_run(run_id, metrics=metrics)
    store.finish_run(run_id, adapter={"name": name, "path": f"/nowhere/{name}"}, promotion=promotion)
    return run_id


def column(header: str, title: str, width: int, right: bool) -> slice:
    """Where `title`'s values are: right-aligned ones end where the title ends, left-aligned ones start with it."""
    start = header.index(title)
    return slice(start + len(title) - width, start + len(title)) if right else slice(start, start + width)


def test_runs_shows_agreement_and_promotion_under_their_headers(home, store):
    old = finished(store, "old", {"train_loss": 1.5}, None)  # before held-out judgements and the gate
    few = finished(store, "few", {"agreement": FEW, "effect": EFFECT}, ("held_back", "too few held-out judgements"))
    good = finished(store, "good", {"agreement": ENOUGH, "effect": EFFECT}, ("promoted", "better than the live model"))
    kept = finished(store, "kept", {"agreement": FEW}, ("held_back", "too few held-out judgements"))
    store.set_promotion(kept, "promoted_by_hand", "promoted by hand; held back because: too few held-out judgements")
    broken = finished(store, "broken", {"agreement": {"n": 9, "enough": False, "error": "OSError: gone"}}, None)
    failed = store.create_run("dpo", params={}, example_ids=[1], base_model="m", status="running")
    store.update_run(failed, status="failed", error="out of memory")

    result = CliRunner().invoke(cli, ["--home", str(home), "runs"])
    assert result.exit_code == 0, result.output
    header, *lines = result.output.splitlines()
    rows = {int(line.split()[0]): line for line in lines}
    agreement, live = column(header, "agreement", 10, right=True), column(header, "live?", 9, right=False)
    shown = {run_id: (rows[run_id][agreement].strip(), rows[run_id][live].strip()) for run_id in rows}
    assert shown == {
        old: ("-", "-"),
        few: ("few (5)", "held back"),
        good: ("0.50→0.83", "promoted"),
        kept: ("few (5)", "by hand"),
        broken: ("error", "-"),
        failed: ("-", "-"),
    }
    # the columns that were there still are, and the adapter or the error still ends the row
    assert rows[good].split()[1:3] == ["done", "sft"] and rows[good].rstrip().endswith("good")
    assert "0.57→0.60" in rows[good] and rows[failed].rstrip().endswith("out of memory")
