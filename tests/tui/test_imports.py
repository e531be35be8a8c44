"""The window must paint before torch is imported: building the app imports neither torch nor transformers."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys, tempfile
from tuitune.config import load_settings
from tuitune.tui.app import make_app
make_app(load_settings(tempfile.mkdtemp()))
heavy = sorted(name for name in ("torch", "transformers", "peft", "trl", "bitsandbytes") if name in sys.modules)
print(",".join(heavy))
"""


def test_building_the_app_imports_no_model_code():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == ""
