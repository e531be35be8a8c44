"""Keep library chatter (progress bars, advisory warnings) off the user's terminal.

Progress bars and the libraries' own loggers are settings of those libraries, set once per process. Warnings are
ignored only where the chatter comes from: around a load (`quiet_warnings`), or, in the trainer's process, from the
libraries' modules (`ignore_library_warnings`); the process's other warning filters stay as they were.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

LIBRARIES = ("transformers", "bitsandbytes", "peft", "accelerate", "datasets", "trl")
_LIBRARY_MODULES = rf"({'|'.join(LIBRARIES)}|torch)(\.|$)"
_ADVISORY = (FutureWarning, UserWarning)


def quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


@contextmanager
def quiet_warnings() -> Iterator[None]:
    """Future and User warnings ignored inside the block only. `catch_warnings` swaps the process's filters, so two
    such blocks must not overlap: the engine loads its base once, before it serves, and adapters under its lock."""
    with warnings.catch_warnings():
        for category in _ADVISORY:
            warnings.filterwarnings("ignore", category=category)
        yield


def ignore_library_warnings() -> None:
    """For a process that runs the libraries from start to end (the trainer): their Future and User warnings are
    ignored for good, anyone else's still show."""
    for category in _ADVISORY:
        warnings.filterwarnings("ignore", category=category, module=_LIBRARY_MODULES)
