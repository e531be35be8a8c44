"""Llama-2-chat token-exact: the ids chat sends and the ids the trainer feeds trl equal Meta's own (`reference.json`,
built by Meta's `chat_completion` with sentencepiece), whichever `legacy` flag the tokenizer folder carries, with
tuitune's llama-2-chat template and with the tokenizer's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LLAMA2 = REPO.parent / "shared" / "llama2"
PROMPTS = REPO / "prompts"
FOLDERS = ["tokenizer-legacy-true", "tokenizer-legacy-false"]

pytestmark = pytest.mark.skipif(
    not (LLAMA2 / "reference.json").is_file(),
    reason=f"Meta's Llama-2 tokenizer and reference ids are not at {LLAMA2} (the shared folder beside the repo)",
)


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((LLAMA2 / "reference.json").read_text(encoding="utf-8"))


def _tokenizer(folder: str, template: str):
    from transformers import AutoTokenizer

    from tuitune.model.templates import choose_template

    tokenizer = AutoTokenizer.from_pretrained(str(LLAMA2 / folder))
    choose_template(tokenizer, template, PROMPTS)
    return tokenizer


@pytest.fixture(scope="module", params=[(f, t) for f in FOLDERS for t in ("llama-2-chat", "")],
                ids=lambda p: f"{p[0]}-{p[1] or 'own-template'}")
def tokenizer(request):
    return _tokenizer(*request.param)


def test_the_legacy_false_folder_really_encodes_differently_without_tuitune(reference):
    from transformers import AutoTokenizer

    plain = AutoTokenizer.from_pretrained(str(LLAMA2 / "tokenizer-legacy-false"))
    case = reference["chat"][0]
    ids = plain.apply_chat_template(case["messages"], add_generation_prompt=True, tokenize=True, return_dict=False)
    assert list(ids) != case["ids"] and 29961 in ids  # `[` after <s>: the pitfall these tests guard against


def test_chat_time_ids_are_metas(tokenizer, reference):
    from tuitune.model.templates import fit_messages, meta_llama2_ids, render_ids

    for case in reference["chat"]:
        assert render_ids(tokenizer, case["messages"]) == case["ids"], case["name"]
        assert fit_messages(tokenizer, case["messages"], 4096).input_ids == case["ids"], case["name"]
        assert meta_llama2_ids(tokenizer, case["messages"]) == case["ids"], case["name"]


def test_train_time_ids_are_metas(tokenizer, reference):
    from tuitune.model.templates import example_ids

    train = reference["train"]
    prompt_ids, completion_ids = example_ids(tokenizer, train["prompt"], train["completion"])
    assert prompt_ids == train["prompt_ids"]
    assert prompt_ids + completion_ids == train["full_ids"]
    assert completion_ids[-2:] == [29871, tokenizer.eos_token_id]  # Meta's "answer </s>": a space, then EOS


def test_whitespace_and_text_that_looks_special_are_encoded_as_meta_does(tokenizer):
    """Meta strips the joined first turn, not the system and user text each; sentencepiece merges runs of spaces
    last (Hugging Face's converted merges would give `▁▁` first); `<s>` typed in a message is text."""
    from tuitune.model.templates import render_ids

    messages = [
        {"role": "system", "content": "  Be  brief. "},
        {"role": "user", "content": " Hi  there,   friend  "},
        {"role": "assistant", "content": "Hello  you. <s>"},
        {"role": "user", "content": "Code:\n    x  =  1\n"},
    ]
    # sentencepiece 0.2.3 on ../shared/llama2/tokenizer.model, through meta_reference.encode_dialog
    meta = [1, 518, 25580, 29962, 3532, 14816, 29903, 6778, 13, 29871, 1522, 29871, 11473, 29889, 29871, 13, 29966,
            829, 14816, 29903, 6778, 13, 13, 6324, 29871, 727, 29892, 259, 5121, 518, 29914, 25580, 29962, 15043,
            29871, 366, 29889, 529, 29879, 29958, 29871, 2, 1, 518, 25580, 29962, 5920, 29901, 13, 1678, 921, 29871,
            353, 259, 29896, 518, 29914, 25580, 29962]
    assert render_ids(tokenizer, messages) == meta


def test_the_fingerprint_covers_the_encoding_not_only_the_template_text(model_cache):
    from tuitune.model.loader import load_tokenizer
    from tuitune.model.source import resolve
    from tuitune.model.templates import choose_template, fingerprint, load_template

    true_fp = fingerprint(_tokenizer("tokenizer-legacy-true", "llama-2-chat").chat_template)
    false_fp = fingerprint(_tokenizer("tokenizer-legacy-false", "llama-2-chat").chat_template)
    assert true_fp == false_fp  # both give Meta's ids now: one encoding, one fingerprint
    assert true_fp != fingerprint(load_template("llama-2-chat", PROMPTS))  # not the template text alone
    other = load_tokenizer(resolve("embedded", model_cache))  # SmolLM2: a GPT-2-style byte-level vocabulary
    assert fingerprint(choose_template(other, "llama-2-chat", PROMPTS)) != true_fp  # same text, other ids


def test_choosing_the_template_again_keeps_its_fingerprint():
    from tuitune.model.templates import choose_template, fingerprint

    tokenizer = _tokenizer("tokenizer-legacy-false", "")
    first = tokenizer.chat_template
    assert fingerprint(choose_template(tokenizer, "", PROMPTS)) == fingerprint(first)
    assert first.count("tuitune-encoding") == 1
