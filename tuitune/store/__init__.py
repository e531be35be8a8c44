"""The SQLite preference store: the only part of tuitune that writes SQL."""

from .ab import AdapterRating, Comparison
from .curate import BASE, CurateCounts, CurateRow
from .db import NotFound, StoreBusy, StoreError, StoreFull
from .judgements import Judged
from .records import Adapter, Conversation, Message, Run
from .runs import DEAD_TRAINER
from .store import Store

__all__ = [
    "BASE",
    "DEAD_TRAINER",
    "Adapter",
    "AdapterRating",
    "Comparison",
    "Conversation",
    "CurateCounts",
    "CurateRow",
    "Judged",
    "Message",
    "NotFound",
    "Run",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreFull",
]
