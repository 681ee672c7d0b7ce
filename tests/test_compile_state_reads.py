"""State a compiled function reads by routes less direct than a global name, and autograd's
mode: each test changes what the function reads between calls and checks the compiled result
against the same code run eagerly (the same ops in the same order: compared exactly), after
each of these once silently kept the traced value.

Routes: a user module read through ``getattr``/``vars``, held in an object's attribute or
passed as an argument; a builtin bound method (``table.get``); ``os.environ``; a user function
wrapped by graphc (``graphc.grad(f)``, ``@graphc.no_grad()``); a class defined where its
module has no file (a notebook); two modules the namer cannot
name; a static argument equal to the traced one but holding other values; a
``generator=``; NumPy's and Python's random generators (refused); the shape, dtype and
``requires_grad`` of a tensor the graph does not read; grad mode, and ``no_grad`` regions
inside a function whose outputs get a gradient.
"""
import collections
import copy
import dataclasses
import fractions
import functools
import importlib.util
import itertools
import operator
import os
import random
import sys
import types
from random import random as random_from_import

import numpy as np
import pytest

import graphc
from graphc import nn


def t(values):
    return graphc.tensor(np.asarray(values, dtype=np.float32))


@pytest.fixture
def user_module(tmp_path):
    """A fresh user module ``config`` (a file of its own) holding ``scale = 2.0``."""
    def make(name="config"):
        path = tmp_path / f"{name}.py"
        path.write_text("scale = 2.0\n")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return make


def assert_follows_eager(compiled, eager, *args):
    assert compiled(*args).tolist() == eager(*args).tolist()


# -- user modules, builtin methods, the environment -----------------------------------------------
def test_module_attributes_read_by_getattr_and_vars_are_guarded(user_module):
    config = user_module()
    # getattr with a constant name on purpose: the name is a string, not an attribute access
    for read in (lambda x: x * getattr(config, "scale"),  # noqa: B009
                 lambda x: x * vars(config)["scale"]):
        config.scale = 2.0
        f = graphc.compile(read)
        assert f(t([1.0])).tolist() == [2.0]
        config.scale = 5.0
        assert_follows_eager(f, read, t([1.0]))
        assert f.traces == 2 and "scale" in f.entries[-1].reason


def test_a_module_held_by_an_object_or_passed_as_an_argument_is_guarded(user_module):
    class Scaled(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config

        def forward(self, x):
            return x * self.config.scale

    config = user_module("held")
    model = Scaled(config)
    for compiled, eager, args in [
            (graphc.compile(model), model, (t([1.0]),)),
            (graphc.compile(model.forward), model.forward, (t([1.0]),)),
            (graphc.compile(lambda x, c: x * c.scale), lambda x, c: x * c.scale,
             (t([1.0]), config))]:
        config.scale = 2.0
        compiled(*args)
        config.scale = 5.0
        assert_follows_eager(compiled, eager, *args)
        assert compiled.traces == 2


def test_a_builtin_bound_method_reads_its_object():
    table = {"scale": 2.0}
    get = table.get
    f = graphc.compile(lambda x: x * get("scale"))
    f(t([1.0]))
    table["scale"] = 9.0
    assert f(t([1.0])).tolist() == [9.0]


def test_environment_variables_are_guarded_by_name(monkeypatch):
    monkeypatch.setenv("GRAPHC_TEST_SCALE", "2")
    f = graphc.compile(lambda x: x * float(os.environ["GRAPHC_TEST_SCALE"]))
    g = graphc.compile(lambda x: x * float(os.getenv("GRAPHC_TEST_SCALE")))
    assert f(t([1.0])).tolist() == g(t([1.0])).tolist() == [2.0]
    monkeypatch.setenv("GRAPHC_TEST_SCALE", "5")
    assert f(t([1.0])).tolist() == g(t([1.0])).tolist() == [5.0]
    assert f.entries[-1].reason == "guard failed: os.environ['GRAPHC_TEST_SCALE'] == '2' (now '5')"


# -- user functions wrapped by graphc -------------------------------------------------------------
SCALE = 2.0


def sine_sum(x):
    return (x * SCALE).sin().sum()


@graphc.no_grad()
def predict(x):
    return x * SCALE


@pytest.mark.parametrize("wrap", [graphc.grad, graphc.value_and_grad, graphc.func.jacrev,
                                  graphc.func.hessian],
                         ids=["grad", "value_and_grad", "jacrev", "hessian"])
def test_globals_of_a_function_inside_a_graphc_transform_are_guarded(wrap):
    global SCALE
    SCALE = 2.0
    compiled = graphc.compile(wrap(sine_sum))
    x = t([0.5, 0.25])
    compiled(x)
    SCALE = 3.0
    try:
        got, want = compiled(x), wrap(sine_sum)(x)
        got, want = (got[-1], want[-1]) if isinstance(got, tuple) else (got, want)
        assert got.tolist() == want.tolist()
        assert compiled.traces == 2
    finally:
        SCALE = 2.0


def test_globals_of_a_function_under_a_grad_mode_decorator_are_guarded():
    global SCALE
    compiled = graphc.compile(predict)
    compiled(t([1.0]))
    SCALE = 3.0
    try:
        assert_follows_eager(compiled, predict, t([1.0]))
    finally:
        SCALE = 2.0


# -- guards of objects without a name -------------------------------------------------------------
def test_each_of_two_unnamed_dropouts_keeps_its_training_guard():
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 4), nn.Dropout(0.5))

    @graphc.no_grad()
    def run(x):
        return model(x)

    compiled, x = graphc.compile(run), graphc.randn(8, 4)
    compiled(x)
    model[3].eval()  # only the second
    graphc.manual_seed(1)
    eager = run(x).numpy()
    graphc.manual_seed(1)
    np.testing.assert_array_equal(compiled(x).numpy(), eager)
    assert compiled.traces == 2


