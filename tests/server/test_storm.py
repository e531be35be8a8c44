"""A storm of clients (issue 19): 20 streaming at once, half of them gone mid-answer. The server answers the next
request, nothing stays in flight, and its open files and memory come back to where they were."""

from __future__ import annotations

import json
import os
import threading
import time

import httpx

STORY = {"model": "base", "stream": True, "max_tokens": 3, "messages": [{"role": "user", "content": "Hi"}]}


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    """Resident memory less what the allocator keeps free for reuse: what is really held."""
    from tuitune.server.memory import trim_heap

    trim_heap()
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


def test_twenty_streaming_clients_half_dropping_leave_the_server_as_it_was(threaded_server):
    socket_path = threaded_server.url[len("unix:"):]

    def client() -> httpx.Client:
        return httpx.Client(base_url="http://tuitune", transport=httpx.HTTPTransport(uds=socket_path), timeout=120)

    def storm() -> None:
        outcomes: list[str] = []

        def stream(drop: bool) -> None:
            with client() as http, http.stream("POST", "/v1/chat/completions", json=STORY) as response:
                for line in response.iter_lines():
                    if drop and '"content": "' in line and '"role"' not in line:
                        outcomes.append("dropped")
                        return  # leaves the stream and closes the connection mid-answer
                    if line == "data: [DONE]":
                        outcomes.append("complete")

        threads = [threading.Thread(target=stream, args=(i % 2 == 0,)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        assert sorted(outcomes) == ["complete"] * 10 + ["dropped"] * 10
        deadline = time.monotonic() + 15
        while threaded_server.host.status()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threaded_server.host.status()["in_flight"] == 0
        with client() as after:
            answer = after.post("/v1/chat/completions", json={**STORY, "stream": False})
            assert answer.status_code == 200 and json.loads(answer.text)["usage"]["completion_tokens"] > 0
        time.sleep(0.5)  # uvicorn closes its side of the storm's connections

    # The first storm in a process warms thread pools and allocator arenas (up to ~300 MB measured after other tests
    # in the same process, once); the second must leave the server near where it found it (measured: +20 to +70 MB
    # across 20 threads' allocator arenas; a leak per request would show as much again at every storm).
    storm()
    fds, rss = _fds(), _rss_mb()
    started = time.perf_counter()
    storm()
    print(f"storm {time.perf_counter() - started:.1f} s: fds {fds} -> {_fds()}, RSS {rss:.0f} -> {_rss_mb():.0f} MB")
    assert _fds() <= fds + 2
    assert _rss_mb() < rss + 150
