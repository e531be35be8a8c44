"""The screen at a GPU's pace: a long Markdown answer streams at 150 tokens/s into the real app in a pseudo-terminal
while keys are typed at a steady rate; then a conversation of 500 messages is opened and scrolled.

A scripted token server in this process speaks the engine server's own API (/health, /tuitune/status, /v1/models,
the chat completions SSE stream); the app attaches to it with TUITUNE_ENGINE_URL, as it would to a remote server.
The answer (~4,000 tokens: paragraphs, nested lists, a table, two long code fences) carries markers every few dozen
tokens; a marker's delay is its first appearance in the terminal's output minus the moment its token was sent.
Key-to-screen: a probe character typed into the input, until it appears in the output (the terminal's reader
thread stamps every read).

p95_ratio           = p95(key -> screen while streaming) / p95(key -> screen idle)   target <= 1.5
last_quarter_ratio  = p95(key -> screen, last quarter of the answer) / the same, first quarter   target <= 1.2
cpu_share           = the app process's CPU seconds / streamed seconds (keys typed all along)   target <= 0.30
max_token_delay_ms  = the longest a marker took from its token's sending to the screen   target <= 100
open_500_s          = Enter on a conversation of 500 messages -> its last message on screen   target <= 0.5
scroll_p95_ms       = Up in that conversation (the selection moves up a message) -> the screen changes

Usage: python bench/ui_stream.py [--tps 150] [--keys-per-s 10] [--size 120x40] [--messages 500]
Prints readable figures, then one JSON line. Measure on a quiet machine: every figure is wall-clock.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ui import TUITUNE, Terminal  # noqa: E402  (bench/ui.py: the app in a pseudo-terminal)

MODEL = "bench-150tps"
# Greek and Cyrillic letters, none of which the answer, the footer or the status line holds: each one's arrival on
# screen is our key's echo. The input is cleared every CLEAR_EVERY probes, so a letter is typed again only long
# after it left the screen.
PROBES = [chr(c) for c in range(0x3B1, 0x3CA) if c != 0x3C2] + [chr(c) for c in range(0x391, 0x3AA) if c != 0x3A2]
PROBES += [chr(c) for c in range(0x430, 0x450)] + [chr(c) for c in range(0x410, 0x430)]
CLEAR_EVERY = 20
CTRL_U = "\x15"  # the input deletes to the start of its line
TIMEOUT_S = 10.0


# ---- the answer ------------------------------------------------------------------------------------------------
class Markers:
    """Unique words written into the answer, one every few dozen tokens."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.count = prefix, 0

    def __call__(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count:04d}"


PROSE = (
    "the engine streams each token as it comes while the screen keeps up with the keys and draws what arrived "
    "without holding anything back so a reader sees the answer grow at the pace of the model on its accelerator"
)
WORDS = PROSE.split()


