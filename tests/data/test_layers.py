"""config/store/model -> data -> {chat, training, exchange}: the three never import one another, and the data layer
imports none of them. Checked on the source (every import statement, the ones inside functions too) and in a fresh
interpreter (what importing each one really loads)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tuitune"
SIBLINGS = ("chat", "training", "exchange")
ABOVE_DATA = (*SIBLINGS, "tui", "cli", "client", "server")


def _imported(path: Path) -> set[str]:
    """Every tuitune module a file imports."""
    package = ".".join(("tuitune", *path.relative_to(PACKAGE).parent.parts))
    return _imports_in(path.read_text(encoding="utf-8"), package)


def _imports_in(source: str, package: str) -> set[str]:
    """Every tuitune module `source` (a module of `package`) imports, absolute and relative, at any depth."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from tuitune import training`
    return {name for name in found if name == "tuitune" or name.startswith("tuitune.")}


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


@pytest.mark.parametrize("part", SIBLINGS)
def test_chat_training_and_exchange_never_import_one_another(part):
    crossing = {
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in sorted((PACKAGE / part).rglob("*.py"))
        for module in _imported(path)
        if _part(module) in SIBLINGS and _part(module) != part
    }
    assert not crossing


def test_the_data_layer_imports_nothing_above_it():
    above = {
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in sorted((PACKAGE / "data").rglob("*.py"))
        for module in _imported(path)
        if _part(module) in ABOVE_DATA
    }
    assert not above


def test_the_walk_sees_every_way_of_writing_an_import():
    source = (
        "import tuitune.chat\n"
        "def later():\n"
        "    from tuitune import training\n"
        "    from ..chat import session\n"
        "    from . import formats\n"
    )
    found = {_part(m) for m in _imports_in(source, "tuitune.exchange")}
    assert {"chat", "training", "exchange"} <= found


@pytest.mark.parametrize("part", (*SIBLINGS, "data"))
def test_importing_one_part_loads_none_of_the_others(part):
    script = f"import json, sys\nimport tuitune.{part}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    others = {f"tuitune.{other}" for other in (ABOVE_DATA if part == "data" else SIBLINGS) if other != part}
    assert not others & loaded
    assert not {name for name in loaded if name == "textual" or name.startswith("textual.")}
