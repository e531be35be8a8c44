"""What tuitune's client sends vLLM, without vLLM: a stand-in HTTP server that answers as vLLM's OpenAI server does
and records every request. The prompt goes as the ids tuitune renders, Meta's for Llama-2 whatever the folder's
`legacy` flag (`reference.json`); adapters go under a name per version, never reloaded in place.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LLAMA2 = REPO.parent / "shared" / "llama2"
PROMPTS = REPO / "prompts"
# The hub's meta-llama/Llama-2-7b-chat-hf writes "▁" with a normalizer, not the Metaspace pre-tokenizer.
HUB_NORMALIZER = {
    "type": "Sequence",
    "normalizers": [
        {"type": "Prepend", "prepend": "▁"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
    ],
}

pytestmark = pytest.mark.skipif(
    not (LLAMA2 / "reference.json").is_file(),
    reason=f"Meta's Llama-2 tokenizer and reference ids are not at {LLAMA2} (the shared folder beside the repo)",
)


class FakeVllm(ThreadingHTTPServer):
    """vLLM's answers to what tuitune asks: health, models, a streamed completion, adapters loaded by name (a name
    it holds already is refused without `load_inplace`). `requests` holds (path, body) of every POST."""

    def __init__(self, base: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.base = base
        self.adapters: dict[str, str] = {}
        self.requests: list[tuple[str, dict]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def posted(self, path: str) -> list[dict]:
        return [body for where, body in self.requests if where == path]


class _Handler(BaseHTTPRequestHandler):
    server: FakeVllm

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/health":
            self._json(200, {})
        elif self.path == "/v1/models":
            base = {"id": self.server.base, "root": self.server.base, "parent": None, "max_model_len": 4096}
            held = self.server.adapters.items()
            cards = [{"id": name, "root": root, "parent": self.server.base} for name, root in held]
            self._json(200, {"object": "list", "data": [base, *cards]})
        else:
            self._json(404, {"error": {"message": "Not Found", "code": 404}})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, body))
        adapters = self.server.adapters
        if self.path == "/v1/load_lora_adapter":
            if body["lora_name"] in adapters and not body.get("load_inplace"):
                self._json(400, {"error": {"message": f"The lora adapter '{body['lora_name']}' has already been "
                                                      "loaded.", "code": 400}})
                return
            adapters[body["lora_name"]] = body["lora_path"]
            self._json(200, {})
        elif self.path == "/v1/unload_lora_adapter":
            found = adapters.pop(body["lora_name"], None)
            self._json(200 if found else 404, {} if found else {"error": {"message": "not found", "code": 404}})
        elif self.path == "/v1/completions":
            if body["model"] not in (self.server.base, *adapters):
                self._json(404, {"error": {"message": f"The model `{body['model']}` does not exist.", "code": 404}})
                return
            self._stream(body)
        else:
            self._json(404, {"error": {"message": "Not Found", "code": 404}})

    def _stream(self, body: dict) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        model = body["model"]
        for text, finish in (("Hello", None), (" there", "stop")):
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
            self._event({"object": "text_completion", "model": model, "choices": [choice]})
        usage = {"prompt_tokens": len(body["prompt"]), "completion_tokens": 2, "total_tokens": len(body["prompt"]) + 2}
        self._event({"object": "text_completion", "model": model, "choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")

    def _event(self, data: dict) -> None:
        self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def _json(self, status: int, data: dict) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((LLAMA2 / "reference.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=["tokenizer-legacy-true", "tokenizer-legacy-false", "hub-normalizer"])
def tokenizer_folder(request, tmp_path_factory) -> Path:
    """Both shared folders, and the legacy-false one as the hub writes its tokenizer.json."""
    if request.param != "hub-normalizer":
        return LLAMA2 / request.param
    folder = tmp_path_factory.mktemp("hub") / "Llama-2-7b-chat-hf"
    shutil.copytree(LLAMA2 / "tokenizer-legacy-false", folder)
    state = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    state["normalizer"], state["pre_tokenizer"] = HUB_NORMALIZER, None
    (folder / "tokenizer.json").write_text(json.dumps(state), encoding="utf-8")
    return folder


def serve(base: str):
    server = FakeVllm(base)
    threading.Thread(target=server.serve_forever, name="fake-vllm", daemon=True).start()
    return server


def attached_client(home: Path, server: FakeVllm, template: str = ""):
    from tuitune.client import EngineClient
    from tuitune.config import load_settings

    settings = load_settings(home, {"engine.backend": "vllm", "engine.url": server.url, "model.template": template},
                             environ={})
    client = EngineClient(settings)
    client.load()
    return client


@pytest.mark.parametrize("template", ["", "llama-2-chat"], ids=["own-template", "llama-2-chat"])
def test_vllm_is_sent_metas_ids_as_the_prompt(tokenizer_folder, template, reference, tmp_path):
    server = serve(str(tokenizer_folder))
    try:
        client = attached_client(tmp_path / "home", server, template)
        for case in reference["chat"]:
            generation = client.generate(case["messages"], max_new_tokens=7)
            assert "".join(generation) == "Hello there"
            [(path, body)] = server.requests[-1:]
            assert path == "/v1/completions" and body["prompt"] == case["ids"], case["name"]
            assert "messages" not in body
            gen = client.settings.generation
            assert body == {"model": str(tokenizer_folder), "prompt": case["ids"], "stream": True,
                            "stream_options": {"include_usage": True}, "max_tokens": 7,
                            "temperature": gen.temperature, "top_p": gen.top_p,
                            "repetition_penalty": gen.repetition_penalty}
            stats = generation.stats
            assert (stats.prompt_tokens, stats.dropped_turns, stats.new_tokens) == (len(case["ids"]), 0, 2)
            assert stats.finish == "eos" and stats.adapter is None
        client.close()
    finally:
        server.shutdown()


def test_the_client_renders_as_the_engine_renders(tokenizer_folder):
    """The same template choice and the same ids as tuitune's engine with transformers' tokenizer, for any template:
    the fingerprint covers both (it names the ids of a probe conversation, with and without an answer)."""
    from transformers import AutoTokenizer

    from tuitune.client.prompt_ids import FolderTokenizer
    from tuitune.model.templates import choose_template, fingerprint

    engine_side, client_side = AutoTokenizer.from_pretrained(str(tokenizer_folder)), FolderTokenizer(tokenizer_folder)
    for template in ("", "llama-2-chat", "chatml"):
        assert fingerprint(choose_template(client_side, template, PROMPTS)) == fingerprint(
            choose_template(engine_side, template, PROMPTS)), template


def test_rendering_for_vllm_does_not_import_torch():
    code = ("import sys\n"
            "from pathlib import Path\n"
            "from tuitune.client.prompt_ids import FolderTokenizer\n"
            "from tuitune.model.templates import choose_template, render_ids\n"
            f"tokenizer = FolderTokenizer(Path({str(LLAMA2 / 'tokenizer-legacy-false')!r}))\n"
            f"choose_template(tokenizer, '', Path({str(PROMPTS)!r}))\n"
            "assert render_ids(tokenizer, [{'role': 'user', 'content': 'Hi'}])[:2] == [1, 518]\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_long_conversation_drops_its_oldest_turns_to_fit_vllms_window(tmp_path):
    server = serve(str(LLAMA2 / "tokenizer-legacy-false"))
    try:
        client = attached_client(tmp_path / "home", server)
        long_turns = []
        for i in range(40):
            long_turns += [{"role": "user", "content": f"Question {i}: " + "word " * 60},
                           {"role": "assistant", "content": "answer " * 40}]
        messages = [{"role": "system", "content": "Be brief."}, *long_turns, {"role": "user", "content": "Last?"}]
        generation = client.generate(messages, max_new_tokens=96)
        "".join(generation)
        prompt = server.posted("/v1/completions")[-1]["prompt"]
        assert len(prompt) <= 4096 - 96 and generation.stats.dropped_turns > 0
        assert generation.stats.prompt_tokens == len(prompt)

        from tuitune.errors import EngineError

        with pytest.raises(EngineError, match="the prompt is empty"):
            client.generate([{"role": "user", "content": "  "}])
        with pytest.raises(EngineError, match="at most"):
            client.generate([{"role": "user", "content": "word " * 5000}])
        client.close()
    finally:
        server.shutdown()


def test_adapters_go_to_vllm_under_a_name_per_version_never_in_place(tmp_path):
    server = serve(str(LLAMA2 / "tokenizer-legacy-true"))
    folder = tmp_path / "adapters" / "tldr"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(b"version one")
    try:
        client = attached_client(tmp_path / "home", server)
        client.load_adapter("tldr", str(folder))
        [first] = server.posted("/v1/load_lora_adapter")
        assert "load_inplace" not in first and first["lora_path"] == str(folder)
        served = first["lora_name"]
        assert served.startswith("tldr@") and client.loaded_adapters == {"tldr": str(folder)}

        client.load_adapter("tldr", str(folder))  # the same version again (a switch back to it): nothing to load
        assert len(server.posted("/v1/load_lora_adapter")) == 1

        generation = client.generate([{"role": "user", "content": "Hi"}])
        "".join(generation)
        assert server.posted("/v1/completions")[-1]["model"] == served and generation.stats.adapter == "tldr"

        (folder / "adapter_model.safetensors").write_bytes(b"version two, retrained")
        client.load_adapter("tldr", str(folder))
        second = server.posted("/v1/load_lora_adapter")[-1]
        assert second["lora_name"] not in (served, "tldr") and "load_inplace" not in second
        assert set(server.adapters) == {second["lora_name"]}  # the old version unloaded once the new one is in
        "".join(client.generate([{"role": "user", "content": "Hi"}]))
        assert server.posted("/v1/completions")[-1]["model"] == second["lora_name"]

        server.adapters.clear()  # vLLM restarted: the next answer loads the adapter again and is sent
        again = client.generate([{"role": "user", "content": "Hi"}])
        assert "".join(again) == "Hello there" and set(server.adapters) == {second["lora_name"]}

        client.unload_adapter("tldr")
        assert server.adapters == {} and client.loaded_adapters == {} and client.active_adapter is None
        client.close()
    finally:
        server.shutdown()
