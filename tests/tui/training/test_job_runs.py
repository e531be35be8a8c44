"""F5 against an engine server that runs fine-tuning jobs (as `tuitune serve` does): the run trains as the
server's job; the terminal that started it quits mid-run; another terminal opened later follows the same job and
swaps the adapter in."""

from __future__ import annotations

import pytest

from tuitune.client import EngineClient
from tuitune.server.serve import ThreadedServer
from tuitune.tui.app import make_app
from tuitune.tui.training.panel import TrainingPanel

from ..helpers import SIZE, widget_text
from .conftest import wait_until
from .test_train_keys import sample_data

pytestmark = pytest.mark.slow


@pytest.fixture
def job_server(engine, tiny_settings, tmp_path):
    """The session's model behind the real server, running jobs in this test's home (trainers unquantized)."""
    settings = tiny_settings.with_overrides({"model.quant": "none"})
    server = ThreadedServer(engine, tmp_path / "jobs.sock", jobs_settings=settings).start()
    yield server, settings
    server.stop()
    for name in list(engine.loaded_adapters):
        engine.unload_adapter(name)
    engine.activate(None)


def terminal(server, settings, store):
    """One app with its own engine client on the job server: what a terminal running `tuitune` is."""
    client = EngineClient(settings, url=server.url)
    return client, make_app(settings, store=store, engine=client, continue_latest=True)


async def test_a_job_started_in_one_terminal_is_followed_and_swapped_in_by_another(job_server, store):
    server, settings = job_server
    sample_data(store)
    first_client, first = terminal(server, settings, store)
    async with first.run_test(size=SIZE) as pilot:
        panel = first.chat_screen.query_one(TrainingPanel)
        await wait_until(pilot, lambda: first_client.ready, 60, "the engine attaching")
        await pilot.press("f5")
        await wait_until(pilot, lambda: panel.state == "running" and panel.handle is not None, 60, "a job")
        assert panel.handle.job_id and store.runs()[0].job_id == panel.handle.job_id
        await wait_until(pilot, lambda: panel.losses or panel.state != "running", 300, "the first step")
        assert "step 1/2" in widget_text(first, panel)  # the trainer's progress, through the job's events
    job_id = store.runs()[0].job_id
    assert store.runs()[0].status in ("queued", "running")  # the quit left the job training on the server

    second_client, second = terminal(server, settings, store)
    async with second.run_test(size=SIZE) as pilot:
        panel = second.chat_screen.query_one(TrainingPanel)
        await wait_until(pilot, lambda: panel.handle is not None, 60, "reattaching")
        assert panel.handle.job_id == job_id
        await wait_until(pilot, lambda: panel.state == "done", 300, "the job finishing and swapping in")
        run = store.runs()[0]
        name = store.adapter_by_id(run.adapter_id).name
        assert run.status == "done" and second_client.active_adapter == name == store.get_setting("active_adapter")
        assert name in second_client.loaded_adapters
    first_client.close()
    second_client.close()


async def test_f5_while_another_terminal_trains_follows_that_run_and_cancels_it(job_server, store):
    from tuitune.client.jobs import ServerJobs
    from tuitune.training import start_run

    server, settings = job_server
    sample_data(store)
    client, app = terminal(server, settings, store)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.chat_screen.query_one(TrainingPanel)
        await wait_until(pilot, lambda: client.ready, 60, "the engine attaching")
        other = EngineClient(settings, url=server.url)  # another terminal, which starts a run after this one opened
        elsewhere = start_run(settings, store, "sft", jobs=ServerJobs(other))
        assert elsewhere.job_id
        await pilot.press("f5")
        await wait_until(pilot, lambda: panel.handle is not None and panel.state == "running", 60, "following")
        assert panel.handle.run_id == elsewhere.run_id
        assert f"following run {elsewhere.run_id}" in widget_text(app, panel)
        await wait_until(pilot, lambda: panel.started_seen, 120, "the trainer starting")
        await pilot.press("f5")  # F5 on a running run asks to cancel it
        await pilot.press("y")
        await wait_until(pilot, lambda: panel.state != "running", 120, "the cancel")
        assert store.run(elsewhere.run_id).status == "cancelled" and store.adapters() == []
        assert elsewhere.wait()["event"] == "cancelled"  # the terminal that started it hears the same
        other.close()
    client.close()
