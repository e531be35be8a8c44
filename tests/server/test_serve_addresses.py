"""Where a home's server listens and how long it lives (issue 19): a home too long for AF_UNIX in bytes serves on a
short private socket that clients find through the home; a server started with --host/--port is found by
`serve --status` and `ask` at once, and its key is never shown; one that holds the home but takes no connection is
named in one line; an unused server ends after its idle timeout, and keepalives from an open app hold it.

The real `serve()` runs in a thread of this process over the session's model, so no model loads again."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tuitune.server import lifecycle

KEY = "sk-tuitune-test-do-not-show-3f9a"


@contextmanager
def serving(settings, engine, **where):
    """`tuitune serve` on `settings.home` in a thread; ended on leaving (as when its home is removed) unless its
    idle timeout ended it first."""
    from tuitune.server.serve import serve

    umask = os.umask(0o022)
    os.umask(umask)  # serve() narrows this process's umask: give it back after
    thread = threading.Thread(target=serve, args=(settings,), daemon=True,
                              kwargs={"engine": engine, "announce": lambda _: None, **where})
    thread.start()
    paths = lifecycle.EnginePaths(settings.home)
    deadline = time.monotonic() + 30
    while not lifecycle.listening_at(paths):
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield thread
    finally:
        paths.lock.unlink(missing_ok=True)
        thread.join(15)
        os.umask(umask)
        assert not thread.is_alive()


def test_a_long_non_ascii_home_serves_on_a_short_private_socket_and_idles_out_unless_kept_alive(tmp_path, engine):
    from tuitune.client import EngineClient
    from tuitune.config import load_settings

    # At most 100 characters with the socket's name (what the old check counted), far over 107 bytes.
    home = tmp_path / ("デ" * (88 - len(str(tmp_path)) - 1))
    assert len(str(home / "engine.sock")) <= 100 < 107 < len(os.fsencode(home / "engine.sock"))
    settings = load_settings(home, {"engine.idle_timeout_s": 2})
    paths = lifecycle.EnginePaths(home)
    with serving(settings, engine) as server:
        address = lifecycle.listening_at(paths)
        socket_path = Path(address.removeprefix("unix:"))
        assert address.startswith("unix:") and home not in socket_path.parents
        assert len(os.fsencode(socket_path)) <= 107 and stat.S_IMODE(socket_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
        client = EngineClient(settings)
        client.load()
        assert client.generate([{"role": "user", "content": "Say hi"}], max_new_tokens=2).text()
        kept_until = time.monotonic() + 4  # twice the idle timeout, on keepalives alone
        while time.monotonic() < kept_until:
            assert client.keepalive() and server.is_alive()
            time.sleep(0.5)
        server.join(8)  # no keepalive now: it ends itself
        assert not server.is_alive(), "the idle server kept running"
        assert not client.keepalive()
        client.close()
    assert not socket_path.exists() and not paths.info.exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_status_and_ask_find_a_home_served_on_tcp_at_once_and_never_show_its_key(tmp_path, engine, monkeypatch):
    from tuitune.config import load_settings

    monkeypatch.setenv("TUITUNE_API_KEY", KEY)
    home, port = tmp_path / "home", _free_port()
    settings = load_settings(home, {"engine.idle_timeout_s": 0})

    def tuitune(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tuitune", "--home", str(home), *args], capture_output=True,
                              text=True, timeout=120)

    with serving(settings, engine, host="127.0.0.1", port=port):
        started = time.perf_counter()
        status = tuitune("serve", "--status")
        assert status.returncode == 0, status.stderr
        assert f"http://127.0.0.1:{port}" in status.stdout and time.perf_counter() - started < 30
        asked = tuitune("ask", "--max-new-tokens", "2", "Say hi")
        assert asked.returncode == 0, asked.stderr
        assert "starting the engine server" not in asked.stderr and f"127.0.0.1:{port}" in asked.stderr
        for shown in (status.stdout, status.stderr, asked.stdout, asked.stderr):
            assert KEY not in shown
        assert not (home / "engine.sock").exists()


def test_a_server_that_holds_the_home_but_takes_no_connection_is_named_in_one_line(settings, monkeypatch):
    from tuitune.client import EngineClient, EngineError
    from tuitune.client import engine as client_engine

    monkeypatch.setattr(client_engine, "UNREACHABLE_S", 1.0)
    paths = lifecycle.EnginePaths(settings.home)
    lifecycle.private_dir(settings.home)
    with open(paths.lock, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a server of this home, as far as any client can tell...
        paths.info.write_text(json.dumps({"pid": 4242, "address": "unix:/nonexistent/engine.sock"}))  # ...elsewhere
        started = time.perf_counter()
        with pytest.raises(EngineError, match="pid 4242.*runs but does not answer at unix:/nonexistent"):
            EngineClient(settings).load()
        assert time.perf_counter() - started < 10
