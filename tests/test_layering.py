"""The core tensor modules import one way: each loads (in a fresh interpreter, without the
``graphc`` package's ``__init__``, which imports everything) without any module above it."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# bottom-up: each may import only the modules before it at module level
LAYERS = ["graphc.tensor", "graphc.tracing", "graphc.autograd", "graphc.dispatch",
          "graphc.factories", "graphc.functions", "graphc.tensor_methods"]

# an empty ``graphc`` package, so importing a submodule runs only that submodule's imports
_LOAD = """
import importlib, sys, types
pkg = types.ModuleType("graphc")
pkg.__path__ = [{path!r}]
sys.modules["graphc"] = pkg
importlib.import_module({name!r})
print(" ".join(sorted(m for m in sys.modules if m.startswith("graphc."))))
"""


@pytest.mark.parametrize("index", range(len(LAYERS)))
def test_module_imports_only_layers_below(index):
    name = LAYERS[index]
    code = _LOAD.format(path=str(ROOT / "graphc"), name=name)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    above = set(LAYERS[index + 1:])
    assert not loaded & above, f"{name} imports {sorted(loaded & above)} at module level"


def test_tensor_module_imports_no_dispatch():
    code = _LOAD.format(path=str(ROOT / "graphc"), name="graphc.tensor")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    loaded = set(done.stdout.split())
    # (graphc.size, the type of .shape, is a leaf: it imports nothing of graphc)
    assert loaded <= {"graphc.tensor", "graphc.errors", "graphc.size"}, loaded
