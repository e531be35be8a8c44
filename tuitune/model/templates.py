"""Chat formatting: the tokenizer's own template, or one from prompts/templates when the model has none; and the
token ids it gives, at chat time and at training time alike.

Llama-2-chat is encoded the way Meta's `chat_completion` encodes it: every `<s>[INST] … [/INST] … </s>` turn on its
own, so each starts with `▁[` (518). A Hugging Face Llama tokenizer does that only with `legacy: true`; with
`legacy: false` (what transformers 5 writes on `save_pretrained`) it encodes `[` (29961) after every `<s>`. So the
template is rendered with markers in place of `<s>`/`</s>`, and each piece between them is encoded alone.

The fingerprint goes on every training run and adapter, so an adapter is never trained with one encoding and
chatted with another. It covers the template text and how this tokenizer turns it into ids: `choose_template`
appends a Jinja comment naming the ids of a probe conversation, which changes nothing rendered.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.errors import TuituneError

FALLBACK_TEMPLATE = "llama-2-chat"
# Private-use characters: no one types them, and no tokenizer treats them as special.
_BOS, _EOS = "\ue000bos\ue000", "\ue000eos\ue000"
_ENCODING_NOTE = re.compile(r"\{#- tuitune-encoding: [^#]*-#\}\n?$")
# Covers what decides ids: system folding, whitespace, several turns, unicode, text that looks like a special token.
_PROBE = [
    {"role": "system", "content": "  Be brief.\n"},
    {"role": "user", "content": " Hi there "},
    {"role": "assistant", "content": "Hello! ✓ <s>"},
    {"role": "user", "content": "Name a prime.\n- 7?"},
]


class PromptTooLong(TuituneError, ValueError):
    """The newest turn alone does not fit the context window."""


class TemplateError(TuituneError, ValueError):
    """The chat template named in the settings is missing, or renders in a way training cannot use."""


@dataclass(frozen=True)
class FittedPrompt:
    input_ids: list[int]
    dropped_turns: int  # oldest messages left out to fit the context window


def fingerprint(template: str) -> str:
    """Of the template `choose_template` returned (or `tokenizer.chat_template` after it): text and encoding."""
    return hashlib.sha256(template.encode("utf-8")).hexdigest()[:16]


def load_template(name: str, prompts_dir: Path) -> str:
    path = prompts_dir / "templates" / f"{name}.jinja"
    if not path.is_file():
        known = sorted(p.stem for p in (prompts_dir / "templates").glob("*.jinja"))
        raise TemplateError(f"no chat template {name!r}; known: {', '.join(known) or 'none'}")
    return path.read_text(encoding="utf-8")


def choose_template(tokenizer: Any, requested: str, prompts_dir: Path) -> str:
    """Set and return the template the engine (and so the trainer) chats with, noting in it how this tokenizer
    encodes, so its fingerprint changes when the ids would."""
    if requested:
        template = load_template(requested, prompts_dir)
    elif getattr(tokenizer, "chat_template", None):
        template = _ENCODING_NOTE.sub("", tokenizer.chat_template)
    else:
        template = load_template(FALLBACK_TEMPLATE, prompts_dir)
    tokenizer.chat_template = template
    tokenizer.chat_template = f"{template}{{#- tuitune-encoding: {encoding_signature(tokenizer)} -#}}\n"
    return tokenizer.chat_template


def encoding_signature(tokenizer: Any) -> str:
    """How this tokenizer and its template turn a conversation into ids, in 16 hex digits."""
    ids = render_ids(tokenizer, _PROBE) + [-1] + render_ids(tokenizer, _PROBE[:3], add_generation_prompt=False)
    mode = "segments" if is_segmented(tokenizer) else "template"
    return hashlib.sha256(f"{mode}:{len(tokenizer)}:{ids}".encode()).hexdigest()[:16]


# ---- encoding ------------------------------------------------------------------------------------------------
def _render(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt, bos_token=_BOS, eos_token=_EOS
    )


def is_segmented(tokenizer: Any) -> bool:
    """Whether the template is Llama-2's `<s>[INST]` format, whose turns are encoded one by one (as Meta does)."""
    try:
        return _render(tokenizer, [{"role": "user", "content": "x"}], True).startswith(_BOS + "[INST]")
    except Exception:  # a template that cannot render one user turn is no Llama-2 template
        return False


def render_ids(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> list[int]:
    """The ids of `messages` through the chat template: what the model sees at chat time (with the generation
    prompt) and, without it, the prompt followed by its answer at training time."""
    if not is_segmented(tokenizer):
        rendered = tokenizer.apply_chat_template(
            messages, add_generation_prompt=add_generation_prompt, tokenize=True, return_dict=False
        )
        if isinstance(rendered, dict) or hasattr(rendered, "keys"):
            rendered = rendered["input_ids"]
        return list(rendered)
    text = _render(tokenizer, messages, add_generation_prompt)
    ids: list[int] = []
    for piece in re.split(f"({_BOS}|{_EOS})", text):
        if piece == _BOS:
            ids.append(tokenizer.bos_token_id)
        elif piece == _EOS:
            ids.append(tokenizer.eos_token_id)
        elif piece:
            ids.extend(_encode_piece(tokenizer, piece))
    return ids


def _encode_piece(tokenizer: Any, text: str) -> list[int]:
    """Alone, as sentencepiece encodes a string: with its leading "▁", and "<s>" typed by a user is text."""
    encoder: Any = getattr(tokenizer, "_tuitune_pieces", None)  # a tokenizers.Tokenizer, or False for none
    if encoder is None:
        encoder = tokenizer._tuitune_pieces = _sentencepiece_bpe(tokenizer) or False
    if encoder:
        return encoder.encode(text, add_special_tokens=False).ids
    return list(tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])


