"""UI benchmarks, measured side by side in one run, on the real app in a pseudo-terminal.

first_paint_ratio   = (process start -> first frame of `tuitune`) / (time to `import torch, transformers`
                      in a fresh interpreter); target <= 0.2. The app must paint before torch is imported.
input_latency_ratio = median(key press -> the typed character drawn) while an answer streams
                      / the same while idle; target <= 1.2. The real embedded model streams the answer from
                      the engine server (its own process), as it does for users.

Usage: python bench/ui.py [--home DIR] [--keys N]      (TUITUNE_MODEL_CACHE is honoured)
Prints readable figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

TUITUNE = Path(sys.executable).parent / "tuitune"
# Characters the model will not write in an English story, so each one's arrival on screen is our key's echo.
PROBES = "αβγδεζηθικλμνξοπρστυφχψωабвгдежзийклмнопрстуфхцчшщ"


class Terminal:
    """`tuitune` in a pseudo-terminal, its output drained continuously by a thread (as a terminal would)."""

    def __init__(self, argv: list[str], env: dict[str, str], size=(100, 30)) -> None:
        self.started = time.perf_counter()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.execve(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.output = bytearray()
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.5)
                if not ready:
                    continue
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            with self.changed:
                self.output += data
                self.changed.notify_all()

    def wait_for(self, needle: str, start: int = 0, timeout: float = 300.0) -> float:
        """perf_counter when `needle` first appears in the output after byte `start`."""
        encoded = needle.encode()
        deadline = time.perf_counter() + timeout
        with self.changed:
            while encoded not in self.output[start:]:
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise TimeoutError(f"{needle!r} did not appear within {timeout}s")
                self.changed.wait(left)
            return time.perf_counter()

    def type(self, text: str) -> tuple[float, int]:
        with self.changed:
            mark = len(self.output)
        sent = time.perf_counter()
        os.write(self.fd, text.encode())
        return sent, mark

    def close(self) -> None:
        try:
            os.write(self.fd, b"\x11")  # ctrl+q
            for _ in range(100):
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    return
                time.sleep(0.1)
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        except OSError:
            pass


def torch_import_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, transformers"], check=True)
    return time.perf_counter() - start


def key_latencies(term: Terminal, probes: str) -> list[float]:
    latencies = []
    for char in probes:
        sent, mark = term.type(char)
        latencies.append(term.wait_for(char, mark, timeout=10) - sent)
        time.sleep(0.08)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", help="a tuitune home to use (default: a fresh temporary one)")
    parser.add_argument("--keys", type=int, default=20, help="key presses per measurement")
    args = parser.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="tuitune-bench-")
    env = {
        **os.environ, "TERM": "xterm-256color", "HF_HUB_OFFLINE": "1",
        "TUITUNE_GENERATION_MAX_NEW_TOKENS": "400",
    }
    keys = min(args.keys, len(PROBES) // 2)

    torch_s = torch_import_seconds()
    print(f"import torch, transformers (fresh interpreter): {torch_s:.2f} s")

    term = Terminal([str(TUITUNE), "--home", home], env)
    try:
        # The status line is plain text in the first frame; the input's placeholder is not a good marker, since
        # its first letter sits under the cursor in another style and the whole word only appears at a blink.
        painted = term.wait_for("pairs", timeout=60)
        first_paint_s = painted - term.started
        print(f"tuitune: process start -> first frame:          {first_paint_s:.2f} s")
        term.wait_for("4bit", timeout=600)  # the model is in (the first run converts the embedded GGUF)
        time.sleep(1.0)
        idle = key_latencies(term, PROBES[:keys])
        print(f"key -> screen, idle:      median {statistics.median(idle) * 1000:6.1f} ms"
              f"  (max {max(idle) * 1000:.1f})")
        for _ in range(keys):
            os.write(term.fd, b"\x7f")  # backspace the probes
        time.sleep(0.5)
        _, mark = term.type("Write a long story about a dragon who learns to read.")
        time.sleep(0.3)
        _, mark = term.type("\r")
        term.wait_for("answering", mark, timeout=120)
        time.sleep(0.5)
        streaming = key_latencies(term, PROBES[keys : 2 * keys])
        with term.changed:
            still_streaming = b"tok/s" not in term.output[mark:]
        print(f"key -> screen, streaming: median {statistics.median(streaming) * 1000:6.1f} ms"
              f"  (max {max(streaming) * 1000:.1f}){'' if still_streaming else '  [the answer ended early]'}")
        os.write(term.fd, b"\x1b")
    finally:
        term.close()
        # Quitting leaves the engine server running (that is the point); this bench's home is temporary.
        subprocess.run([str(TUITUNE), "--home", home, "serve", "--stop"], env=env, capture_output=True)

    result = {
        "torch_import_s": round(torch_s, 3),
        "first_paint_s": round(first_paint_s, 3),
        "first_paint_ratio": round(first_paint_s / torch_s, 3),
        "idle_key_ms": round(statistics.median(idle) * 1000, 2),
        "streaming_key_ms": round(statistics.median(streaming) * 1000, 2),
        "input_latency_ratio": round(statistics.median(streaming) / statistics.median(idle), 3),
        "streamed_throughout": still_streaming,
        "targets": {"first_paint_ratio": 0.2, "input_latency_ratio": 1.2},
    }
    print(f"first_paint_ratio {result['first_paint_ratio']} (target <= 0.2),"
          f" input_latency_ratio {result['input_latency_ratio']} (target <= 1.2)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