def sentence(m: Markers, n: int, at: int) -> str:
    words = [WORDS[(at + i * 7) % len(WORDS)] for i in range(n)]
    words.insert(n // 2, m())
    return " ".join(words).capitalize() + "."


def code_lines(m: Markers, lines: int, lang: str) -> list[str]:
    out = []
    for i in range(lines):
        name = m()
        if lang == "python":
            out.append(f"    {name} = compute(values[{i}], scale) + offset  # step {i}")
        else:
            out.append(f"    let {name}: u64 = fold(&items[{i}..], {i}) * factor; // row {i}")
    return out


def answer_text() -> str:
    """~4,000 tokens of Markdown; the last quarter is mostly one long code fence (the block that grows longest)."""
    m = Markers("zq")
    parts = ["## Streaming at a GPU's pace", ""]
    for p in range(4):
        parts += [" ".join(sentence(m, 14, p * 5 + s) for s in range(5)), ""]
    for i in range(6):
        parts.append(f"- Point {i + 1}: {sentence(m, 10, i)}")
        for j in range(3):
            parts.append(f"  - Detail {j + 1}: {sentence(m, 8, i + j)}")
            if j == 1:
                parts += [f"    1. Step one of {m()} is short.", f"    2. Step two of {m()} is short too."]
    parts += ["", "| Stage | Tokens | Marker | Notes |", "|-------|-------:|--------|-------|"]
    for r in range(14):
        parts.append(f"| stage {r} | {r * 37} | {m()} | ok {r} |")
    parts += ["", " ".join(sentence(m, 12, s) for s in range(4)), "", "```python", "def run(values, scale, offset):"]
    parts += code_lines(m, 55, "python")
    parts += ["    return values", "```", ""]
    for p in range(3):
        parts += [" ".join(sentence(m, 14, p + s) for s in range(5)), ""]
    parts += ["```rust", "fn run(items: &[u64], factor: u64) -> u64 {"]
    parts += code_lines(m, 80, "rust")
    parts += ["    0", "}", "```", "", sentence(m, 12, 3) + " " + sentence(m, 12, 9), ""]
    return "\n".join(parts)


_PIECE = re.compile(r"\s*[A-Za-z0-9_]+|\s*[^A-Za-z0-9_\s]|\s+")


def tokens(text: str) -> list[str]:
    """Pieces of about a BPE token's size; each marker is one piece (its sending time is its arrival)."""
    pieces = []
    for piece in _PIECE.findall(text):
        while len(piece) > 8:
            pieces.append(piece[:6])
            piece = piece[6:]
        pieces.append(piece)
    assert "".join(pieces) == text
    return pieces


# ---- the terminal, stamping what appears -----------------------------------------------------------------------
class Watched(Terminal):
    """Terminal whose reader stamps the first appearance of each awaited string after the moment it was awaited."""

    def __init__(self, argv: list[str], env: dict[str, str], size: tuple[int, int]) -> None:
        self.pending: dict[bytes, tuple[str, int]] = {}  # needle -> (key, output offset when awaited)
        self.seen: dict[str, float] = {}
        self.last_read = 0.0
        self.reads: list[tuple[int, float]] = []  # (output length before the read, when it was read)
        super().__init__(argv, env, size)

    def first_read_after(self, mark: int) -> float | None:
        with self.changed:
            return next((when for before, when in self.reads if before >= mark), None)

    def pending_keys(self) -> bool:
        return any(key.startswith("key") for key, _ in self.pending.values())

    def expect(self, needle: str, key: str) -> None:
        with self.changed:
            self.pending[needle.encode()] = (key, len(self.output))

    def _drain(self) -> None:  # Terminal's reader, plus the stamps
        import select

        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.5)
                if not ready:
                    continue
                data = os.read(self.fd, 65536)
            except OSError:
                return
            now = time.perf_counter()
            if not data:
                return
            with self.changed:
                before = len(self.output)
                self.output += data
                self.last_read = now
                self.reads.append((before, now))
                for needle, (key, start) in list(self.pending.items()):
                    if self.output.find(needle, max(start, before - len(needle) + 1)) >= 0:
                        self.seen[key] = now
                        del self.pending[needle]
                self.changed.notify_all()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- the scripted engine server --------------------------------------------------------------------------------
class TokenServer:
    """The engine server's API with a scripted answer played at `tps` tokens a second."""

    def __init__(self, pieces: list[str], tps: float, term_ref: list) -> None:
        self.pieces, self.tps, self.term_ref = pieces, tps, term_ref
        self.sent_at: list[float] = []  # per piece
        self.started = threading.Event()
        self.done = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args) -> None:
                pass

            def _json(self, body: dict, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._json({"status": "ok"})
                elif self.path in ("/tuitune/status", "/v1/status"):
                    self._json({"pid": os.getpid(), "backend": "local", "state": "ready", "model": MODEL,
                                "model_path": "", "quant": "none", "device": "scripted", "footprint_mb": 0.0,
                                "context_window": 32768, "adapters": {}, "jobs": None})
                elif self.path == "/v1/models":
                    self._json({"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0,
                                "owned_by": "tuitune", "root": MODEL, "parent": None, "max_model_len": 32768}]})
                else:
                    self._json({"error": {"message": "not here", "type": "NotFoundError", "code": 404}}, 404)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/tuitune/keepalive":
                    self._json({"status": "ok"})
                elif self.path == "/v1/chat/completions":
                    server.stream(self)
                else:
                    self._json({"error": {"message": "not here", "type": "NotFoundError", "code": 404}}, 404)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def stream(self, handler: BaseHTTPRequestHandler) -> None:
        import socket

        handler.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True

        def event(body: dict) -> None:
            handler.wfile.write(f"data: {json.dumps(body)}\n\n".encode())
            handler.wfile.flush()

        def chunk(delta: dict | None, finish: str | None = None, **extra) -> dict:
            body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": MODEL}
            body["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
            return {**body, **extra}

        term = self.term_ref[0]
        event(chunk({"role": "assistant", "content": ""}, tuitune={"prompt_tokens": 12, "dropped_turns": 0}))
        start = time.perf_counter()
        self.started.set()
        for index, piece in enumerate(self.pieces):
            due = start + index / self.tps
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            for marker in re.findall(r"zq\d{4}", piece):
                term.expect(marker, marker)
            self.sent_at.append(time.perf_counter())
            event(chunk({"content": piece}))
        event(chunk({}, "stop"))
        usage = {"prompt_tokens": 12, "completion_tokens": len(self.pieces), "total_tokens": 12 + len(self.pieces),
                 "ttft_s": 0.0, "tokens_per_s": self.tps}
        event(chunk(None, usage=usage))
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
        self.done.set()


# ---- a long conversation ---------------------------------------------------------------------------------------
def long_conversation(home: str, messages: int) -> None:
    """`messages` turns, every third answer long (paragraphs, a list, a code fence); each ends with its own marker."""
    from tuitune.config import load_settings
    from tuitune.store import Store

    store = Store.open(load_settings(home, {}).db_path)
    conversation = store.new_conversation(title=f"bench: {messages} messages")
    m = Markers("lm")
    parent = None
    for i in range(messages):
        if i % 2 == 0:
            text = f"Question {i}: {sentence(m, 12, i)} end{i:04d}"
            role = "user"
        elif i % 6 == 1:
            code = "\n".join(code_lines(m, 25, "python"))
            paragraphs = "\n\n".join(" ".join(sentence(m, 14, i + s) for s in range(4)) for _ in range(3))
            items = "\n".join(f"- {sentence(m, 9, i + k)}" for k in range(6))
            text = f"{paragraphs}\n\n{items}\n\n```python\n{code}\n```\n\nDone: end{i:04d}"
            role = "assistant"
        else:
            text, role = f"{sentence(m, 20, i)} {sentence(m, 16, i + 3)} end{i:04d}", "assistant"
        parent = store.add_message(conversation, role, text, parent_id=parent)
    store.close()


# ---- measuring -------------------------------------------------------------------------------------------------
def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(values), "p50": statistics.median(values) * 1000, "p95": p95 * 1000, "max": ordered[-1] * 1000}