def _sentencepiece_bpe(tokenizer: Any) -> Any:
    """The tokenizer's BPE with sentencepiece's merge order, for a tokenizer converted from a sentencepiece model.

    Sentencepiece merges the pair whose piece scores highest; the converted merge list ranks the whitespace-only
    pieces ("▁▁", "▁▁▁", …, which Llama-2 scores lowest of all) first. Plain Hugging Face encoding so turns "a  b"
    into `▁a ▁▁ b` where Meta has `▁a ▁ ▁b`; with those merges moved last it matched sentencepiece on 5,000 random
    turns (the plain encoding missed 1,605)."""
    import json

    from tokenizers import Tokenizer

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    state = json.loads(backend.to_str())
    model, pre = state.get("model") or {}, state.get("pre_tokenizer") or {}
    if model.get("type") != "BPE" or pre.get("type") != "Metaspace":
        return None
    pairs = [m if isinstance(m, list) else m.split(" ") for m in model["merges"]]
    blank = [p for p in pairs if set("".join(p)) == {"▁"}]
    model["merges"] = [p for p in pairs if set("".join(p)) != {"▁"}] + blank
    state["added_tokens"] = []  # special tokens typed as text stay text
    return Tokenizer.from_str(json.dumps(state))


def example_ids(
    tokenizer: Any, prompt: list[dict[str, str]], completion: list[dict[str, str]]
) -> tuple[list[int], list[int]]:
    """(prompt ids, completion ids) of one training example: the prompt exactly as chat sends it, and what follows
    it when the whole exchange is rendered (for Llama-2: the answer, a space and `</s>`)."""
    prompt_ids = render_ids(tokenizer, prompt)
    full = render_ids(tokenizer, prompt + completion, add_generation_prompt=False)
    if full[: len(prompt_ids)] != prompt_ids:
        raise TemplateError("the chat template renders a prompt differently when an answer follows it")
    return prompt_ids, full[len(prompt_ids) :]


def meta_llama2_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Meta's own `chat_completion` encoding (llama/generation.py), written out with this tokenizer: what a
    Llama-2-chat prompt must be. `doctor` and the tests hold the template's ids against it."""
    dialog = list(messages)
    if dialog and dialog[0]["role"] == "system":
        first = "<<SYS>>\n" + dialog[0]["content"] + "\n<</SYS>>\n\n" + dialog[1]["content"]
        dialog = [{"role": "user", "content": first}] + dialog[2:]
    ids: list[int] = []
    for user, answer in zip(dialog[::2], dialog[1::2], strict=False):  # a last user turn has no answer yet
        text = f"[INST] {user['content'].strip()} [/INST] {answer['content'].strip()} "
        ids += [tokenizer.bos_token_id, *_encode_piece(tokenizer, text), tokenizer.eos_token_id]
    if dialog and dialog[-1]["role"] == "user":
        ids += [tokenizer.bos_token_id, *_encode_piece(tokenizer, f"[INST] {dialog[-1]['content'].strip()} [/INST]")]
    return ids


def fit_messages(tokenizer: Any, messages: list[dict[str, str]], budget: int) -> FittedPrompt:
    """Drop the oldest turns (never the system prompt or the newest user turn) until the prompt fits `budget`.

    Whole exchanges go, so the conversation still starts with a user turn. A conversation that fits costs one
    render. One that does not is searched from its newest turn back, doubling the tail, then halving between the
    longest tail that fits and the shortest that does not (fewer turns never render longer): a few renders about
    the size of what fits, however long the conversation (re-rendering it once per dropped turn took minutes for
    3,000 turns)."""
    system = [m for m in messages[:1] if m["role"] == "system"]
    turns = messages[len(system) :]
    ids = render_ids(tokenizer, system + turns)
    if len(ids) <= budget:
        return FittedPrompt(ids, 0)
    # Where a kept tail may begin, oldest first: the whole conversation (known too long now), a user turn, or
    # the newest turn whatever it is.
    starts = [0] + [i for i in range(1, len(turns)) if turns[i]["role"] == "user" or i == len(turns) - 1]
    tails = {0: ids}

    def fits(k: int) -> bool:
        if k not in tails:
            tails[k] = render_ids(tokenizer, system + turns[starts[k] :])
        return len(tails[k]) <= budget

    newest = len(starts) - 1
    if not fits(newest):
        raise PromptTooLong(
            f"the prompt is {len(tails[newest])} tokens; at most {budget} fit (context window minus the answer budget)"
        )
    good, step = newest, 1
    while fits(max(good - step, 0)):
        good, step = good - step, step * 2
    bad = max(good - step, 0)
    while good - bad > 1:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if fits(middle) else (good, middle)
    return FittedPrompt(tails[good], starts[good])