# -- static arguments: equal is not enough --------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Config:
    scale: float
    mode: str = dataclasses.field(default="mul", compare=False)


def configured(x, config):
    return x * config.scale if config.mode == "mul" else x + config.scale


def test_a_static_argument_equal_to_the_traced_one_is_walked_as_passed():
    f, x = graphc.compile(configured), t([-1.0, 1.0])
    f(x, Config(2.0))
    other = Config(2.0, mode="add")
    assert other == Config(2.0)
    assert_follows_eager(f, configured, x, other)
    assert f.traces == 2 and "mode" in f.entries[-1].reason


def test_a_new_but_identical_static_argument_reuses_the_trace():
    f, x = graphc.compile(configured), t([-1.0, 1.0])
    for _ in range(3):
        f(x, Config(2.0))
    assert f.traces == 1


def test_a_new_static_argument_is_walked_alone_while_the_function_state_holds(monkeypatch):
    """An equal config made per call re-walks only the config, not the model it runs."""
    from graphc import guards
    table = [2.0]
    model = nn.Linear(2, 2)

    @dataclasses.dataclass(frozen=True)
    class Held:
        scale: float
        table: list = dataclasses.field(compare=False)

    def fn(x, config):
        return model(x) * config.scale * table[0] * config.table[0]
    f, x = graphc.compile(fn), t([[-1.0, 1.0]])
    f(x, Held(2.0, table))
    walks = []
    walk_roots = guards._walk_roots
    monkeypatch.setattr(guards, "_walk_roots", lambda *args, **kw: walks.append(
        kw.get("resume")) or walk_roots(*args, **kw))
    f(x, Held(2.0, table))  # the same list, reached again from the config: still one trace
    assert f.traces == 1 and len(walks) == 1 and walks[0] is not None
    assert_follows_eager(f, fn, x, Held(2.0, [3.0]))  # another list: its contents are read
    assert f.traces == 2
    model.extra = 1.0  # the function's own state changed: a whole walk sees it
    del walks[:]
    assert_follows_eager(f, fn, x, Held(2.0, [3.0]))
    assert f.traces == 3 and None in walks and "extra" in f.entries[-1].reason
    table[0] = 5.0
    assert_follows_eager(f, fn, x, Held(2.0, table))
    assert f.traces == 4


def test_a_set_of_equal_numbers_of_another_type_retraces():
    def scale_all(x, factors):
        for factor in factors:
            x = x * factor
        return x
    f, x = graphc.compile(scale_all), graphc.tensor([1, 2, 3])
    assert f(x, frozenset({2})).dtype == graphc.int64
    assert f(x, frozenset({2.0})).dtype == scale_all(x, frozenset({2.0})).dtype == graphc.float32


