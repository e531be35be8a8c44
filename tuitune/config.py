"""One typed settings object, layered: defaults <- config.toml in the home <- TUITUNE_* environment <- flags.

Loading settings reads config.toml and, when the home exists, takes from the group and others any access to what is
in it (saying so); folders and files are created by whoever writes there, through `tuitune.private`.
A config.toml that someone else owns or can write is refused: it decides which commands tuitune runs.

Settings are frozen: a changed copy comes from `with_overrides`, checked as loading checks it, and `to_dict` /
`Settings.from_dict` carry them whole to another process (a trainer), which then reads nothing else.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuitune import shipped
from tuitune.errors import TuituneError
from tuitune.private import make_private, trusted_file_problem
from tuitune.textsafe import one_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

QUANTS = ("4bit", "8bit", "none")
BACKENDS = ("local", "vllm")
TRAIN_METHODS = ("sft", "dpo", "kto")  # trl's trainers; each has its rows (tuitune.data.rows) and export format
METHODS = ("auto", *TRAIN_METHODS)  # what train.method and --method accept
PROMOTE = ("better", "always", "never")  # train.promote: when a finished run's adapter goes live
EMBEDDED = "embedded"  # the spec of the small model shipped as a package (tuitune.model.source)
TARGET_PRESETS: dict[str, list[str] | str] = {
    "attention": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "all-linear": "all-linear",
}


class SettingsError(TuituneError, ValueError):
    """A setting has a value tuitune cannot use; the message says which and why."""


def _help(text: str, default: Any) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": text})
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class ModelSettings:
    spec: str = _help(f"'{EMBEDDED}', a local Hugging Face folder, a .gguf file, or a hub id", EMBEDDED)
    quant: str = _help("4bit (nf4 + double quantization, bf16 compute), 8bit or none", "4bit")
    device: str = _help("auto, cpu or cuda", "auto")
    template: str = _help("chat template: '' uses the tokenizer's; else a name in prompts/templates", "")
    cache_dir: str = _help("where converted models are cached; '' means <home>/models", "")

    def __post_init__(self) -> None:
        if self.quant not in QUANTS:
            raise SettingsError(f"model.quant must be one of {', '.join(QUANTS)}, not {self.quant!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise SettingsError(f"model.device must be auto, cpu or cuda, not {self.device!r}")


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = _help("new-token budget per answer", 256)
    temperature: float = _help("0 means greedy decoding", 0.0)
    top_p: float = _help("nucleus sampling when temperature > 0", 0.9)
    repetition_penalty: float = _help("1.0 means none", 1.1)
    regenerate_temperature: float = _help("F4 (regenerate) samples at this temperature, with a fresh seed", 0.8)
    regenerate_top_p: float = _help("nucleus sampling for F4 (regenerate)", 0.95)
    context_window: int = _help("tokens; 0 uses the model's own limit", 0)
    system_prompt: str = _help("a name in prompts/system or the text itself", "default")

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise SettingsError("generation.max_new_tokens must be at least 1")
        if self.temperature < 0 or self.regenerate_temperature < 0:
            raise SettingsError("generation.temperature and generation.regenerate_temperature must be >= 0")
        if not (0 < self.top_p <= 1 and 0 < self.regenerate_top_p <= 1):
            raise SettingsError("generation.top_p and generation.regenerate_top_p must be in (0, 1]")


@dataclass(frozen=True)
class LoraSettings:
    r: int = _help("LoRA rank", 16)
    alpha: int = _help("LoRA alpha", 32)
    dropout: float = _help("LoRA dropout", 0.05)
    targets: str = _help("attention (q,k,v,o), all-linear, or a comma list of module names", "attention")

    def target_modules(self) -> list[str] | str:
        if self.targets in TARGET_PRESETS:
            return TARGET_PRESETS[self.targets]
        return [name.strip() for name in self.targets.split(",") if name.strip()]


@dataclass(frozen=True)
class TrainSettings:
    method: str = _help("auto, sft, dpo or kto", "auto")
    epochs: float = _help("passes over the data", 2.0)
    max_steps: int = _help("stop after this many steps; -1 means epochs decide", -1)
    min_steps: int = _help("at least this many steps: a small set gets more passes than train.epochs", 32)
    lr: float = _help("learning rate (1e-3 measured to work on 40 examples; 2e-4 did not move)", 1e-3)
    batch_size: int = _help("examples per step (2 beat 4 on 40 examples: more updates for the same compute)", 2)
    grad_accum: int = _help("gradient accumulation steps", 1)
    max_length: int = _help("tokens per example, longer ones are cut from the left of the prompt", 512)
    beta: float = _help("DPO/KTO beta", 0.1)
    dpo_loss: str = _help("DPO's losses as trl loss_type:weight, comma-separated", "sigmoid:1,sft:1")
    kto_loss: str = _help(
        "KTO's trl loss_type (kto or apo_zero_unpaired), then sft:weight for an SFT term on the good answers "
        "(25 good and 8 bad sample answers: kto alone 0.00 -> 0.00, with sft:1 0.29, with sft:3 0.96)",
        "kto,sft:3",
    )
    min_pairs: int = _help("auto picks DPO from this many pairs (14 sample pairs taught 0.00 -> 1.00)", 14)
    min_per_label: int = _help("auto picks KTO when both labels have this many (8 bad, 25 good taught 0.96)", 8)
    seed: int = _help("random seed", 0)
    launcher: str = _help("prefix for multi-GPU runs, e.g. 'accelerate launch --multi_gpu --num_processes 8'", "")
    holdout: float = _help("share of judged user turns held out to measure every adapter (0: none)", 0.2)
    holdout_from: int = _help("judged user turns the store needs before any is held out", 10)
    promote: str = _help(
        "better: a new adapter goes live only when it agrees with your held-out judgements better than the live "
        "model, by evidence, and the checks held; always; never",
        "better",
    )
    auto_after: int = _help("start a run by itself after this many new judgements since the last run (0: off)", 0)
    measure: bool = _help("after training, score held-out behaviour prompts and check questions, base vs adapter", True)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SettingsError(f"train.method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.lr <= 0:
            raise SettingsError("train.lr must be > 0")
        if not 0 <= self.holdout < 1:
            raise SettingsError(f"train.holdout is a share of the judged turns, from 0 to below 1, not {self.holdout}")
        if self.promote not in PROMOTE:
            raise SettingsError(f"train.promote must be one of {', '.join(PROMOTE)}, not {self.promote!r}")
        if self.auto_after < 0:
            raise SettingsError("train.auto_after must be >= 0 (0 turns it off)")
        try:
            self.dpo_losses()
        except ValueError:
            raise SettingsError(f"train.dpo_loss must look like 'sigmoid:1,sft:1', not {self.dpo_loss!r}") from None
        try:
            self.kto_losses()
        except ValueError:
            raise SettingsError(
                f"train.kto_loss must be kto or apo_zero_unpaired, optionally with sft:weight, not {self.kto_loss!r}"
            ) from None

    def kto_losses(self) -> tuple[str, float]:
        """train.kto_loss as (trl loss_type, the weight of the SFT term on good answers; 0 for none)."""
        found = dict(_losses(self.kto_loss))
        kind = [name for name in found if name != "sft"]
        if len(kind) != 1 or kind[0] not in ("kto", "apo_zero_unpaired") or found[kind[0]] != 1.0:
            raise ValueError(self.kto_loss)
        return kind[0], found.get("sft", 0.0)

    def dpo_losses(self) -> list[tuple[str, float]]:
        """train.dpo_loss as (trl loss_type, weight) pairs."""
        return _losses(self.dpo_loss)


def _losses(text: str) -> list[tuple[str, float]]:
    """'sigmoid:1,sft:0.5' as [("sigmoid", 1.0), ("sft", 0.5)]; a missing weight is 1."""
    pairs = []
    for item in text.split(","):
        name, _, weight = item.strip().partition(":")
        pairs.append((name.strip(), float(weight or 1.0)))
    if not all(name for name, _ in pairs) or len({name for name, _ in pairs}) != len(pairs):
        raise ValueError(text)
    return pairs


@dataclass(frozen=True)
class EngineSettings:
    backend: str = _help("local (tuitune's own engine server) or vllm (a vLLM OpenAI server)", "local")
    url: str = _help("attach to this server; '' means the home's own server on its Unix socket", "")
    api_key: str = _help("bearer key for a TCP server; '' reads <home>/engine.key", "")
    idle_timeout_s: float = _help(
        "a server with no request, no open app (apps send a keepalive every minute) and no training job for this "
        "long ends itself and frees the model's memory; 0 means never",
        3600.0,
    )
    vllm_python: str = _help("the interpreter `tuitune serve --backend vllm` starts vLLM with", "")

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise SettingsError(f"engine.backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if self.backend == "vllm" and not self.url and not self.vllm_python:
            raise SettingsError("engine.backend vllm needs engine.url (a running vLLM) or engine.vllm_python")
        if self.idle_timeout_s < 0:
            raise SettingsError("engine.idle_timeout_s must be >= 0")


@dataclass(frozen=True)
class Settings:
    home: Path
    engine: EngineSettings = field(default_factory=EngineSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)

    @property
    def db_path(self) -> Path:
        return self.home / "tuitune.db"

    @property
    def adapters_dir(self) -> Path:
        return self.home / "adapters"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def cache_dir(self) -> Path:
        return Path(self.model.cache_dir).expanduser() if self.model.cache_dir else self.home / "models"

    @property
    def prompts_dir(self) -> Path:
        return shipped.folder(shipped.PROMPTS)

    def with_overrides(self, values: Mapping[str, Any]) -> Settings:
        """A copy with `values` as dotted keys ({"train.max_steps": 4}), None values ignored, coerced and checked
        as `load_settings` does (SettingsError names an unknown key or a bad value); this one is unchanged."""
        changes: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            if value is None:
                continue
            section, _, name = key.partition(".")
            cls = SECTIONS.get(section)
            if cls is None or name not in {f.name for f in dataclasses.fields(cls)}:
                raise SettingsError(f"unknown setting {key!r}")
            changes.setdefault(section, {})[name] = _coerce(cls, name, value)
        # Each section is built once with all its changes, so a check across fields sees the final combination.
        return dataclasses.replace(
            self, **{section: dataclasses.replace(getattr(self, section), **vals) for section, vals in changes.items()}
        )

    def to_dict(self) -> dict[str, Any]:
        """Every setting as a dotted key, and "home" as text: plain JSON that `Settings.from_dict` takes back equal."""
        flat: dict[str, Any] = {"home": str(self.home)}
        for section in SECTIONS:
            values = dataclasses.asdict(getattr(self, section))
            flat.update({f"{section}.{name}": value for name, value in values.items()})
        return flat

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settings:
        """The settings `to_dict` gave, from those values alone: no config.toml, no environment, no defaults but
        for a key the dict lacks. Checked as `with_overrides` checks."""
        home = data.get("home")
        if not home:
            raise SettingsError("these settings name no home")
        return cls(home=Path(home)).with_overrides({key: value for key, value in data.items() if key != "home"})


SECTIONS = {
    "model": ModelSettings,
    "generation": GenerationSettings,
    "lora": LoraSettings,
    "train": TrainSettings,
    "engine": EngineSettings,
}
# Short environment names for the settings people change most.
ENV_SHORTCUTS = {
    "TUITUNE_MODEL": "model.spec",
    "TUITUNE_QUANT": "model.quant",
    "TUITUNE_DEVICE": "model.device",
    "TUITUNE_MODEL_CACHE": "model.cache_dir",
    "TUITUNE_ENGINE_URL": "engine.url",
    "TUITUNE_API_KEY": "engine.api_key",
}


def default_home(environ: Mapping[str, str] = os.environ) -> Path:
    if environ.get("TUITUNE_HOME"):
        return Path(environ["TUITUNE_HOME"]).expanduser()
    data_home = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "tuitune"


def _coerce(section: type, name: str, raw: Any) -> Any:
    kind = typing.get_type_hints(section)[name]
    try:
        if kind is bool and isinstance(raw, str):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        return kind(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{section.__name__[:-8].lower()}.{name}: {raw!r} is not a valid {kind.__name__}") from None


def _env_values(environ: Mapping[str, str]) -> dict[str, str]:
    values = {key: environ[var] for var, key in ENV_SHORTCUTS.items() if environ.get(var)}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            var = f"TUITUNE_{section}_{f.name}".upper()
            if var in environ:
                values[f"{section}.{f.name}"] = environ[var]
    return values


_CONFIG_MAX_BYTES = 1 << 20


def _read_trusted(path: Path) -> str | None:
    """The text of a file that decides what tuitune runs, or None when there is none. Checked on the open file
    itself, so it cannot be swapped between the check and the read; a symlink must be this user's too."""
    try:
        link = os.lstat(path)
    except FileNotFoundError:
        return None
    # O_NONBLOCK: a FIFO planted under this name must not hang the start.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:  # a dangling symlink: as if there were no file
        return None
    with open(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SettingsError(f"{one_line(str(path))}: refusing to read it: it is not a regular file")
        problem = trusted_file_problem(path, info)
        if problem is None and stat.S_ISLNK(link.st_mode) and link.st_uid != os.geteuid():
            problem = f"it is a symlink that belongs to another user (uid {link.st_uid})"
        if problem is not None:
            raise SettingsError(f"{one_line(str(path))}: refusing to read it: {problem}")
        raw = handle.read(_CONFIG_MAX_BYTES + 1)
    if len(raw) > _CONFIG_MAX_BYTES:
        raise SettingsError(f"{one_line(str(path))}: larger than {_CONFIG_MAX_BYTES >> 20} MiB; not a settings file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{one_line(str(path))}: not valid TOML (not UTF-8 text: {exc.reason})") from None


def _file_values(path: Path) -> dict[str, Any]:
    text = _read_trusted(path)
    if text is None:
        return {}
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{one_line(str(path))}: not valid TOML ({exc})") from None
    values: dict[str, Any] = {}
    for section, table in data.items():
        if section not in SECTIONS or not isinstance(table, dict):
            raise SettingsError(f"{path}: unknown section [{section}]")
        values.update({f"{section}.{key}": value for key, value in table.items()})
    return values


def load_settings(
    home: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] = os.environ,
    note: Callable[[str], None] | None = None,
) -> Settings:
    """Build the settings; `overrides` are flags as dotted keys ('train.lr'), None values ignored.
    An existing home is made private first; `note` (default: a line on stderr) hears when that changed anything."""
    home_path = Path(home).expanduser() if home else default_home(environ)
    layered: dict[str, Any] = {}
    # config.toml is judged as found, before the home is narrowed: one that others could write is refused, not
    # quietly made private and then trusted.
    layered.update(_file_values(home_path / "config.toml"))
    secure_home(home_path, note)
    layered.update(_env_values(environ))
    layered.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return Settings(home=home_path).with_overrides(layered)


def secure_home(home: Path, note: Callable[[str], None] | None = None) -> int:
    """Take from the group and others any access to the home and what is in it; returns how many folders and
    files changed. Says so through `note` only when something did, which is once: afterwards all is private.

    Every start looks at the home and what is directly in it (a few entries); only when one of those was open to
    others is the whole tree walked, since in a private home nothing deeper can be reached by anyone else."""
    changed = make_private(home, depth=1)
    if changed:
        changed += make_private(home)
    if changed:
        (note or _note_on_stderr)(
            f"tuitune: made {one_line(str(home))} private: {len(changed)} folders and files that other users could "
            "read or enter are now yours only"
        )
    return len(changed)


def _note_on_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
