"""Prompt ids rendered by the client, for vLLM: it is sent the ids tuitune's own engine would give a conversation
(`/v1/completions` takes a list of ints as `prompt`) instead of messages to render with its own tokenizer.

Left to itself, vLLM applies the folder's chat template, and a Llama-2 folder with `legacy: false` then encodes
`[` (29961) after every `<s>` where Meta has `▁[` (518). Here the conversation goes through tuitune.model.templates,
the code the engine and the trainer use, over `FolderTokenizer`: the tokenizer folder's files read with
`tokenizers` and rendered with transformers' Jinja renderer, neither of which imports torch (AutoTokenizer does).
The folder is the one vLLM serves (its `--model`, the base card's `root`), read once, on the first answer.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from tuitune.config import Settings
from tuitune.errors import EngineError
from tuitune.model.templates import FittedPrompt, PromptTooLong, choose_template, fit_messages

TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"]
_SPECIAL = ("bos_token", "eos_token", "unk_token", "pad_token")
# How tokenizers' converter wrote a sentencepiece model before Metaspace could prepend "▁" (the hub's Llama-2
# folders); transformers' LlamaTokenizer reads it as the Metaspace pre-tokenizer below, and so must this.
_OLD_SENTENCEPIECE = {
    "type": "Sequence",
    "normalizers": [
        {"type": "Prepend", "prepend": "▁"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
    ],
}


class FolderTokenizer:
    """What tuitune.model.templates asks of a transformers tokenizer, from a tokenizer folder alone."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        config = {**_read_json(folder / "special_tokens_map.json"), **_read_json(folder / "tokenizer_config.json")}
        state = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        if state.get("normalizer") == _OLD_SENTENCEPIECE and not state.get("pre_tokenizer"):
            state["normalizer"] = None
            # transformers' LlamaTokenizer: `legacy` prefixes "▁" to every chunk between added tokens.
            scheme = "always" if config.get("legacy", False) else "first"
            state["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": False}
        self.backend_tokenizer = Tokenizer.from_str(json.dumps(state))
        self.special_tokens = {key: _content(config[key]) for key in _SPECIAL if config.get(key)}
        self.bos_token_id = self._id("bos_token")
        self.eos_token_id = self._id("eos_token")
        self.chat_template: str | None = _own_template(folder, config)
        self._as_text: Any = None

    def _id(self, key: str) -> int | None:
        token = self.special_tokens.get(key)
        return self.backend_tokenizer.token_to_id(token) if token else None

    def __len__(self) -> int:
        return self.backend_tokenizer.get_vocab_size(with_added_tokens=True)

    def __call__(self, text: str, add_special_tokens: bool = False, split_special_tokens: bool = False) -> dict:
        """As a transformers tokenizer called on one text: `split_special_tokens` reads "<s>" typed in it as text."""
        encoder = self._specials_as_text() if split_special_tokens else self.backend_tokenizer
        return {"input_ids": encoder.encode(text, add_special_tokens=add_special_tokens).ids}

    def _specials_as_text(self) -> Any:
        if self._as_text is None:
            self._as_text = type(self.backend_tokenizer).from_str(self.backend_tokenizer.to_str())
            self._as_text.encode_special_tokens = True
        return self._as_text

    def apply_chat_template(
        self,
        messages: list[dict[str, str]],
        tokenize: bool = True,
        add_generation_prompt: bool = False,
        return_dict: bool = False,
        **tokens: str,
    ) -> Any:
        """As transformers renders a chat template: its own renderer, the folder's special tokens, `tokens` over
        them; with `tokenize`, the text encoded without adding special tokens (the template writes them)."""
        from transformers.utils.chat_template_utils import render_jinja_template  # torch-free, unlike AutoTokenizer

        if not self.chat_template:
            raise EngineError("the tokenizer folder has no chat template")
        render: Any = render_jinja_template  # annotated as giving a str; it gives (texts, generation indices)
        texts, _ = render(
            [messages],
            chat_template=self.chat_template,
            add_generation_prompt=add_generation_prompt,
            **{**self.special_tokens, **tokens},
        )
        if not tokenize:
            return texts[0]
        ids = self(texts[0])["input_ids"]
        return {"input_ids": ids} if return_dict else ids


class PromptIds:
    """The ids tuitune's engine would give a conversation, for the model folder vLLM serves. Safe across threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._tokenizers: dict[str, FolderTokenizer] = {}
        self._lock = threading.Lock()

    def tokenizer(self, model: str) -> FolderTokenizer:
        """`model`'s tokenizer, with the chat template the engine would choose for it (read on first use)."""
        with self._lock:
            if model not in self._tokenizers:
                folder = tokenizer_folder(model)
                try:
                    tokenizer = FolderTokenizer(folder)
                    choose_template(tokenizer, self.settings.model.template, self.settings.prompts_dir)
                except Exception as exc:  # unreadable files, a template that does not render: the user's to fix
                    raise EngineError(f"cannot render prompts with the tokenizer in {folder}: {exc}") from None
                self._tokenizers[model] = tokenizer
            return self._tokenizers[model]

    def fit(self, model: str, messages: list[dict[str, str]], budget: int) -> FittedPrompt:
        """The prompt ids of `messages`, oldest turns dropped to fit `budget`; refusals as the engine words them."""
        if not messages or messages[-1]["role"] != "user":
            raise EngineError("a generation needs a conversation that ends with a user turn")
        if not messages[-1]["content"].strip():
            raise EngineError("the prompt is empty")
        try:
            return fit_messages(self.tokenizer(model), messages, budget)
        except PromptTooLong as exc:
            raise EngineError(str(exc)) from None


def completion_body(chat_body: dict[str, Any], prompt_ids: list[int]) -> dict[str, Any]:
    """The `/v1/completions` request that asks what `chat_body` asks of `/v1/chat/completions`, with the
    conversation given as ids: every other field (model, sampling, stream) carried over as it is."""
    body = {key: value for key, value in chat_body.items() if key != "messages"}
    body["prompt"] = prompt_ids
    return body


def tokenizer_folder(model: str) -> Path:
    """The folder with `model`'s tokenizer: `model` itself, or a hub id's tokenizer files (from the hub cache)."""
    path = Path(model).expanduser()
    if (path / "tokenizer.json").is_file():
        return path
    if path.exists() or model.count("/") != 1:
        raise EngineError(f"tuitune renders vLLM's prompts itself and needs {path / 'tokenizer.json'}")
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(model, allow_patterns=TOKENIZER_FILES))
    except Exception as exc:  # offline without it in the cache, no access, no such repository
        raise EngineError(f"cannot read {model}'s tokenizer to render prompts for vLLM: {exc}") from None
    if not (folder / "tokenizer.json").is_file():
        raise EngineError(f"{model} has no tokenizer.json, which tuitune needs to render prompts for vLLM")
    return folder


def _own_template(folder: Path, config: dict[str, Any]) -> str | None:
    """The folder's chat template, where transformers looks for it: chat_template.jinja, else the config's."""
    file = folder / "chat_template.jinja"
    if file.is_file():
        return file.read_text(encoding="utf-8")
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: [{"name": "default", "template": ...}, ...]
        template = next((t["template"] for t in template if t.get("name") == "default"), None)
    return template or None


def _content(token: Any) -> str:
    return str(token["content"]) if isinstance(token, dict) else str(token)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