NOTEBOOK_CELL = """
import graphc

class Config:
    def __init__(self):
        self.scale = 2.0

class Scaled(graphc.nn.Module):
    factor = 2.0

    def forward(self, x):
        return x * self.factor

cfg, model = Config(), Scaled()
by_instance = graphc.compile(lambda x: x * cfg.scale)
by_class = graphc.compile(lambda x: model(x))
"""


def test_classes_of_a_main_module_without_a_file_are_user_code(monkeypatch):
    # as in a notebook (IPython runs cells in a __main__ without __file__) or python -c
    cell = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", cell)
    exec(compile(NOTEBOOK_CELL, "/tmp/ipykernel_1/cell.py", "exec"), cell.__dict__)
    x = graphc.ones(2)
    assert cell.by_instance(x).tolist() == cell.by_class(x).tolist() == [2.0, 2.0]
    cell.cfg.scale = 3.0
    cell.Scaled.factor = 4.0
    assert cell.by_instance(x).tolist() == [3.0, 3.0]
    assert cell.by_class(x).tolist() == [4.0, 4.0]


@pytest.mark.parametrize("make", [collections.UserDict, lambda d: collections.ChainMap(d)],
                         ids=["UserDict", "ChainMap"])
def test_the_standard_librarys_dict_wrappers_are_opened(make):
    config = make({"scale": 2.0})
    f = graphc.compile(lambda x: x * config["scale"])
    assert f(graphc.ones(2)).tolist() == [2.0, 2.0]
    config["scale"] = 3.0
    assert f(graphc.ones(2)).tolist() == [3.0, 3.0]


def test_an_object_whose_getattr_raises_key_error_does_not_break_compile():
    class Settings:  # attribute access served from a dict: a missing name is a KeyError
        def __init__(self):
            self._values = {"scale": 2.0}

        def __getattr__(self, name):
            return self.__dict__["_values"][name]
    settings = Settings()
    f = graphc.compile(lambda x: x * settings.scale)
    assert f(graphc.ones(2)).tolist() == [2.0, 2.0]


# -- what code reads of a tensor besides its values -----------------------------------------------
def test_requires_grad_of_a_parameter_the_graph_does_not_read_is_guarded():
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    model[0].weight.requires_grad_(False)

    def l2_of_trainable():  # the frozen weight is left out of the graph, by its flag
        return sum(((p * p).sum() for p in model.parameters() if p.requires_grad),
                   graphc.zeros(()))
    compiled = graphc.compile(l2_of_trainable)
    assert compiled().item() == l2_of_trainable().item()
    model[0].weight.requires_grad_(True)  # unfrozen: now in the sum
    assert compiled().item() == l2_of_trainable().item()
    assert compiled.traces == 2
    assert "0.weight is f32[2,2] (now f32[2,2], requires grad)" in compiled.entries[-1].reason


@pytest.mark.parametrize("new_data", [graphc.zeros(5), graphc.zeros(3, dtype=graphc.float64)],
                         ids=["shape", "dtype"])
def test_shape_and_dtype_of_a_tensor_the_graph_does_not_read_are_guarded(new_data):
    buffer = graphc.zeros(3)

    def f(x):
        return x * buffer.shape[0] if buffer.dtype == graphc.float32 else x * -1.0
    compiled, x = graphc.compile(f), graphc.ones(1)
    assert compiled(x).tolist() == f(x).tolist() == [3.0]
    buffer.data = new_data
    assert compiled(x).tolist() == f(x).tolist()
    assert compiled.traces == 2


# -- random generators ----------------------------------------------------------------------------
def test_a_generator_passed_to_a_random_op_is_drawn_from_as_eagerly():
    g = graphc.Generator().manual_seed(0)

    def noisy(x):
        return x + graphc.randn(4, generator=g)
    compiled, x = graphc.compile(noisy), graphc.zeros(4)
    g.manual_seed(0)
    eager = [noisy(x).tolist() for _ in range(2)]
    state = graphc.get_rng_state()
    g.manual_seed(0)
    assert [compiled(x).tolist() for _ in range(2)] == eager  # two draws from g, in order
    assert graphc.get_rng_state().tolist() == state.tolist()  # the global generator untouched


