"""Issue 9, what comes from outside: hostile import files, escape sequences in names, and private data whatever
the umask (who may read the home, and who may write the config that decides what tuitune runs)."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import tuitune
from tuitune.cli import cli
from tuitune.config import SettingsError, load_settings
from tuitune.store import Store

CODE = Path(tuitune.__file__).resolve().parent.parent
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(CODE), os.environ.get("PYTHONPATH", "")]),
    "HF_HUB_OFFLINE": "1",
}
GOOD_ROW = '{"prompt": "a question", "completion": "an answer"}'
DEPTH = 100_000


def run_cli(*args: str, umask: int | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`tuitune ARGS` in its own process: memory capped (a file read without limit must fail, not swap) and a
    timeout (a FIFO read without care blocks forever)."""

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        if umask is not None:
            os.umask(umask)

    return subprocess.run(
        [sys.executable, "-m", "tuitune", *args], capture_output=True, text=True, env=ENV, timeout=timeout,
        preexec_fn=limits,
    )


def conversations(home: Path) -> int:
    if not (home / "tuitune.db").exists():
        return 0
    with Store.open(home / "tuitune.db") as store:
        return len(store.conversations())


def assert_one_error_line(done: subprocess.CompletedProcess[str], *names: str) -> str:
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith("tuitune: error:"), lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


# ---- hostile import files fail cleanly --------------------------------------------------------------------
HOSTILE = {
    "deep-array.json": ("[" * DEPTH + "]" * DEPTH, ()),
    "deep-object.jsonl": ('{"a": ' * DEPTH + "1" + "}" * DEPTH + "\n", ("line 1",)),
    "deep-in-a-line.jsonl": (GOOD_ROW + '\n{"prompt": "q", "completion": ' + "[" * DEPTH + "]" * DEPTH + "}\n",
                             ("line 2",)),
    "big-number.jsonl": (GOOD_ROW + '\n{"prompt": "q", "completion": "a", "n": ' + "9" * 5000 + "}\n", ("line 2",)),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_json_is_one_line_naming_file_and_line(tmp_path: Path, name: str) -> None:
    text, where = HOSTILE[name]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    home = tmp_path / "home"
    done = run_cli("--home", str(home), "import", str(path))
    assert "Traceback" not in done.stderr
    assert_one_error_line(done, name, *where)
    assert conversations(home) == 0


def test_dev_zero_and_a_fifo_are_refused_without_reading(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    for path, kind in (("/dev/zero", "device"), (str(fifo), "FIFO")):
        done = run_cli("--home", str(home), "import", path, timeout=30)
        line = assert_one_error_line(done, path)
        assert kind in line and "not a regular file" in line
    assert conversations(home) == 0


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path, monkeypatch) -> None:
    from tuitune.exchange import importer

    monkeypatch.setattr(importer, "MAX_FILE_BYTES", 100, raising=False)
    path = tmp_path / "big.jsonl"
    path.write_text((GOOD_ROW + "\n") * 5, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "import", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("tuitune: error:") and "big.jsonl" in result.stderr
    assert "limit" in result.stderr and len(result.stderr.splitlines()) == 1
    assert conversations(tmp_path / "home") == 0


def test_a_folder_is_one_error_line_not_a_usage_message(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.jsonl"
    folder.mkdir()
    good = tmp_path / "good.jsonl"
    good.write_text(GOOD_ROW + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "import", str(good), str(folder)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"tuitune: error: {folder}: is a folder, not a file"]
    assert conversations(tmp_path / "home") == 0  # all or nothing: the good file was not imported either


# ---- escape sequences never reach a terminal ----------------------------------------------------------------
def test_import_errors_and_reports_print_file_names_inert(tmp_path: Path) -> None:
    hostile = "title\x1b]0;pwned\x07\x1b[2J"
    bad = tmp_path / f"{hostile}.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "import", str(bad)])
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "title\\x1b]0;pwned\\x07\\x1b[2J.jsonl line 1: not valid JSON" in result.stderr

    good = tmp_path / f"{hostile}-good.jsonl"
    good.write_text(GOOD_ROW + "\n", encoding="utf-8")
    missing = tmp_path / f"{hostile}-missing.jsonl"
    out = tmp_path / f"{hostile}-out.jsonl"
    for args in (["import", str(good)], ["import", str(missing)],
                 ["export", "--format", "sft", "--out", str(out)]):  # fmt: skip
        result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), *args])
        assert "\x1b" not in result.stderr + result.stdout and "\\x1b]0;pwned" in result.stderr, args


