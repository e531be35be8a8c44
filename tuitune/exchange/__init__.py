"""Moving judged conversations in and out: tuitune's own lossless tree format, trl's SFT/DPO/KTO formats and
OpenAI-style chat messages. Reads and writes the store only through its methods; imports torch never.

Names are resolved on first use, so the CLI can read the export formats' names (tuitune.exchange.names) when it
builds its choices without loading the store with them.
"""

from importlib import import_module
from typing import Any

_WHERE = {
    "EXPORT_FORMATS": "tuitune.exchange.names",
    "ExportError": "tuitune.exchange.exporter",
    "ExportWriteError": "tuitune.exchange.exporter",
    "FORMATS": "tuitune.exchange.formats",
    "FormatError": "tuitune.exchange.formats",
    "ImportFileError": "tuitune.exchange.importer",
    "ImportReport": "tuitune.exchange.importer",
    "export": "tuitune.exchange.exporter",
    "import_files": "tuitune.exchange.importer",
    "read_file": "tuitune.exchange.importer",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tuitune.exchange' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