def test_a_generator_made_inside_the_function_is_made_anew_by_every_call():
    def noisy(x):
        return x + graphc.rand(3, generator=graphc.Generator().manual_seed(7))
    compiled, x = graphc.compile(noisy), graphc.zeros(3)
    assert compiled(x).tolist() == compiled(x).tolist() == noisy(x).tolist()


def test_in_place_random_fills_draw_from_their_generator():
    g = graphc.Generator().manual_seed(3)
    a = graphc.empty(5).normal_(generator=g).tolist()
    graphc.manual_seed(99)  # the global generator: not what the fill reads
    g.manual_seed(3)
    assert graphc.empty(5).normal_(generator=g).tolist() == a
    assert graphc.empty(5).uniform_(generator=g).tolist() != a


@pytest.mark.parametrize("action", [lambda g, state: g.manual_seed(0),
                                    lambda g, state: g.get_state(),
                                    lambda g, state: g.set_state(state)],
                         ids=["manual_seed", "get_state", "set_state"])
def test_seeding_or_reading_a_generator_inside_a_compiled_function_is_refused(action):
    # eagerly f(x) reseeds at every call and draws the same numbers; a compiled call would not
    # run the reseed, and drew new numbers from the second call on
    g = graphc.Generator()
    state = g.get_state()

    def f(x):
        action(g, state)
        return x + graphc.rand(3, generator=g)
    with pytest.raises(graphc.TraceError, match=r"inside a compiled function"):
        graphc.compile(f)(graphc.zeros(3))
    f(graphc.zeros(3))  # eagerly it runs


def test_torch_style_seeding_inside_a_compiled_function_is_refused():
    def f(x):
        graphc.manual_seed(0)
        return x + graphc.rand(3)
    with pytest.raises(graphc.TraceError, match=r"manual_seed of graphc's global generator"):
        graphc.compile(f)(graphc.zeros(3))
    state = graphc.get_rng_state()
    for action in ("get_state", "set_state"):
        def g(x):
            if action == "get_state":
                return x + graphc.get_rng_state()[0]
            graphc.set_rng_state(state)
            return x + graphc.rand(3)
        with pytest.raises(graphc.TraceError, match=action):
            graphc.compile(g)(graphc.zeros(3))


_np_generator = np.random.default_rng(0)


class _Jitter(nn.Module):
    def __init__(self):
        super().__init__()
        self.source = np.random.RandomState(1)

    def forward(self, x):
        return x + float(self.source.rand())


@pytest.mark.parametrize("draw, named", [
    (lambda x: x + float(np.random.rand()), r"np\.random \(NumPy's global generator\)"),
    (lambda x: x + random.random(), r"random \(Python's global generator\)"),
    (lambda x: x + random_from_import(), r"random \(Python's global generator\)"),
    (lambda x: x + float(_np_generator.normal()), r"_np_generator"),
    (_Jitter(), r"model\.source"),
], ids=["np.random", "random", "from random import random", "a global Generator",
        "a module's RandomState"])
def test_drawing_numpys_or_pythons_random_numbers_while_tracing_is_refused(draw, named):
    # the number would be a constant of the graph: the same at every call, where eager calls
    # draw anew
    with pytest.raises(graphc.TraceError, match=rf"drew random numbers from {named} while"):
        graphc.compile(draw)(graphc.zeros(2))


def test_a_draw_from_a_global_generator_by_another_thread_is_only_warned():
    # a loader thread's augmentation may draw from np.random while a function is traced: a
    # function that does not name np.random is not refused for it
    import threading
    start, drawn = threading.Event(), threading.Event()

    def augment():
        start.wait()
        np.random.rand()
        drawn.set()
    other = threading.Thread(target=augment)
    other.start()

    def double(x):
        start.set()
        drawn.wait()  # the other thread draws while this function is traced
        return x * 2
    with pytest.warns(UserWarning, match=r"np\.random .* drawn from while the function was "
                                         r"traced, by code it calls or by another thread"):
        assert graphc.compile(double)(graphc.ones(2)).tolist() == [2.0, 2.0]
    other.join()


