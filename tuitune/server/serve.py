"""Run a home's engine server in the foreground: take the home's lock, bind (Unix socket 0600, or TCP with a
bearer key), load the model in the background while /health says so, and end on SIGTERM or after the idle
timeout."""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from tuitune.config import Settings
from tuitune.private import private_open
from tuitune.server.lifecycle import EnginePaths, ServerError, api_key, private_dir, read_info


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, host: str | None = None, port: int = 8000, engine: object = None, announce=print) -> None:
    """Blocks until the server ends. `engine` (for tests) replaces a new tuitune.model.Engine."""
    import uvicorn

    from tuitune.server.app import make_server_app
    from tuitune.server.host import EngineHost
    from tuitune.server.http import server_config
    from tuitune.server.jobs import Jobs

    paths = EnginePaths(settings.home)
    private_dir(paths.home)
    lock = _take_lock(paths)
    os.umask(0o077)
    key = ""
    if host is not None:
        key = settings.engine.api_key or api_key(paths, create=is_loopback(host))
        if not key:
            raise ServerError(
                f"serving on {host} (not loopback) needs an API key: set TUITUNE_API_KEY, or run "
                f"`tuitune serve --new-key` once to write {paths.key}"
            )
        try:
            sock = socket.create_server((host, port), reuse_port=False)
        except OSError as exc:  # the port in use, an address not of this machine: the user's to choose again
            raise ServerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        address = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    else:
        socket_path = paths.socket
        sock = _bind_unix(socket_path)
        address = f"unix:{socket_path}"
    # Said at once, before torch loads: a client finds the address here while the server starts.
    info = {"pid": os.getpid(), "address": address, "model": settings.model.spec, "quant": settings.model.quant}
    _write_info(paths, {**info, "started": time.time()})
    if engine is None:
        from tuitune.model import Engine

        engine = Engine(settings)
    engine_host = EngineHost(engine, address)
    engine_host.jobs = Jobs(settings, engine)
    server = uvicorn.Server(server_config(make_server_app(engine_host, key), timeout_graceful_shutdown=3))
    announce(f"tuitune engine server (pid {os.getpid()}) on {address}")
    threading.Thread(target=engine_host.load, name="model-load", daemon=True).start()
    engine_host.jobs.start()
    threading.Thread(
        target=_watch,
        args=(server, engine_host, settings.engine.idle_timeout_s, lock),
        name="idle-timeout",
        daemon=True,
    ).start()
    if threading.current_thread() is threading.main_thread():
        # uvicorn re-raises SIGTERM once it has shut down; make that an exit that runs the clean-up below.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.run(sockets=[sock])
    finally:
        engine_host.jobs.stop()
        sock.close()
        if host is None:
            socket_path.unlink(missing_ok=True)
        if read_info(paths).get("pid") == os.getpid():
            paths.info.unlink(missing_ok=True)
        lock.close()


def _take_lock(paths: EnginePaths):
    handle = private_open(paths.lock, "a+")  # held for the server's whole life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        pid = read_info(paths).get("pid", "?")
        raise ServerError(f"a server already runs for this home (pid {pid}); `tuitune serve --stop` ends it") from None
    return handle


def _bind_unix(path: Path) -> socket.socket:
    private_dir(path.parent)
    path.unlink(missing_ok=True)  # left by a killed server; the lock proves no live server uses it
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    sock.listen(64)
    return sock


def _write_info(paths: EnginePaths, info: dict) -> None:
    tmp = paths.info.with_suffix(".tmp")
    with private_open(tmp, "w", encoding="utf-8") as handle:
        json.dump(info, handle)
    tmp.replace(paths.info)


FAILED_LINGER_S = 30.0  # a server whose model failed answers /health with why for this long, then ends


def _watch(server, engine_host, idle_timeout_s: float, lock) -> None:
    """End the server when it has been idle too long, when its model failed to load (after saying why for a
    while), or when its home was deleted (its lock file is gone): no server outlives its use."""
    while not server.should_exit:
        time.sleep(min(1.0, idle_timeout_s / 4) if idle_timeout_s > 0 else 1.0)
        if os.fstat(lock.fileno()).st_nlink == 0:
            print("the home was removed: ending", flush=True)
            server.should_exit = True
        elif engine_host.error and engine_host.idle_for() >= FAILED_LINGER_S:
            print(f"the model could not be loaded ({engine_host.error}): ending", flush=True)
            server.should_exit = True
        elif idle_timeout_s > 0 and engine_host.progress == "ready" and engine_host.idle_for() >= idle_timeout_s:
            print(f"no request for {idle_timeout_s:g} s (nor a keepalive from an open app): ending", flush=True)
            server.should_exit = True


class ThreadedServer:
    """An already-loaded engine served from a thread of this process, on a Unix socket: for the tests and the
    benches, which load the model once and measure the server beside the engine in one process."""

    def __init__(self, engine: object, socket_path: Path, jobs_settings: Settings | None = None) -> None:
        import uvicorn

        from tuitune.server.app import make_server_app
        from tuitune.server.host import EngineHost
        from tuitune.server.http import server_config
        from tuitune.server.jobs import Jobs

        self.url = f"unix:{socket_path}"
        self.host = EngineHost(engine, self.url)
        self.host.progress = "ready"
        if jobs_settings is not None:  # it runs fine-tuning jobs too, in that home, with those settings
            self.host.jobs = Jobs(jobs_settings, engine)
        self._sock = _bind_unix(socket_path)
        self._server = uvicorn.Server(server_config(make_server_app(self.host), timeout_graceful_shutdown=1))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="engine-server", daemon=True
        )

    def start(self) -> ThreadedServer:
        if self.host.jobs is not None:
            self.host.jobs.start()
        self._thread.start()
        while not self._server.started:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.host.jobs is not None:
            self.host.jobs.stop()
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()
