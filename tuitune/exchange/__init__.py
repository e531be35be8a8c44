"""Moving judged conversations in and out: tuitune's own lossless tree format, trl's SFT/DPO/KTO formats and
OpenAI-style chat messages. Reads and writes the store only through its methods; imports torch never."""

from tuitune.exchange.exporter import EXPORT_FORMATS, export
from tuitune.exchange.formats import FORMATS, FormatError
from tuitune.exchange.importer import ImportFileError, ImportReport, import_files, read_file

__all__ = [
    "EXPORT_FORMATS",
    "FORMATS",
    "FormatError",
    "ImportFileError",
    "ImportReport",
    "export",
    "import_files",
    "read_file",
]
