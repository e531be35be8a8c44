"""The wheel carries the repo's top-level `prompts/` and `sample_data/` inside the package, as
`tuitune/shipped/prompts` and `tuitune/shipped/sample_data`: the repo keeps one copy, and `tuitune.shipped.folder`
finds the checkout's or the package's. Everything else about the build is in pyproject.toml."""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("prompts", "sample_data")  # tuitune.shipped.PROMPTS and SAMPLE_DATA


class BuildPyWithShipped(build_py):
    """build_py that also copies the shipped folders into the built package. An editable install skips them: it
    runs from the checkout, whose own folders `tuitune.shipped.folder` picks."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for target, source in self._shipped():
            self.mkpath(str(target.parent))
            self.copy_file(str(source), str(target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        return outputs if self.editable_mode else outputs + [str(target) for target, _ in self._shipped()]

    def _shipped(self) -> list[tuple[Path, Path]]:
        into = Path(self.build_lib, "tuitune", "shipped")
        return [
            (into / source.relative_to(ROOT), source)
            for name in SHIPPED
            for source in sorted((ROOT / name).rglob("*"))
            if source.is_file() and "__pycache__" not in source.parts
        ]


setup(cmdclass={"build_py": BuildPyWithShipped})
