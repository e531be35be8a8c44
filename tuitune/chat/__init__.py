"""Actions that join the model and the store: what the CLI and the TUI both do with a conversation."""

from tuitune.chat.ab import ABRound, ABTest, Reveal
from tuitune.chat.session import Answer, Chat, ChatError
from tuitune.data.prompts import system_prompt_names, system_prompt_text  # where they live; kept here for callers

__all__ = ["ABRound", "ABTest", "Answer", "Chat", "ChatError", "Reveal", "system_prompt_names", "system_prompt_text"]
