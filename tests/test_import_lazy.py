"""``import graphc`` loads what eager code needs and defers the rest to first use (PEP 562
``__getattr__``; docs/DESIGN-NOTES.md, "Lazy loading"). Checked through ``sys.modules`` in fresh
interpreters, never through timings; and every public name still resolves, to the same object."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# modules that `import graphc` and a first eager op must not load (each measurably slow to
# import, and needed only by compiled code, training utilities or rarely used layers)
DEFERRED = ["graphc.compile", "graphc.guards", "passes", "backends.kernel", "backends.llvm.compiler",
            "llvmlite", "numba", "graphc.optim", "graphc.data", "graphc.onnx", "graphc.testing",
            "graphc.utils", "graphc.distributions", "graphc.distributed.optim",
            "graphc.distributed.sampler", "graphc.nn.parallel", "graphc.nn.utils",
            "graphc.nn.rnn", "graphc.nn.transformer", "graphc.nn.modules",
            "graphc.serialization", "graphc.safetensors"]


def run_fresh(code: str) -> str:
    """What ``code`` prints, run in a new interpreter (which must exit 0)."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def loaded_after(code: str) -> set[str]:
    """The names in ``sys.modules`` after running ``code`` in a new interpreter."""
    return set(run_fresh(f"{code}\nimport sys\nprint(' '.join(sys.modules))").split())


@pytest.mark.parametrize("code", ["import graphc",
                                  "import graphc\nx = graphc.randn(3, requires_grad=True)\n"
                                  "(graphc.relu(x + 1) * 2).sum().backward()",
                                  "import graphc.nn.functional as F\nimport graphc\n"
                                  "F.relu(graphc.randn(2, 3) @ graphc.randn(3, 4))"])
def test_import_and_eager_ops_defer_heavy_modules(code):
    loaded = loaded_after(code)
    assert "graphc.nn.functional" in loaded and "graphc.tensor_methods" in loaded
    assert not loaded & set(DEFERRED), sorted(loaded & set(DEFERRED))


def test_first_use_loads_the_deferred_module():
    loaded = loaded_after("import graphc\ngraphc.optim.SGD\ngraphc.nn.LSTM\ngraphc.compile")
    assert {"graphc.optim", "graphc.nn.rnn", "graphc.compile", "passes"} <= loaded


def test_every_public_name_resolves_and_is_listed():
    import graphc
    from graphc import nn
    for module in (graphc, nn, graphc.distributed):
        listed = set(dir(module))
        assert set(module.__all__) <= listed, sorted(set(module.__all__) - listed)
        for name in module.__all__:
            getattr(module, name)  # AttributeError if a lazy name does not resolve
    namespace: dict = {}
    exec("from graphc import *", namespace)
    assert set(graphc.__all__) <= set(namespace)


def test_lazy_names_are_the_defining_modules_objects():
    import graphc
    import graphc.compile as _  # noqa: F401  (binds the function, as before: see below)
    from graphc import nn
    assert graphc.compile is sys.modules["graphc.compile"].compile
    assert graphc.trace is sys.modules["graphc.compile"].trace
    assert graphc.save is sys.modules["graphc.serialization"].save
    assert graphc.load_file is sys.modules["graphc.safetensors"].load_file
    assert nn.LSTM is nn.rnn.LSTM is nn.modules.rnn.LSTM
    assert nn.DataParallel is nn.parallel.DataParallel
    assert nn.TransformerDecoder is nn.modules.transformer.TransformerDecoder
    assert graphc.distributed.DistributedSampler is graphc.distributed.sampler.DistributedSampler
    assert graphc.optim is sys.modules["graphc.optim"]


@pytest.mark.parametrize("first", ["import graphc.compile", "import graphc.onnx",
                                   "from graphc.compile import compile", "import graphc"])
def test_importing_the_compile_submodule_leaves_the_function(first):
    # the import system binds a loaded submodule on its package (graphc.compile = <module>);
    # the function of that name must stay there whatever loads the submodule first
    code = (f"{first}\nimport sys, graphc\nimport graphc.onnx\n"
            "assert graphc.compile is sys.modules['graphc.compile'].compile, graphc.compile\n"
            "from graphc import compile\nassert compile is graphc.compile\n"
            "f = graphc.compile(lambda x: x * 2)\nprint(f(graphc.ones(2)).tolist())")
    assert run_fresh(code).split("\n")[0] == "[2.0, 2.0]"


def test_unknown_attribute_errors_unchanged():
    import graphc
    from graphc import nn
    with pytest.raises(AttributeError, match="module 'graphc' has no attribute 'nonexistent'"):
        graphc.nonexistent
    with pytest.raises(AttributeError, match="module 'graphc.nn' has no attribute 'Nope'"):
        nn.Nope
    with pytest.raises(ImportError):
        exec("from graphc import nonexistent", {})


def test_submodules_bound_before_stay_reachable_as_attributes():
    # ``import graphc`` used to bind these submodules on their packages as a side effect;
    # code that reaches them by attribute (torch.serialization.safe_globals's path) still can
    code = ("import graphc\n"
            "print(graphc.serialization.safe_globals.__name__, graphc.guards.StateGuard.__name__,"
            " graphc.safetensors.load.__name__, graphc.nn.rnn.LSTM.__name__,"
            " graphc.nn.transformer.scaled_dot_product_attention.__name__)")
    assert run_fresh(code).split() == ["safe_globals", "StateGuard", "load", "LSTM",
                                   "scaled_dot_product_attention"]