def test_a_numpy_generator_made_inside_the_function_or_not_drawn_from_is_allowed():
    def seeded(x):  # made anew by every eager call, so the same numbers every call: constants
        return x + float(np.random.default_rng(3).normal())
    compiled, x = graphc.compile(seeded), graphc.zeros(2)
    assert compiled(x).tolist() == compiled(x).tolist() == seeded(x).tolist()
    untouched = graphc.compile(lambda x: x * 2 if _np_generator is not None else x)
    _np_generator.normal()  # eager use between calls does not retrace: the state is no guard
    assert untouched(x).tolist() == [0.0, 0.0]
    _np_generator.normal()
    assert untouched(x).tolist() == [0.0, 0.0] and untouched.traces == 1


# -- grad mode ------------------------------------------------------------------------------------
def test_grad_mode_is_guarded():
    f = graphc.compile(lambda x: x * 2 if graphc.is_grad_enabled() else x * 3)
    assert f(t([1.0])).tolist() == [2.0]
    with graphc.no_grad():
        assert f(t([1.0])).tolist() == [3.0]
    assert f.traces == 2 and "is_grad_enabled" in f.entries[-1].reason
    assert f(t([1.0])).tolist() == [2.0] and f.traces == 2  # both entries kept


def test_a_traced_backward_under_no_grad_raises_as_eagerly():
    graphc.manual_seed(0)
    layer = nn.Linear(3, 1)

    def step(x):
        loss = layer(x).pow(2).sum()
        loss.backward()
        return loss
    compiled = graphc.compile(step)
    compiled(graphc.ones(2, 3))
    layer.zero_grad()  # the state the trace began from: only grad mode differs
    with graphc.no_grad(), pytest.raises(graphc.AutogradError):
        step(graphc.ones(2, 3))
    with graphc.no_grad(), pytest.raises(graphc.AutogradError):
        compiled(graphc.ones(2, 3))


def test_a_no_grad_region_is_a_constant_to_the_gradient_of_a_compiled_call():
    x = graphc.tensor(np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32))
    w = graphc.tensor(np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32),
                      requires_grad=True)

    def f(x):
        with graphc.no_grad():
            y = x @ w
        return y * w.sum()
    f(x).sum().backward()
    eager, w.grad = w.grad.numpy().copy(), None
    graphc.compile(f)(x).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), eager, rtol=1e-6)  # sum(y) either way
    np.testing.assert_allclose(eager, np.full((4, 3), (x.numpy() @ w.numpy()).sum()), rtol=1e-5)


@pytest.mark.parametrize("update", [lambda w: w.add_(0.01), lambda w: w.clamp_(-2.5, 2.5),
                                    lambda w: w.mul_(2.0), lambda w: w.copy_(graphc.ones(3))],
                         ids=["add_", "clamp_", "mul_", "copy_"])
def test_a_leaf_updated_in_place_under_no_grad_keeps_its_gradient_at_its_new_value(update):
    # eagerly the leaf stays a leaf: later uses are differentiated w.r.t. its new value, and
    # uses before the update add theirs (here w.sum(): ones)
    x = t([4.0, 5.0, 6.0])
    results = []
    for run in (lambda f: f, graphc.compile):
        w = graphc.tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)

        def f(x):
            before = w.sum()
            with graphc.no_grad():
                update(w)
            return (w * x).sum() + before
        run(f)(x).backward()
        results.append((w.grad.tolist(), w.tolist()))
    assert results[1] == results[0]
    assert results[0][0] == [5.0, 6.0, 7.0]


def test_a_generator_made_while_tracing_and_kept_is_refused():
    class Noisy(nn.Module):
        def __init__(self):
            super().__init__()
            self.gen = None

        def forward(self, x):
            if self.gen is None:  # made lazily, by the first (traced) call
                self.gen = graphc.Generator().manual_seed(5)
            return x + graphc.rand(4, generator=self.gen)
    with pytest.raises(graphc.TraceError, match=r"generator at model\.gen was made while"):
        graphc.compile(Noisy())(graphc.zeros(4))


