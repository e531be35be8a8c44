"""Keep bitsandbytes' CPU-packed 4-bit weights packed while peft loads an adapter.

On CPUs with AVX512-BF16, bitsandbytes repacks a 4-bit layer at its first eval-mode forward (about 50x faster
decoding here). `state_dict()` unpacks it again, and peft calls `state_dict()` on every adapter load only to read
key names. The next forward then repacks, which is slow (the first answer after a swap pays it) and not lossless:
the base model's logits drifted by ~0.2 after one load. peft needs the keys, not unpacked base weights, so during a
load the 4-bit layers report their weights as stored.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()


@contextmanager
def weights_stay_packed() -> Iterator[None]:
    import torch
    from bitsandbytes.nn import Linear4bit

    original = Linear4bit._save_to_state_dict

    def as_stored(self, destination, prefix, keep_vars):
        state = getattr(self.weight, "quant_state", None)
        if state is not None and getattr(state, "packing_format_for_cpu", False):
            torch.nn.Module._save_to_state_dict(self, destination, prefix, keep_vars)
        else:
            original(self, destination, prefix, keep_vars)

    with _lock:
        Linear4bit._save_to_state_dict = as_stored  # type: ignore[method-assign]  # for this save only, under the lock
        try:
            yield
        finally:
            Linear4bit._save_to_state_dict = original  # type: ignore[method-assign]


def allow_cpu_repack(model: Any, allowed: bool) -> None:
    """Whether the 4-bit layers of `model` may switch to bitsandbytes' CPU inference layout at their next eval-mode
    forward (where the CPU supports it). A model being trained must not (it then learns nothing); after training,
    the layout gives chat's numerics, many times faster."""
    try:
        from bitsandbytes.nn import Linear4bit
        from bitsandbytes.nn.modules import has_avx512bf16
    except ImportError:  # pragma: no cover
        return
    supported = allowed and has_avx512bf16()
    for module in model.modules():
        if isinstance(module, Linear4bit) and hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = supported