# ---- nobody else can read the data or run code as the user -------------------------------------------------
def modes(home: Path) -> dict[str, str]:
    found = {".": oct(stat.S_IMODE(home.stat().st_mode))}
    for path in home.rglob("*"):
        if not path.is_symlink() and (path.is_file() or path.is_dir()):
            found[str(path.relative_to(home))] = oct(stat.S_IMODE(path.stat().st_mode))
    return found


def private(home: Path) -> bool:
    return all(int(mode, 8) & 0o077 == 0 for mode in modes(home).values())


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_the_first_verb_creates_a_private_home_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(GOOD_ROW + "\n", encoding="utf-8")
    for verb in (["import", str(data)], ["runs"], ["export", "--format", "sft"]):
        home = tmp_path / f"home-{verb[0]}"
        done = run_cli("--home", str(home), *verb, umask=umask)
        assert done.returncode == 0, done.stderr
        assert private(home) and modes(home)["."] == "0o700", (verb, modes(home))


# The first command may be `ask`: the model cache under the home is created before the store.
CONVERT_FIRST = """
import os, sys, types
os.umask(int(sys.argv[2], 8))
def refuse(*args, **kwargs):
    raise RuntimeError("no conversion in this test")
fake = types.SimpleNamespace(from_pretrained=refuse)
sys.modules["torch"] = types.ModuleType("torch")
sys.modules["transformers"] = types.SimpleNamespace(AutoModelForCausalLM=fake, AutoTokenizer=fake)
from pathlib import Path
from tuitune.config import load_settings
from tuitune.model.source import resolve
settings = load_settings(sys.argv[1])
gguf = Path(sys.argv[1]).parent / "tiny.gguf"
gguf.write_bytes(b"GGUF")
try:
    resolve(str(gguf), settings.cache_dir)
except RuntimeError:
    pass
"""


@pytest.mark.parametrize("umask", ["000", "022"])
def test_the_model_cache_creates_a_private_home(tmp_path: Path, umask: str) -> None:
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-c", CONVERT_FIRST, str(home), umask], capture_output=True, text=True, env=ENV
    )
    assert done.returncode == 0, done.stderr
    assert modes(home)["."] == "0o700" and modes(home)["models"] == "0o700", modes(home)


def test_an_existing_home_is_made_private_once_and_says_so(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    Store.open(home / "tuitune.db").close()
    (home / "runs" / "run-1").mkdir(parents=True)
    (home / "runs" / "run-1" / "data.jsonl").write_text("{}", encoding="utf-8")
    (home / "config.toml").write_text("[train]\nepochs = 1\n", encoding="utf-8")
    for path in (home, home / "runs", home / "runs" / "run-1"):
        path.chmod(0o755)
    for path in (home / "tuitune.db", home / "runs" / "run-1" / "data.jsonl", home / "config.toml"):
        path.chmod(0o644)
    assert not private(home)
    capsys.readouterr()

    settings = load_settings(home)
    assert settings.train.epochs == 1
    assert private(home), modes(home)
    note = capsys.readouterr().err
    assert note.count("\n") == 1 and "private" in note and str(home) in note
    load_settings(home)
    assert capsys.readouterr().err == ""


def test_a_config_others_can_write_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    marker = tmp_path / "ran"
    config = home / "config.toml"
    config.write_text(f'[train]\nlauncher = "sh -c \\"touch {marker}\\" --"\n', encoding="utf-8")
    config.chmod(0o666)
    with pytest.raises(SettingsError) as raised:
        load_settings(home)
    assert str(config) in str(raised.value) and "can write it" in str(raised.value)
    done = run_cli("--home", str(home), "runs")
    assert_one_error_line(done, "config.toml", "refusing")
    assert stat.S_IMODE(config.stat().st_mode) == 0o666  # judged as found: not quietly made private and trusted
    config.chmod(0o644)
    assert load_settings(home).train.launcher.startswith("sh -c")
    assert not marker.exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file away needs root")
def test_a_config_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    config = home / "config.toml"
    config.write_text("[train]\nepochs = 1\n", encoding="utf-8")
    config.chmod(0o644)
    os.chown(config, 65534, 65534)
    with pytest.raises(SettingsError) as raised:
        load_settings(home)
    assert "belongs to another user" in str(raised.value)


def test_private_helpers_ignore_the_umask(tmp_path: Path) -> None:
    from tuitune.private import private_mkdir, private_open, private_write_text

    old = os.umask(0)
    try:
        folder = private_mkdir(tmp_path / "a" / "b")
        with private_open(folder / "events.jsonl", "a", encoding="utf-8") as handle:
            handle.write("{}\n")
        private_write_text(folder / "run.json", "{}")
    finally:
        os.umask(old)
    assert modes(tmp_path / "a") == {".": "0o700", "b": "0o700", "b/events.jsonl": "0o600", "b/run.json": "0o600"}