def line(label: str, values: list[float]) -> str:
    s = summary(values)
    return f"{label:<34} p50 {s['p50']:6.1f} ms  p95 {s['p95']:6.1f} ms  max {s['max']:6.1f} ms  (n {s['n']})"


class Typist:
    """Types a probe every `interval` seconds (clearing the input every CLEAR_EVERY), and says when each was sent."""

    def __init__(self, term: Watched, interval: float) -> None:
        self.term, self.interval = term, interval
        self.sent: list[tuple[str, float, str]] = []  # (key, sent, phase)
        self.phase = "idle"
        self.typed = 0
        self.next_at = time.perf_counter()

    def type_for(self, seconds: float | None = None, until: threading.Event | None = None) -> None:
        end = time.perf_counter() + seconds if seconds is not None else None
        while (end is None or time.perf_counter() < end) and not (until is not None and until.is_set()):
            self.next_at += self.interval
            if (wait := self.next_at - time.perf_counter()) > 0:
                time.sleep(wait)
            else:
                self.next_at = time.perf_counter()
            if self.typed and self.typed % CLEAR_EVERY == 0 and not getattr(self, "_cleared", False):
                with self.term.changed:  # a probe cleared before it was drawn would never show
                    self.term.changed.wait_for(lambda: not self.term.pending_keys(), timeout=TIMEOUT_S)
                os.write(self.term.fd, CTRL_U.encode())
                self._cleared = True
                continue
            self._cleared = False
            char = PROBES[self.typed % len(PROBES)]
            key = f"key{len(self.sent)}"
            self.term.expect(char, key)
            sent = time.perf_counter()
            os.write(self.term.fd, char.encode())
            self.sent.append((key, sent, self.phase))
            self.typed += 1

    def latencies(self, phase: str) -> tuple[list[float], int]:
        keys = [(k, s) for k, s, p in self.sent if p == phase]
        got = [self.term.seen[k] - s for k, s in keys if k in self.term.seen]
        return got, len(keys) - len(got)


