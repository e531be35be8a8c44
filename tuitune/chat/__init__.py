"""Actions that join the model and the store: what the CLI and the TUI both do with a conversation."""

from tuitune.chat.ab import ABRound, ABTest, Reveal
from tuitune.chat.session import (
    Answer,
    Chat,
    ChatError,
    system_prompt_names,
    system_prompt_text,
)

__all__ = ["ABRound", "ABTest", "Answer", "Chat", "ChatError", "Reveal", "system_prompt_names", "system_prompt_text"]
