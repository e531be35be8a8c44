"""The SQLite preference store: the only part of tuitune that writes SQL."""

from .db import NotFound
from .records import Adapter, Conversation, Message, Run
from .runs import DEAD_TRAINER
from .store import Store

__all__ = [
    "DEAD_TRAINER",
    "Adapter",
    "Conversation",
    "Message",
    "NotFound",
    "Run",
    "Store",
]