# -- objects the walk does not open, hooks, attributes of parameters, what a trace takes out --
@pytest.mark.parametrize("before, after, fn", [
    (slice(0, 2), slice(1, 3), lambda x, cfg: x[cfg["v"]].sum()),
    (range(2), range(3), lambda x, cfg: x[:len(cfg["v"])].sum()),
    (operator.add, operator.mul, lambda x, cfg: cfg["v"](x, x).sum()),
    (max, min, lambda x, cfg: x.sum() * cfg["v"](1.0, 2.0)),
    (operator.itemgetter(0), operator.itemgetter(2), lambda x, cfg: cfg["v"](x) * 1),
    (fractions.Fraction(1, 2), fractions.Fraction(3, 2), lambda x, cfg: x.sum() * float(cfg["v"])),
    (bytearray(b"\x01"), None, lambda x, cfg: x.sum() * cfg["v"][0]),
])
def test_an_object_the_walk_does_not_open_is_guarded_by_value_or_identity(before, after, fn):
    # they were guarded by their type: slice(0, 2) passed for slice(1, 3), min for max
    cfg = {"v": before}
    compiled = graphc.compile(lambda x: fn(x, cfg))
    x = graphc.tensor([1.0, 2.0, 4.0])
    compiled(x)
    if after is None:
        cfg["v"][0] = 3  # changed in place
    else:
        cfg["v"] = after
    assert compiled(x).tolist() == fn(x, cfg).tolist()
    assert compiled.traces == 2
    compiled(x)
    assert compiled.traces == 2


def test_an_equal_value_object_made_anew_does_not_retrace():
    cfg = {"crop": slice(0, 2), "scale": fractions.Fraction(1, 2), "raw": bytearray(b"\x02")}
    compiled = graphc.compile(lambda x: x[cfg["crop"]].sum() * float(cfg["scale"]) * cfg["raw"][0])
    x = graphc.tensor([1.0, 2.0, 4.0])
    compiled(x)
    cfg.update(crop=slice(0, 2), scale=fractions.Fraction(2, 4), raw=copy.copy(cfg["raw"]))
    compiled(x)
    assert compiled.traces == 1


def test_tensor_hooks_and_parameter_attributes_are_guarded():
    w = nn.Parameter(graphc.ones(2))
    w.scale = 2.0

    def step(x):
        w.grad = None
        (x * w * w.scale).sum().backward()
        return w.grad
    compiled = graphc.compile(step)
    x = graphc.tensor([1.0, 2.0])
    assert compiled(x).tolist() == [2.0, 4.0]
    w.scale = 5.0  # an attribute of the parameter
    assert compiled(x).tolist() == step(x).tolist() == [5.0, 10.0]
    handle = w.register_hook(lambda g: g * 10)  # a hook added after the trace
    assert compiled(x).tolist() == step(x).tolist() == [50.0, 100.0]
    handle.remove()
    assert compiled(x).tolist() == [5.0, 10.0]
    factor = [3.0]
    w.register_hook(lambda g: g * factor[0])
    compiled(x)
    factor[0] = 100.0  # what the hook reads
    assert compiled(x).tolist() == step(x).tolist() == [500.0, 1000.0]


def test_items_the_trace_takes_out_of_a_list_or_dict_retrace_as_eagerly():
    # the trace popped once, and the list it left matched the guard: every later call reused
    # the first item popped
    queue = [2.0, 3.0, 4.0]
    compiled = graphc.compile(lambda x: x * queue.pop())
    assert [compiled(graphc.ones(1)).item() for _ in range(3)] == [4.0, 3.0, 2.0]
    settings = {"boost": 10.0}

    def boosted(x):
        return x * settings.pop("boost") if "boost" in settings else x
    compiled = graphc.compile(boosted)
    assert [compiled(graphc.ones(1)).item() for _ in range(3)] == [10.0, 1.0, 1.0]


def test_what_a_nested_compiled_function_or_a_cached_helper_reads_is_guarded():
    cfg = {"k": 2.0}

    @graphc.compile
    def inner(x):
        return x * cfg["k"]

    @graphc.compile
    def outer(x):  # inner is inlined into outer's trace
        return inner(x) + 1

    @functools.lru_cache(None)
    def factor():
        return cfg["k"]
    cached = graphc.compile(lambda x: x * factor())
    x = graphc.ones(2)
    assert outer(x).tolist() == [3.0, 3.0] and cached(x).tolist() == [2.0, 2.0]
    cfg["k"] = 5.0
    factor.cache_clear()
    assert inner(x).tolist() == [5.0, 5.0]
    assert outer(x).tolist() == [6.0, 6.0] and cached(x).tolist() == [5.0, 5.0]


