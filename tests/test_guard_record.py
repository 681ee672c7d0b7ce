"""The state guard's identity check (``guards.StateGuard.check_identities``): it stands in for
re-walking the Python state a compiled function reads, so every change the walk would see must
make it fail, and the compiled call must then give the new result (retraced), never the old one.
"""
import functools

import numpy as np

import graphc
from graphc import guards


def _state_guard(f):
    (guard,) = [g for g in f.entries[-1].guards if isinstance(g, guards.StateGuard)]
    return guard


def _compiled(fn):
    f = graphc.compile(fn, backend="interpreter")
    return f, graphc.ones(2)


def test_identity_check_holds_for_an_unchanged_model_and_optimizer():
    model = graphc.nn.Sequential(graphc.nn.Linear(2, 3), graphc.nn.ReLU(), graphc.nn.Linear(3, 1))
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x):
        loss = model(x).sum()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    f = graphc.compile(step, backend="interpreter")
    x = graphc.ones(4, 2)
    for _ in range(3):
        f(x)
    assert _state_guard(f).check_identities() and f.traces <= 2
    opt.param_groups[0]["momentum"] = 0.5  # read while tracing: a new value retraces
    assert not _state_guard(f).check_identities()
    traces = f.traces
    f(x)
    assert f.traces == traces + 1


def test_identity_check_sees_an_attribute_stored_around_setattr():
    class Scaled(graphc.nn.Module):
        def __init__(self):
            super().__init__()
            self.factor = 2.0

        def forward(self, x):
            return x * self.factor

    module = Scaled()
    f, x = _compiled(lambda t: module(t))
    assert f(x).tolist() == [2.0, 2.0]
    module.__dict__["factor"] = 3.0
    assert f(x).tolist() == [3.0, 3.0]
    object.__setattr__(module, "factor", 4.0)
    assert f(x).tolist() == [4.0, 4.0]


def test_identity_check_sees_a_list_inside_a_tuple_change():
    settings = ([1.0], "name")
    f, x = _compiled(lambda t: t * settings[0][0])
    assert f(x).tolist() == [1.0, 1.0]
    settings[0][0] = 5.0
    assert f(x).tolist() == [5.0, 5.0]
    settings[0].append(7.0)  # the walk reads the length too
    assert not _state_guard(f).check_identities()


def test_identity_check_sees_dict_keys_reordered():
    weights = {"a": 1.0, "b": 2.0}
    f, x = _compiled(lambda t: t * list(weights.values())[0])
    assert f(x).tolist() == [1.0, 1.0]
    weights.pop("a")
    weights["a"] = 1.0  # the same objects, in another order
    assert f(x).tolist() == [2.0, 2.0]


def test_identity_check_sees_a_class_attribute_and_a_changed_class():
    class Config:
        scale = 2.0

    class Other:
        scale = 10.0

    config = Config()
    f, x = _compiled(lambda t: t * config.scale)
    assert f(x).tolist() == [2.0, 2.0]
    Config.scale = 3.0
    assert f(x).tolist() == [3.0, 3.0]
    config.__class__ = Other
    assert f(x).tolist() == [10.0, 10.0]


def test_identity_check_sees_partial_keywords_and_array_contents():
    def affine(t, scale, shift):
        return t * scale + shift

    apply = functools.partial(affine, scale=2.0, shift=0.0)
    offsets = np.array([1.0], dtype=np.float32)
    f, x = _compiled(lambda t: apply(t) + float(offsets[0]))
    assert f(x).tolist() == [3.0, 3.0]
    apply.keywords["shift"] = 1.0
    assert f(x).tolist() == [4.0, 4.0]
    offsets[0] = 0.0  # changed in place: the walk reads small arrays' contents
    assert f(x).tolist() == [3.0, 3.0]


def test_identity_check_sees_closure_defaults_and_slots():
    class Slotted:
        __slots__ = ("value",)

        def __init__(self, value):
            self.value = value

    holder = Slotted(1.0)

    def helper(t, offset=1.0):
        return t + offset + holder.value

    f, x = _compiled(lambda t: helper(t))
    assert f(x).tolist() == [3.0, 3.0]
    helper.__defaults__ = (2.0,)
    assert f(x).tolist() == [4.0, 4.0]
    holder.value = 3.0
    assert f(x).tolist() == [6.0, 6.0]


