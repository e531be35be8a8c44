"""A relative home (issue 19): `tuitune --home rel ...` works on the absolute folder it names from where it ran, so
the adapters and runs recorded under it, and the engine server that runs in a folder of its own, never depend on
the working folder of a later command."""

from __future__ import annotations


def test_a_relative_home_is_made_absolute_where_the_command_reads_it(tmp_path, monkeypatch):
    from tuitune.cli.context import CliContext

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TUITUNE_HOME", raising=False)
    flagged = CliContext.create("rel/../rel/home", {}).settings
    assert flagged.home == tmp_path / "rel" / "home" and flagged.adapters_dir.is_absolute()
    monkeypatch.setenv("TUITUNE_HOME", "from-env")
    assert CliContext.create(None, {}).settings.home == tmp_path / "from-env"

