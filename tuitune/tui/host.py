"""What the screens and widgets reach through the app, typed: the wired services, whether the model is in yet, and
the signal that a different adapter went live."""

from __future__ import annotations

import threading
from typing import Protocol

from textual.signal import Signal

from tuitune.chat.adapters import Swap
from tuitune.services import Services


class Host(Protocol):
    services: Services
    model_ready: threading.Event  # set when loading the model ends, well or badly
    model_error: str  # why it ended badly; written before model_ready is set
    continue_latest: bool  # open the latest conversation (`tuitune --continue`) instead of a place of its own
    # Published on the event loop after every change of the live adapter, whoever made it (a swap after training,
    # the adapters screen, a deletion): subscribe with `adapter_changed.subscribe(widget, callback)`.
    adapter_changed: Signal[Swap]
