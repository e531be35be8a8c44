"""The folders tuitune ships beside its code: `prompts` (system prompts and chat templates) and `sample_data` (the
judged demo conversations and the eval sets). The repo keeps one copy of each, at its top level; a wheel carries
them inside this package, where `setup.py` copies them at build time."""

from __future__ import annotations

from pathlib import Path

PROMPTS, SAMPLE_DATA = "prompts", "sample_data"

_HERE = Path(__file__).resolve().parent
_CHECKOUT = _HERE.parent.parent  # the repo root when tuitune runs from a source checkout


def folder(name: str) -> Path:
    """The shipped folder `name`: the checkout's own when tuitune runs from a source checkout (an editable install
    included, so an edit shows at once), else the copy inside the installed package."""
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / name).is_dir():
        return _CHECKOUT / name
    return _HERE / name