def test_a_hook_on_an_intermediate_result_keeps_compiled_calls_on_the_fast_record():
    model = nn.Linear(2, 2)
    compiled = graphc.compile(lambda x: model(x))
    compiled(graphc.ones(1, 2))
    (guard,) = [g for g in compiled.entries[0].guards if isinstance(g, graphc.guards.StateGuard)]
    assert guard.check_identities()
    y = model(graphc.ones(1, 2))
    y.retain_grad()  # a hook on a result, not on state: no reason to walk again
    assert guard.check_identities()
    model.weight.register_hook(lambda g: g)
    assert not guard.check_identities()
    model.weight.note = 1.0  # a first attribute of a parameter
    compiled(graphc.ones(1, 2))
    (guard,) = [g for g in compiled.entries[-1].guards if isinstance(g, graphc.guards.StateGuard)]
    assert guard.check_identities()


def test_a_param_group_read_through_a_copy_is_guarded_too():
    w = nn.Parameter(graphc.ones(1))
    opt = graphc.optim.SGD([w], lr=0.1)
    readers = [lambda g: dict(g)["lr"], lambda g: {**g}["lr"], lambda g: dict(g.items())["lr"],
               lambda g: g.copy()["lr"]]
    for read in readers:
        def step(x, read=read):
            opt.zero_grad()
            (x * w).sum().backward()
            opt.step()
            return x * read(opt.param_groups[0])
        compiled = graphc.compile(step)
        first = compiled(graphc.ones(1)).item()
        opt.param_groups[0]["lr"] = 0.5
        assert (first, compiled(graphc.ones(1)).item()) == (pytest.approx(0.1), 0.5)
        opt.param_groups[0]["lr"] = 0.1


def test_a_compiled_module_inside_a_compiled_function_is_guarded():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = 1.5

        def forward(self, x):
            return x * self.scale
    module = Scaled()
    inner = graphc.compile(module)
    outer = graphc.compile(lambda x: inner(x) * 2)
    assert outer(graphc.ones(1)).item() == 3.0
    module.scale = 3.0
    assert outer(graphc.ones(1)).item() == 6.0