def wait_quiet(term: Watched, quiet_s: float = 0.05, timeout: float = 5.0) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and time.perf_counter() - term.last_read < quiet_s:
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tps", type=float, default=150.0, help="tokens a second")
    parser.add_argument("--keys-per-s", type=float, default=10.0, help="probe keys a second")
    parser.add_argument("--idle-s", type=float, default=8.0, help="seconds of typing before the answer")
    parser.add_argument("--size", default="120x40", help="terminal columns x rows")
    parser.add_argument("--messages", type=int, default=500, help="messages in the long conversation (0: skip)")
    parser.add_argument("--scroll-keys", type=int, default=150, help="Up presses in the long conversation")
    parser.add_argument("--profile", help="run the app under py-spy, writing collapsed stacks here")
    parser.add_argument("--slow-markers", action="store_true", help="list the markers that took over 100 ms")
    parser.add_argument("--cut", type=float, default=1.0, help="play only this share of the answer (quick runs)")
    args = parser.parse_args()
    columns, rows = (int(v) for v in args.size.split("x"))

    pieces = tokens(answer_text())
    pieces = pieces[: max(1, int(len(pieces) * args.cut))]
    home = tempfile.mkdtemp(prefix="tuitune-bench-stream-")
    if args.messages:
        long_conversation(home, args.messages)
    term_ref: list = []
    server = TokenServer(pieces, args.tps, term_ref)
    env = {**os.environ, "TERM": "xterm-256color", "TUITUNE_ENGINE_URL": server.url, "HF_HUB_OFFLINE": "1"}
    print(f"answer: {len(pieces)} tokens, {sum(map(len, pieces))} characters at {args.tps:g} tokens/s;"
          f" {args.keys_per_s:g} keys/s; terminal {columns}x{rows}")

    argv = [str(TUITUNE), "--home", home]
    if args.profile:
        spy = Path(sys.executable).parent / "py-spy"
        argv = [str(spy), "record", "--format", "raw", "-r", "250", "-o", args.profile, "--", *argv]
    term = Watched(argv, env, (columns, rows))
    term_ref.append(term)
    typist = Typist(term, 1.0 / args.keys_per_s)
    result: dict = {}
    try:
        term.wait_for(MODEL, timeout=60)  # the status line names the attached model
        time.sleep(1.0)
        pid = term.pid
        if args.profile:  # py-spy's child is the app
            pid = int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])
        typist.next_at = time.perf_counter()
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        typist.type_for(args.idle_s)
        idle_cpu = (cpu_seconds(pid) - cpu0) / (time.perf_counter() - t0)
        os.write(term.fd, CTRL_U.encode())
        time.sleep(0.3)
        term.type("Explain streaming at a GPU's pace, with lists, a table and code.")
        time.sleep(0.3)
        term.type("\r")
        if not server.started.wait(30):
            raise TimeoutError("the app sent no request")
        time.sleep(0.05)
        typist.phase = "streaming"
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        typist.next_at = time.perf_counter()
        typist.type_for(until=server.done)
        stream_cpu_s, stream_s = cpu_seconds(pid) - cpu0, time.perf_counter() - t0
        typist.phase = "ending"  # the last draw, and the answer rendered whole
        typist.type_for(3.0)
        term.wait_for("tok/s", timeout=30)
        time.sleep(TIMEOUT_S / 5)

        # Quarters by the answer's progress when the key was sent.
        sent_at = server.sent_at
        quarter = len(sent_at) // 4
        first = [(k, s) for k, s, p in typist.sent if p == "streaming" and s < sent_at[quarter]]
        last = [(k, s) for k, s, p in typist.sent if p == "streaming" and s >= sent_at[3 * quarter]]
        idle, idle_lost = typist.latencies("idle")
        streaming, streaming_lost = typist.latencies("streaming")
        first_q = [term.seen[k] - s for k, s in first if k in term.seen]
        last_q = [term.seen[k] - s for k, s in last if k in term.seen]
        markers = {
            match: sent
            for piece, sent in zip(pieces, sent_at, strict=True)
            for match in re.findall(r"zq\d{4}", piece)
        }
        delays = [term.seen[k] - s for k, s in markers.items() if k in term.seen]
        if args.slow_markers:
            index = {m: i for i, piece in enumerate(pieces) for m in re.findall(r"zq\d{4}", piece)}
            slow = [(index[k], round((term.seen[k] - s) * 1000)) for k, s in markers.items() if k in term.seen]
            print("markers over 100 ms (token index, ms):", [x for x in slow if x[1] > 100])
        lost_markers = sorted(k for k in markers if k not in term.seen)

        print(line("key -> screen, idle", idle) + (f"  {idle_lost} lost" if idle_lost else ""))
        print(line("key -> screen, streaming", streaming) + (f"  {streaming_lost} lost" if streaming_lost else ""))
        ending, _ = typist.latencies("ending")
        print(line("  first quarter of the answer", first_q))
        print(line("  last quarter of the answer", last_q))
        print(line("key -> screen, 3 s from the last token", ending))
        print(line("token arrival -> screen", delays) + (f"  {len(lost_markers)} never shown" if lost_markers else ""))
        print(f"app CPU: {stream_cpu_s:.2f} s over {stream_s:.1f} s streamed ({stream_cpu_s / stream_s:.2f} of a core);"
              f" idle with the same keys {idle_cpu:.2f}")
        s_idle, s_stream = summary(idle), summary(streaming)
        s_first, s_last = summary(first_q), summary(last_q)
        result.update(
            p95_ratio=round(s_stream["p95"] / s_idle["p95"], 3),
            last_quarter_ratio=round(s_last["p95"] / s_first["p95"], 3),
            cpu_share=round(stream_cpu_s / stream_s, 3),
            max_token_delay_ms=round(max(delays) * 1000, 1) if delays else None,
            p95_token_delay_ms=round(summary(delays)["p95"], 1),
            markers_never_shown=len(lost_markers),
            keys_lost=idle_lost + streaming_lost,
            idle_key_ms={k: round(v, 1) for k, v in s_idle.items()},
            streaming_key_ms={k: round(v, 1) for k, v in s_stream.items()},
            first_quarter_key_ms={k: round(v, 1) for k, v in s_first.items()},
            last_quarter_key_ms={k: round(v, 1) for k, v in s_last.items()},
            ending_key_ms={k: round(v, 1) for k, v in summary(ending).items()},
            idle_cpu_share=round(idle_cpu, 3),
            tokens=len(pieces),
            tps=args.tps,
            streamed_s=round(stream_s, 2),
        )
        if args.messages:
            result.update(long_conversation_figures(term, args.messages, args.scroll_keys))
    finally:
        term.close()
        server.http.shutdown()

    result["targets"] = {"p95_ratio": 1.5, "last_quarter_ratio": 1.2, "cpu_share": 0.30, "max_token_delay_ms": 100,
                         "open_500_s": 0.5}
    print(f"p95_ratio {result.get('p95_ratio')} (target <= 1.5), last_quarter_ratio {result.get('last_quarter_ratio')}"
          f" (target <= 1.2), cpu_share {result.get('cpu_share')} (target <= 0.30), max_token_delay_ms"
          f" {result.get('max_token_delay_ms')} (target <= 100), open_500_s {result.get('open_500_s')} (target <= 0.5)")
    print(json.dumps(result))


