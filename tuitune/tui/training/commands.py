"""The training entries of the command palette (ctrl+p)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from textual.app import SystemCommand


def training_commands(chat: Any) -> Iterator[SystemCommand]:
    """`chat` is the chat screen, whose actions the training keys call."""
    yield SystemCommand("Train now", "Train an adapter on your judgements with train.method (F5)", chat.action_train)
    yield SystemCommand("Train with options…", "Pick the method, epochs, max steps, lr (ctrl+t)",
                        chat.action_train_options)
    yield SystemCommand("Cancel training", "Stop the run in progress; nothing is saved (F5 while training)",
                        chat.action_cancel_training)
    yield SystemCommand("Training panel", "Show or hide the training panel (ctrl+r)", chat.action_toggle_training)
    yield SystemCommand("Before / after", "The last run's answers before and after the swap",
                        chat.action_before_after)
    yield SystemCommand("Adapters", "Switch, roll back, use the base, delete (F7)", chat.action_adapters)
