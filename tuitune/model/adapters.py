"""Check a PEFT LoRA adapter folder against the loaded base before peft ever sees it.

Only safetensors are read (a pickled .bin is never opened), and every tensor's name and shape is matched to a
module of the base, so a foreign, truncated or empty adapter is refused with one clear message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitune.errors import TuituneError

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
METADATA = "tuitune.json"  # written beside adapters tuitune trains: base model, template fingerprint, examples
_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<part>[AB])(?:\.(?P<name>[^.]+))?\.weight$")


class AdapterError(TuituneError, ValueError):
    """The adapter cannot be used with this base; the message says why."""


@dataclass(frozen=True)
class AdapterCheck:
    path: Path
    config: dict[str, Any]
    metadata: dict[str, Any]
    tensors: int


def read_metadata(folder: Path) -> dict[str, Any]:
    path = folder / METADATA
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def validate(folder: str | Path, model: Any, base_name: str | None = None) -> AdapterCheck:
    folder = Path(folder)
    if not folder.is_dir():
        raise AdapterError(f"{folder}: no such adapter folder")
    weights = folder / WEIGHTS
    if not weights.is_file():
        if (folder / "adapter_model.bin").is_file():
            raise AdapterError(f"{folder}: only a pickled adapter_model.bin; tuitune loads safetensors only")
        raise AdapterError(f"{folder}: no {WEIGHTS}")
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AdapterError(f"{folder}: unreadable {CONFIG} ({exc.__class__.__name__})") from None
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise AdapterError(f"{folder}: a {config.get('peft_type')!r} adapter; tuitune loads LoRA adapters")
    metadata = read_metadata(folder)
    if base_name and metadata.get("base_model") and metadata["base_model"] != base_name:
        raise AdapterError(f"{folder}: trained on {metadata['base_model']}, but the loaded base is {base_name}")
    shapes = _tensor_shapes(weights)
    if not shapes:
        raise AdapterError(f"{folder}: the adapter holds no tensors")
    _match_modules(folder, shapes, model, config)
    return AdapterCheck(folder, config, metadata, len(shapes))


def _tensor_shapes(weights: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    try:
        # Opening checks that the data covers every tensor the header lists, so a cut-short file fails here.
        with safe_open(str(weights), framework="pt") as handle:
            # Not SIM118's `key in handle`: a safe_open handle has keys() but is not iterable.
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises several types for a damaged file
        raise AdapterError(f"{weights}: corrupt or truncated safetensors ({str(exc).splitlines()[0][:120]})") from None


def _base_modules(model: Any) -> dict[str, Any]:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return dict(base.named_modules())


def _module_features(module: Any) -> tuple[int, int] | None:
    for inner in (module, getattr(module, "base_layer", None)):
        if inner is not None and hasattr(inner, "in_features") and hasattr(inner, "out_features"):
            return int(inner.in_features), int(inner.out_features)
    return None


def _match_modules(folder: Path, shapes: dict[str, tuple[int, ...]], model: Any, config: dict[str, Any]) -> None:
    modules = _base_modules(model)
    rank = int(config.get("r", 0) or 0)
    seen: dict[str, set[str]] = {}
    for key, shape in shapes.items():
        found = _LORA_KEY.match(key)
        if not found:
            raise AdapterError(f"{folder}: unexpected tensor {key!r} (not a LoRA weight)")
        module_name, part = found["module"], found["part"]
        module = modules.get(module_name)
        features = _module_features(module) if module is not None else None
        if features is None:
            raise AdapterError(f"{folder}: tensor {key!r} names a module this base does not have")
        in_features, out_features = features
        r = shape[0] if part == "A" else shape[-1]
        expected = (r, in_features) if part == "A" else (out_features, r)
        if len(shape) != 2 or shape != expected or (rank and r != rank):
            raise AdapterError(f"{folder}: {key} has shape {list(shape)}, this base needs {list(expected)}")
        seen.setdefault(module_name, set()).add(part)
    incomplete = sorted(name for name, parts in seen.items() if parts != {"A", "B"})
    if incomplete:
        raise AdapterError(f"{folder}: missing lora_A or lora_B for {incomplete[0]}")
    targets = config.get("target_modules")
    if isinstance(targets, list):
        wanted = {
            name
            for name, module in modules.items()
            if name.rsplit(".", 1)[-1] in targets and _module_features(module) is not None
        }
        missing = sorted(wanted - set(seen))
        if missing:
            raise AdapterError(f"{folder}: no weights for {len(missing)} target modules, e.g. {missing[0]}")
