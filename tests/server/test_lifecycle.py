"""The engine server as its own long-lived process: started detached by the first client, reused by the next,
status and stop, kill -9 on either side, and who may talk to it."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tuitune.server import lifecycle


def tuitune(home, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "tuitune", "--home", str(home), *args], capture_output=True,
                          text=True, timeout=timeout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ask_starts_a_detached_server_that_the_next_ask_reuses_then_status_and_stop(home):
    first = tuitune(home, "ask", "--max-new-tokens", "4", "Say hi")
    assert first.returncode == 0, first.stderr
    paths = lifecycle.EnginePaths(home)
    assert lifecycle.running(paths)
    pid = lifecycle.read_info(paths)["pid"]
    assert stat.S_IMODE(paths.socket.stat().st_mode) == 0o600 and stat.S_ISSOCK(paths.socket.stat().st_mode)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    second = tuitune(home, "ask", "--max-new-tokens", "4", "Say hi again")
    assert second.returncode == 0, second.stderr
    assert "starting the engine server" in first.stderr and "starting the engine server" not in second.stderr
    assert lifecycle.read_info(paths)["pid"] == pid  # the same process: the model was not loaded again
    status = tuitune(home, "serve", "--status")
    assert status.returncode == 0 and f"pid       {pid}" in status.stdout and "SmolLM2" in status.stdout
    assert "4bit" in status.stdout and "uptime" in status.stdout and "memory" in status.stdout
    stopped = tuitune(home, "serve", "--stop")
    assert stopped.returncode == 0 and str(pid) in stopped.stdout
    assert not lifecycle.running(paths) and not paths.socket.exists()
    assert "no engine server" in tuitune(home, "serve", "--stop").stdout


def test_a_second_server_on_one_home_is_refused_in_one_line(home):
    server = subprocess.Popen([sys.executable, "-m", "tuitune", "--home", str(home), "serve"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not lifecycle.running(lifecycle.EnginePaths(home)) and time.monotonic() < deadline:
            time.sleep(0.1)
        again = tuitune(home, "serve", timeout=60)
        assert again.returncode == 2 and "already runs for this home" in again.stderr
        assert len(again.stderr.strip().splitlines()) == 1
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def test_kill_9_of_the_server_mid_answer_keeps_the_partial_answer_then_the_next_request_recovers(settings, store,
                                                                                                   capsys):
    from tuitune.chat import Chat
    from tuitune.cli.context import run_guarded
    from tuitune.client import EngineClient, EngineGone

    settings = settings.with_overrides({"generation.max_new_tokens": 600})
    client = EngineClient(settings)
    client.load()
    chat = Chat(settings, store, client)
    conversation = chat.new_conversation()
    answer = chat.answer(chat.send(conversation, "Tell me a long story about a dragon."))
    pieces = iter(answer)
    for _ in range(5):
        next(pieces)
    os.kill(lifecycle.read_info(client.paths)["pid"], signal.SIGKILL)
    with pytest.raises(EngineGone):
        for _ in pieces:
            pass
    kept = store.message(answer.message_id)
    assert kept.status == "error" and kept.content and kept.content == answer.text
    client.settings = settings.with_overrides({"generation.max_new_tokens": 6})
    again = chat.answer(chat.send(conversation, "Say hi"))  # starts a new server and answers
    assert "".join(again) and store.message(again.message_id).status == "complete"
    # That server dies while an adapter loads (issue 19): the client's usual one-line error and exit status 2.
    pid = lifecycle.read_info(client.paths)["pid"]
    os.kill(pid, signal.SIGSTOP)  # the request waits in the server...
    threading.Timer(1.0, os.kill, (pid, signal.SIGKILL)).start()  # ...until the server dies with it in hand
    with pytest.raises(SystemExit) as ended:
        run_guarded(lambda: client.load_adapter("late", str(settings.home)))
    said = capsys.readouterr().err
    assert ended.value.code == 2 and said.count("\n") == 1 and "went away while loading the adapter" in said
    client.close()


CLIENT = """
import sys, httpx
with httpx.Client(transport=httpx.HTTPTransport(uds=sys.argv[1]), base_url="http://t", timeout=None) as c:
    body = {"model": "base", "stream": True, "max_tokens": 3000,
            "messages": [{"role": "user", "content": "Tell me a very long story."}]}
    with c.stream("POST", "/v1/chat/completions", json=body) as r:
        for line in r.iter_lines():
            if '"content": "' in line and '"role"' not in line:
                print("streaming", flush=True)
"""


def test_kill_9_of_a_client_mid_answer_stops_that_generation_and_the_server_keeps_serving(home):
    assert tuitune(home, "ask", "--max-new-tokens", "2", "hi").returncode == 0  # the server runs, model loaded
    paths = lifecycle.EnginePaths(home)
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(paths.socket)], stdout=subprocess.PIPE, text=True)
    assert client.stdout.readline().strip() == "streaming"
    client.kill()
    client.wait()
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(paths.socket)), base_url="http://t") as http:
        deadline = time.monotonic() + 15
        while http.get("/tuitune/status").json()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert http.get("/tuitune/status").json()["in_flight"] == 0, "the generation went on without its client"
        started = time.perf_counter()
        answer = http.post("/v1/chat/completions", timeout=60, json={
            "model": "base", "max_tokens": 4, "messages": [{"role": "user", "content": "Say hi"}]})
        assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] > 0
        assert time.perf_counter() - started < 30


def test_tcp_on_a_non_loopback_address_without_a_key_is_refused(home):
    result = tuitune(home, "serve", "--host", "0.0.0.0", "--port", str(_free_port()), timeout=60)
    assert result.returncode == 2 and "needs an API key" in result.stderr
    assert not lifecycle.running(lifecycle.EnginePaths(home))


def test_tcp_requests_without_the_key_get_401_and_the_key_file_is_private(home):
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tuitune", "--home", str(home), "serve", "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        paths = lifecycle.EnginePaths(home)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert stat.S_IMODE(paths.key.stat().st_mode) == 0o600
        key = paths.key.read_text().strip()
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": key}):
            for path in ("/health", "/v1/models"):
                response = httpx.get(url + path, headers=headers, timeout=5)
                assert response.status_code == 401 and "API key" in response.json()["error"]["message"]
        posted = httpx.post(f"{url}/v1/chat/completions", json={"model": "base", "messages": []}, timeout=5)
        assert posted.status_code == 401
        allowed = httpx.get(f"{url}/health", headers={"Authorization": f"Bearer {key}"}, timeout=5)
        assert allowed.status_code in (200, 503) and "status" in allowed.json()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def test_an_idle_server_ends_itself_after_the_idle_timeout_unless_an_open_client_keeps_it(home, settings):
    from tuitune.client import EngineClient

    env_run = subprocess.run([sys.executable, "-m", "tuitune", "--home", str(home), "ask", "--max-new-tokens", "2",
                              "hi"], capture_output=True, text=True, timeout=600,
                             env={**os.environ, "TUITUNE_ENGINE_IDLE_TIMEOUT_S": "3"})
    assert env_run.returncode == 0, env_run.stderr
    paths = lifecycle.EnginePaths(home)
    client = EngineClient(settings)  # an open app: no request, only its keepalives
    client.load()
    kept_until = time.monotonic() + 8
    while time.monotonic() < kept_until:
        assert client.keepalive() and lifecycle.running(paths)
        time.sleep(1)
    client.close()
    deadline = time.monotonic() + 60
    while lifecycle.running(paths) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not lifecycle.running(paths), "the idle server kept running"
    assert "no request for 3 s" in paths.log.read_text()