def test_state_tensors_the_trace_moves_between_places_are_refused():
    """A swap or a rotated list of state tensors: compiled calls read them where the trace
    left them and never moved them again ([2, 2, 2, 2] where eagerly [2, 1, 2, 1])."""
    class PingPong(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("front", graphc.ones(2))
            self.register_buffer("back", graphc.full((2,), 2.0))

        def forward(self, x):
            self.front, self.back = self.back, self.front
            return x * self.front

    with pytest.raises(graphc.TraceError, match="moves a tensor of its state from .*back to .*front"):
        graphc.compile(PingPong())(graphc.ones(2))
    ring = [graphc.full((1,), float(i)) for i in range(3)]

    def rotate(x):
        ring.append(ring.pop(0))
        return x * ring[0]

    with pytest.raises(graphc.TraceError, match="moves a tensor of its state"):
        graphc.compile(rotate)(graphc.ones(1))
    holder = types.SimpleNamespace(best=graphc.zeros(1), current=graphc.ones(1))

    def keep_best(x):  # one tensor also put in a second place stays where the trace left it
        holder.best = holder.current
        return x + holder.best

    compiled = graphc.compile(keep_best)
    assert [compiled(graphc.ones(1)).item() for _ in range(2)] == [2.0, 2.0]
    # a tensor dropped, not only moved: the state differs from the one read, so it retraces
    queue = [graphc.full((1,), float(i)) for i in range(4)]
    take = graphc.compile(lambda x: x * queue.pop(0))
    assert [take(graphc.ones(1)).item() for _ in range(3)] == [0.0, 1.0, 2.0]
    pair = types.SimpleNamespace(prev=graphc.zeros(1), cur=graphc.ones(1))

    def advance(x):
        pair.prev = pair.cur
        pair.cur = pair.cur * 2 + x
        return pair.prev + pair.cur

    stepped = graphc.compile(advance)
    assert [stepped(graphc.ones(1)).item() for _ in range(3)] == [4.0, 10.0, 22.0]


def test_an_iterator_the_function_reads_is_refused_naming_it():
    batches = iter([graphc.full((2,), float(i)) for i in range(4)])

    def step(w):
        return (next(batches) * w).sum()  # every compiled call gave batch 0

    with pytest.raises(graphc.TraceError,
                       match="takes items from the iterator batches .a list_iterator."):
        graphc.compile(step)(graphc.ones(2))
    counter = itertools.count()
    with pytest.raises(graphc.TraceError, match="iterator counter .a count."):
        graphc.compile(lambda x: x * next(counter))(graphc.ones(1))
    holder = types.SimpleNamespace(it=None)

    def keeps(x):
        if holder.it is None:
            holder.it = iter([1.0, 2.0])
        return x * next(holder.it)

    with pytest.raises(graphc.TraceError, match="makes an iterator and keeps it in holder.it"):
        graphc.compile(keeps)(graphc.ones(1))
    # iterators it only holds (a trainer's batch iterator, a step counter) are fine
    trainer = types.SimpleNamespace(batches=iter([1, 2]), ids=itertools.count(), scale=2.0)
    held = graphc.compile(lambda x: x * trainer.scale if trainer.batches else x)
    assert held(graphc.ones(1)).tolist() == [2.0] and next(trainer.batches) == 1


def test_arrays_and_sets_the_trace_changes_in_place_retrace_as_eagerly():
    stats = np.zeros(1)
    seen: set = set()

    def step(x, key):
        stats[0] += 1
        first = key not in seen
        seen.add(key)
        return x * float(stats[0]) * (10.0 if first else 1.0)

    compiled = graphc.compile(step)
    got = [compiled(graphc.ones(1), key).item() for key in "aabb"]
    assert got == [10.0, 2.0, 30.0, 4.0] and stats[0] == 4  # (was [10, 10, 10, 10], 1)
    read = np.zeros(1, np.float32)

    def counts_and_reads(x):  # the graph reads the array at every call, and code changes it
        read[0] += 1
        return x + graphc.from_numpy(read)

    counted = graphc.compile(counts_and_reads)
    assert [counted(graphc.zeros(1)).item() for _ in range(3)] == [1.0, 2.0, 3.0]


def test_a_parameter_and_a_non_leaf_tensor_are_other_cache_keys_than_a_leaf_tensor():
    def by_kind(x):
        return x * 2 if isinstance(x, nn.Parameter) else x * 3

    def by_leaf(x):
        return x * 2 if x.is_leaf else x * 3

    for fn, first, second in ((by_kind, nn.Parameter(graphc.ones(2)),
                               graphc.ones(2, requires_grad=True)),
                              (by_leaf, graphc.ones(2, requires_grad=True),
                               graphc.ones(2, requires_grad=True) * 1)):
        compiled = graphc.compile(fn)
        assert compiled(first).tolist() == [2.0, 2.0]
        assert compiled(second).tolist() == [3.0, 3.0]  # (the first trace's branch: [2, 2])
        assert compiled(first).tolist() == [2.0, 2.0]


def test_explain_gives_the_change_since_the_last_call_as_the_retrace_reason():
    cfg = types.SimpleNamespace(use_relu=True, scale=2.0)

    @graphc.compile
    def f(x):
        h = x * cfg.scale
        return graphc.relu(h) if cfg.use_relu else h

    x = graphc.ones(2)
    f(x)
    cfg.use_relu = False
    f(x)
    cfg.scale = 3.0
    f(x)  # the oldest entry fails on use_relu, but what changed is the scale
    reasons = [line for line in f.explain().splitlines() if "traced at call" in line]
    assert "cfg.scale == 2.0 (now 3.0)" in reasons[2], reasons


def test_outputs_keep_their_identity_as_eagerly():
    """The same tensor returned twice was two tensors; a buffer returned was a copy, so an
    in-place op on it no longer reached the module."""
    @graphc.compile
    def pair(x):
        y = x * 2
        return y, y

    a, b = pair(graphc.ones(2))
    assert a is b
    a.add_(1)
    assert b.tolist() == [3.0, 3.0]

    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", graphc.zeros(2))
            self.weight = nn.Parameter(graphc.ones(2))

        def forward(self, x):
            self.count.add_(1)
            return self.count, x + self.count, self.weight

    model = Counter()
    step = graphc.compile(model)
    for expected in (1.0, 2.0):
        count, out, weight = step(graphc.zeros(2))
        assert count is model.count and weight is model.weight
        assert count.tolist() == [expected] * 2 and out.tolist() == [expected] * 2
    count.add_(5)
    assert step(graphc.zeros(2))[1].tolist() == [8.0, 8.0]
