"""Text is data: make any string safe to put on a terminal, while the store keeps it verbatim.

Control characters (C0 but newline and tab, DEL, C1), bidi overrides and lone surrogates become visible escapes
such as `\\x1b` or `\\u202e`, so an ESC/CSI/OSC sequence or a right-to-left override in a model's answer shows as
text and does nothing.
"""

from __future__ import annotations

import re

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")
_UNSAFE_INLINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """The text with every unsafe character replaced by a visible escape."""
    return _UNSAFE.sub(_escape, text)


def one_line(text: str, width: int | None = None) -> str:
    """Safe, on one line (titles, table cells, notifications), cut to `width` with an ellipsis."""
    flat = visible(" ".join(text.split()))
    if width is not None and len(flat) > width:
        return flat[: max(width - 1, 0)] + "…"
    return flat


def inline(text: object) -> str:
    """Safe on one line with nothing collapsed or cut: newlines and tabs become escapes too. For what must be
    shown exactly (paths, file names, error messages that quote them)."""
    return _UNSAFE_INLINE.sub(_escape, str(text))


def error_line(exc: BaseException) -> str:
    """An exception as one safe line for a terminal: its message (names in it may come from anywhere)."""
    return inline(str(exc).strip()) or exc.__class__.__name__
