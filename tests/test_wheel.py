"""tuitune installed from its wheel, as `pip install .` and `pipx install .` leave it: built from this repo, in a
fresh venv that sees the test venv's dependencies but not its editable tuitune, run from outside the checkout. The
system prompts, templates and sample data come from inside the installed package, and the real model answers and
trains with them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tuitune.shipped import PROMPTS, SAMPLE_DATA

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent

WHERE = """
import json, tuitune
from tuitune import shipped
from tuitune.config import load_settings
from tuitune.data import evalsets
from tuitune.model.templates import load_template
prompts_dir = load_settings(None).prompts_dir
load_template("chatml", prompts_dir)
print(json.dumps({
    "module": tuitune.__file__,
    "prompts_dir": str(prompts_dir),
    "evalsets": evalsets.load(None).behaviour_source,
    **{name: str(shipped.folder(name)) for name in (shipped.PROMPTS, shipped.SAMPLE_DATA)},
}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin folder of a fresh venv holding tuitune from a wheel of this repo and nothing else of its own."""
    root = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(REPO)],
                   check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = (root / "dist").glob("tuitune-*.whl")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # A path line, unlike `addsitedir`, does not run the .pth files there: the editable tuitune's finder stays out.
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "test-venv.pth").write_text("".join(f"{p}\n" for p in sorted(outer)), encoding="utf-8")
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)
    return env_dir / "bin"


def user_env(model_cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUITUNE_") and k != "PYTHONPATH"}
    return {**env, "HF_HUB_OFFLINE": "1", "TUITUNE_MODEL_CACHE": str(model_cache), "TUITUNE_QUANT": "none"}


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_the_installed_package_carries_the_shipped_folders_and_uses_them(installed, tmp_path, model_cache):
    result = subprocess.run([str(installed / "python"), "-c", WHERE], cwd=tmp_path, env=user_env(model_cache),
                            check=True, capture_output=True, text=True)
    where = {key: Path(value) for key, value in json.loads(result.stdout).items()}
    assert where["module"].is_relative_to(installed.parent) and not where["module"].is_relative_to(REPO)
    for name in (PROMPTS, SAMPLE_DATA):
        assert where[name] == where["module"].parent / "shipped" / name
        assert files_under(where[name]) == files_under(REPO / name)
    assert where["prompts_dir"] == where[PROMPTS]
    assert where["evalsets"] == where[SAMPLE_DATA] / "heldout_prompts.jsonl"


def test_the_installed_package_answers_imports_and_trains(installed, tmp_path, model_cache, home, tiny_eval_sets):
    """Measured on the home's two-item eval sets (as the CLI training tests), without held-out judgements to score:
    the shipped eval sets and the agreement take minutes more on a CPU and read nothing more from the package."""
    env = {**user_env(model_cache), "TUITUNE_TRAIN_HOLDOUT": "0"}

    def tuitune(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(installed / "tuitune"), "--home", str(home), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)

    where = subprocess.run([str(installed / "python"), "-c", WHERE], cwd=tmp_path, env=env, check=True,
                           capture_output=True, text=True)
    conversations = Path(json.loads(where.stdout)[SAMPLE_DATA]) / "tldr_conversations.jsonl"
    try:
        answer = tuitune("ask", "--system", "concise", "--max-new-tokens", "8", "What is the capital of France?")
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.strip()
        imported = tuitune("import", str(conversations))
        assert imported.returncode == 0, imported.stderr
        trained = tuitune("train", "--max-steps", "1")
        assert trained.returncode == 0, trained.stderr
        assert "first line ~ 2 patterns on 2 held-out prompts" in trained.stderr  # measured
        name = trained.stdout.strip().splitlines()[-1]
        assert name in tuitune("adapters").stdout
    finally:
        end_trainers(home)  # a timed-out `tuitune train` leaves its trainer running; the fixture stops the server


def end_trainers(home: Path) -> None:
    from tuitune.store import Store

    store = Store.open(home / "tuitune.db")
    try:
        for run in store.active_runs():
            if run.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(run.pid, signal.SIGTERM)
    finally:
        store.close()