def long_conversation_figures(term: Watched, messages: int, scroll_keys: int) -> dict:
    """Open the long conversation from the list (the newest, the one just streamed, is first; it is second) and
    move the selection up through it."""
    last = f"end{messages - 1:04d}"
    os.write(term.fd, CTRL_U.encode())
    os.write(term.fd, b"\x1b[Z")  # shift+tab: the conversation list
    time.sleep(0.5)
    os.write(term.fd, b"\x1b[B")  # down: the long conversation
    time.sleep(0.5)
    wait_quiet(term, 0.2)
    term.expect(last, "open")
    sent = time.perf_counter()
    os.write(term.fd, b"\r")
    with term.changed:
        term.changed.wait_for(lambda: "open" in term.seen, timeout=60)
    open_s = term.seen.get("open", float("nan")) - sent
    print(f"open a conversation of {messages} messages -> its last message on screen: {open_s:.3f} s")
    time.sleep(1.0)
    os.write(term.fd, b"\t")  # the messages; the last one is selected
    time.sleep(0.5)
    moves = []
    for _ in range(scroll_keys):
        wait_quiet(term, 0.06)
        mark = len(term.output)
        sent = time.perf_counter()
        os.write(term.fd, b"\x1b[A")  # up
        with term.changed:
            if not term.changed.wait_for(lambda mark=mark: len(term.output) > mark, timeout=TIMEOUT_S):
                continue
        shown = term.first_read_after(mark)
        if shown is not None:
            moves.append(shown - sent)
    print(line(f"Up (selection) in {messages} messages", moves))
    wheel = []
    for _ in range(scroll_keys):
        wait_quiet(term, 0.06)
        mark = len(term.output)
        sent = time.perf_counter()
        os.write(term.fd, b"\x1b[<64;60;10M")  # the mouse wheel, up, over the messages
        with term.changed:
            if not term.changed.wait_for(lambda mark=mark: len(term.output) > mark, timeout=TIMEOUT_S):
                continue
        shown = term.first_read_after(mark)
        if shown is not None:
            wheel.append(shown - sent)
    print(line(f"mouse wheel up in {messages} messages", wheel))
    return {
        "open_500_s": round(open_s, 3),
        "scroll_key_ms": {k: round(v, 1) for k, v in summary(moves).items()},
        "wheel_ms": {k: round(v, 1) for k, v in summary(wheel).items()},
    }


if __name__ == "__main__":
    main()
