"""trl's trainers tokenize conversations with `tokenizer.apply_chat_template`; here they get the ids chat sends
instead (`tuitune.model.templates.render_ids`), which for Llama-2 are Meta's whichever `legacy` flag the tokenizer
folder carries. Each trainer class gets a thin subclass whose dataset preparation sees `ExactIds` in place of the
tokenizer; everything else (masks, EOS, KL rows, truncation) stays trl's own.
"""

from __future__ import annotations

from typing import Any


class ExactIds:
    """What trl's dataset preparation asks of a tokenizer, answered with the chat-time ids."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def apply_chat_template(
        self,
        conversation,
        tokenize: bool = True,
        add_generation_prompt: bool = False,
        return_dict: bool = True,
        **ignored: Any,
    ):
        from tuitune.model.templates import render_ids

        if ignored.get("return_assistant_tokens_mask") or ignored.get("tools") or ignored.get("chat_template"):
            raise NotImplementedError("tuitune's trainer gives trl plain conversations: no tools, masks or template")
        if not tokenize:
            return self.tokenizer.apply_chat_template(
                conversation, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        ids = render_ids(self.tokenizer, list(conversation), add_generation_prompt=add_generation_prompt)
        return {"input_ids": ids, "attention_mask": [1] * len(ids)} if return_dict else ids

    def __getattr__(self, name: str) -> Any:
        if name == "tokenizer":  # not set yet: unpickling
            raise AttributeError(name)
        return getattr(self.tokenizer, name)


def exact(trainer_class: type) -> type:
    """`trainer_class` preparing its datasets through `ExactIds`."""

    class Exact(trainer_class):
        def _prepare_dataset(self, dataset, processing_class, *args, **kwargs):
            return super()._prepare_dataset(dataset, ExactIds(processing_class), *args, **kwargs)

    Exact.__name__ = Exact.__qualname__ = f"Exact{trainer_class.__name__}"
    return Exact