def test_identity_check_lets_a_lifted_learning_rate_change_without_retracing():
    param = graphc.nn.Parameter(graphc.ones(2))
    opt = graphc.optim.SGD([param], lr=0.5)

    def step(x):
        (param * x).sum().backward()
        opt.step()
        opt.zero_grad()

    f = graphc.compile(step, backend="interpreter")
    x = graphc.ones(2)
    f(x)
    f(x)
    traces = f.traces
    opt.param_groups[0]["lr"] = 0.25  # read as a graph input at every call
    f(x)
    assert f.traces == traces
    np.testing.assert_allclose(param.numpy(), [1.0 - 0.5 - 0.5 - 0.25] * 2, rtol=0, atol=0)


def test_identity_check_drops_its_record_when_it_fails():
    values = [2.0]
    f, x = _compiled(lambda t: t * values[0])
    f(x)
    guard = _state_guard(f)
    assert guard.check_identities()
    values[0] = 3.0
    assert not guard.check_identities()
    assert guard._record is None  # no longer keeps the replaced objects alive


def test_identity_check_sees_an_attribute_added_to_a_function_with_keyword_defaults():
    def helper(t, *, offset=1.0):
        return t + offset * getattr(helper, "scale", 1.0)

    f, x = _compiled(lambda t: helper(t))
    assert f(x).tolist() == [2.0, 2.0]
    helper.scale = 3.0  # its __dict__ was empty (not walked) while its keyword defaults were
    assert not _state_guard(f).check_identities()
    assert f(x).tolist() == [4.0, 4.0]
    helper.__kwdefaults__["offset"] = 2.0
    assert f(x).tolist() == [7.0, 7.0]


def test_identity_check_reads_a_dict_subclass_through_its_getitem():
    class Overridable(dict):
        """Serves ``override``, when set, for every key: what ``items()`` holds stays the same."""
        override = None

        def __getitem__(self, key):
            return dict.__getitem__(self, key) if self.override is None else self.override

    config = Overridable(scale=1.0)
    f, x = _compiled(lambda t: t * config["scale"])
    assert f(x).tolist() == [1.0, 1.0]
    config.override = 5.0
    assert not _state_guard(f).check_identities()  # the walk reads config['scale'] as 5.0
    assert f(x).tolist() == [5.0, 5.0]


class _Holder:
    def __init__(self, scale, held):
        self.scale, self.held = scale, held


def test_a_walk_resumed_for_new_static_arguments_reads_what_a_whole_walk_reads():
    """StateGuard walks only new static arguments from a checkpoint after the function's own
    state: objects shared with that state must read as shared, exactly as in a whole walk."""
    shared = [1.0, {"k": 2.0}]
    model = graphc.nn.Linear(2, 2)

    def fn(x, config):
        return model(x) * shared[0] * config.scale

    nothing = frozenset()
    checkpoint = guards._walk_roots(fn, [], nothing, nothing, record=True).checkpoint
    cases = [(shared, True), (shared[1], True), (model, True),
             ([1.0, {"k": 2.0}], False)]
    for held, reached_before in cases:
        roots = [("config", _Holder(2.0, held))]
        whole = guards._walk_roots(fn, roots, nothing, nothing, record=True)
        resumed = guards._walk_roots(fn, roots, nothing, nothing, record=True,
                                     resume=checkpoint)
        assert whole.checkpoint.tokens == checkpoint.tokens > 0
        assert resumed.tokens == whole.tokens[checkpoint.tokens:]
        assert resumed.paths == whole.paths[checkpoint.tokens:]
        assert len(resumed.record) == len(whole.record) - checkpoint.records
        (held_token,) = [token for path, token in zip(resumed.paths, resumed.tokens)
                         if guards.render(path) == "config.held"]
        assert (held_token[0] == "same-as") is reached_before
