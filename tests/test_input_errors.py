"""Bad input met by a clear error that names what was wrong, where it was once silently
accepted (a wrong result) or met by an error from deep inside: each case came from a hunt for
such input (the CLI's cases are in test_cli.py)."""
import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
import ir
from backends.base import ExecutionError
from graphc import nn, optim
from ir.errors import ParseError, ShapeError


@pytest.mark.parametrize("backend", ["llvm", "interpreter"])
def test_a_compiled_one_hot_of_a_class_out_of_range_is_an_error(backend):
    one_hot = graphc.compile(lambda t: F.one_hot(t, 3), backend=backend)
    assert one_hot(graphc.tensor([2, 0])).tolist() == [[0, 0, 1], [1, 0, 0]]
    for classes in ([3, 1], [-1, 1]):  # a negative class must not wrap to the last one
        with pytest.raises(IndexError, match=r"one_hot: class values must be in \[0, 3\) "
                                             r"\(checked as the compiled graph ran"):
            one_hot(graphc.tensor(classes))


def test_one_hot_reads_the_class_count_only_for_minus_one():
    with pytest.raises(ValueError, match="num_classes must be -1 .* got -5"):
        F.one_hot(graphc.tensor([1]), -5)


@pytest.mark.parametrize("call, message", [
    (lambda: graphc.mm(graphc.ones(2, 3, 4), graphc.ones(4, 2)), r"mm: both arguments must be "
                                                                  r"matrices"),
    (lambda: graphc.bmm(graphc.ones(2, 2), graphc.ones(2, 2)), r"bmm: expects two 3-D tensors"),
    (lambda: graphc.bmm(graphc.ones(2, 2, 3), graphc.ones(1, 3, 2)), r"the same batch size"),
])
def test_mm_and_bmm_take_the_shapes_pytorch_does(call, message):
    # matmul broadcasts; mm and bmm, as PyTorch's, do not
    with pytest.raises(ShapeError, match=message):
        call()


def test_a_parameter_group_without_params_is_refused():
    with pytest.raises(KeyError, match="'params'"):
        optim.SGD([{"parms": [graphc.ones(2, requires_grad=True)]}], lr=0.1)


def test_flatten_with_start_after_end_is_refused():
    with pytest.raises(ShapeError, match="start_dim .1. cannot come after end_dim .0."):
        graphc.ones(2, 3).flatten(1, 0)


@pytest.mark.parametrize("make", [lambda: graphc.zeros(2.5), lambda: graphc.ones(6).view(2.0, 3),
                                  lambda: graphc.ones(4).reshape(1.5, 4)])
def test_float_sizes_are_refused_not_truncated(make):
    with pytest.raises(TypeError, match="sizes must be ints, got float"):
        make()
    assert graphc.zeros(np.int64(2), graphc.tensor(3)).shape == (2, 3)


def test_a_surrogate_escape_in_ir_is_not_a_character():
    with pytest.raises(ParseError, match=r"1:9: .*escape \\ud800 is not a character"):
        ir.parse('func @"f\\ud800"(%x: f32[2]) -> (f32[2]) {\n  return %x\n}\n')


def test_a_batched_matmul_whose_batches_do_not_broadcast_names_both_operands():
    with pytest.raises(ShapeError, match=r"matmul: batch dimensions do not broadcast: "
                                         r"\[2, 3, 4\] @ \[3, 4, 5\]"):
        graphc.ones(2, 3, 4) @ graphc.ones(3, 4, 5)


@pytest.mark.parametrize("value", ["abc", None])
def test_load_state_dict_names_a_value_that_is_no_tensor(value):
    layer = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match=f"weight: checkpoint holds a {type(value).__name__}"):
        layer.load_state_dict({"weight": value, "bias": graphc.zeros(2)})


# -- tensor indices out of range -------------------------------------------------------------
GRID = np.arange(12.0, dtype=np.float32).reshape(3, 4)


@pytest.mark.parametrize("rows, cols, bad", [
    ([0], [5], (5, 1, 4)), ([1], [-5], (-5, 1, 4)), ([-4], [0], (-4, 0, 3)),
    ([[0], [2]], [1, 4], (4, 1, 4))])
def test_an_index_past_its_own_axis_never_reads_the_next_axis(rows, cols, bad):
    """Several tensor indices merge into one; x[0, 5] of a 3x4 x was silently x[1, 1]. The
    error names the index as written, its dimension and that dimension's size."""
    x = graphc.tensor(GRID)
    rows, cols = graphc.tensor(rows), graphc.tensor(cols)
    index, dim, size = bad
    eager = f"index {index} is out of bounds for dimension {dim} with size {size}"
    with pytest.raises(IndexError, match=eager):
        x[rows, cols]
    with pytest.raises(IndexError, match=eager):
        x[rows, cols] = 1.0  # index_put goes through the same positions
    compiled = f"index {index} is out of range for axis {dim} of size {size}"
    for backend in ("llvm", "interpreter"):
        with pytest.raises(ExecutionError, match=compiled):
            graphc.compile(lambda t, i, j: t[i, j], backend=backend)(x, rows, cols)
        with pytest.raises(ExecutionError, match=compiled):
            graphc.compile(lambda t, i, j: t.index_put((i, j), graphc.tensor(1.0)),
                           backend=backend)(x, rows, cols)


def test_the_dimension_an_error_names_is_the_indexed_tensors():
    # an int before the indices and a slice between them: dims as the user wrote them
    x = graphc.arange(24.0).reshape(2, 3, 4)
    i, j = graphc.tensor([1]), graphc.tensor([4])
    for fn in (lambda t, i, j: t[0, i, j], lambda t, i, j: t[i, :, j]):
        with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 2 with "
                                             "size 4"):
            fn(x, i, j)
        with pytest.raises(ExecutionError, match="index 4 is out of range for axis 2 of size 4"):
            graphc.compile(fn)(x, i, j)


def test_tensor_indices_in_range_still_count_negatives_from_the_end():
    x = graphc.tensor(GRID)
    rows, cols = graphc.tensor([[0], [-3], [2]]), graphc.tensor([-4, 3])
    expected = GRID[[[0], [-3], [2]], [-4, 3]]
    assert x[rows, cols].numpy().tolist() == expected.tolist()
    for backend in ("llvm", "interpreter"):
        got = graphc.compile(lambda t, i, j: t[i, j], backend=backend)(x, rows, cols)
        assert got.numpy().tolist() == expected.tolist()


@pytest.mark.parametrize("index", [graphc.tensor(-7), graphc.tensor([-7])])
def test_an_index_below_minus_the_size_is_named_as_written(index):
    x = graphc.tensor(GRID)
    with pytest.raises(IndexError, match="index -7 is out of bounds for dimension 0 with size 3"):
        x[index]
    with pytest.raises(ExecutionError, match="index -7 is out of range"):
        graphc.compile(lambda t, i: t[i])(x, index)


# -- value checks, compiled too ------------------------------------------------------------------
VALUE_CHECKS = [
    ("binary_cross_entropy", lambda p, t: F.binary_cross_entropy(p, t),
     (graphc.tensor([0.5, 1.5]), graphc.tensor([1.0, 0.0])),
     (graphc.tensor([0.5, 0.25]), graphc.tensor([1.0, 0.0])),
     RuntimeError, "all elements of input should be between 0 and 1"),
    ("binary_cross_entropy NaN", lambda p, t: F.binary_cross_entropy(p, t),
     (graphc.tensor([0.5, float("nan")]), graphc.tensor([1.0, 0.0])), None,
     RuntimeError, "all elements of input should be between 0 and 1"),
    ("gaussian_nll_loss", lambda a, v: F.gaussian_nll_loss(a, a * 0.5, v),
     (graphc.ones(2, 3), -graphc.ones(2, 3)), (graphc.ones(2, 3), graphc.ones(2, 3)),
     ValueError, "var has negative entry"),
    ("bernoulli", lambda p: graphc.bernoulli(p, generator=graphc.Generator().manual_seed(0)),
     (graphc.tensor([1.5, -0.5]),), (graphc.tensor([1.0, 0.0]),),
     RuntimeError, r"probabilities must be in \[0, 1\]"),
    ("multinomial negative", lambda p: graphc.multinomial(p, 1),
     (graphc.tensor([-1.0, 2.0]),), None, RuntimeError, "element < 0"),
    ("multinomial inf", lambda p: graphc.multinomial(p, 1),
     (graphc.tensor([1.0, float("inf")]),), None, RuntimeError, "contains either `inf`"),
    ("multinomial zero row", lambda p: graphc.multinomial(p, 1),
     (graphc.tensor([[0.0, 0.0], [1.0, 0.0]]),), (graphc.tensor([[0.0, 2.0], [1.0, 0.0]]),),
     RuntimeError, r"sum of probabilities <= 0"),
    ("multinomial without replacement", lambda p: graphc.multinomial(p, 2),
     (graphc.tensor([0.0, 1.0, 0.0]),), None, RuntimeError, "not enough non-negative category"),
    ("quantile", lambda a, q: graphc.quantile(a, q),
     (graphc.arange(12.0), graphc.tensor(1.5)), (graphc.arange(12.0), graphc.tensor(0.25)),
     RuntimeError, r"q values must be in the range \[0, 1\]"),
    ("quantile NaN", lambda a, q: graphc.quantile(a, q),
     (graphc.arange(12.0), graphc.tensor(float("nan"))), None,
     RuntimeError, r"q values must be in the range \[0, 1\]"),
    ("one_hot", lambda t: F.one_hot(t, 3), (graphc.tensor([3, 1]),), (graphc.tensor([2, 0]),),
     IndexError, r"one_hot: class values must be in \[0, 3\)"),
]


@pytest.mark.parametrize("fn, bad, good, error, message", [c[1:] for c in VALUE_CHECKS],
                         ids=[c[0] for c in VALUE_CHECKS])
@pytest.mark.parametrize("backend", ["llvm", "interpreter"])
def test_value_checks_hold_in_compiled_code(fn, bad, good, error, message, backend):
    # compiled, these once gave NaN, a negative loss or a sample, with no error
    with pytest.raises(error, match=message):
        fn(*bad)
    compiled = graphc.compile(fn, backend=backend)
    with pytest.raises(error, match=message + ".*checked as the compiled graph ran; from .*"
                                  "test_input_errors.py"):
        compiled(*bad)
    if good is not None:  # the check does not change what valid input gives
        np.testing.assert_allclose(compiled(*good).numpy(), fn(*good).numpy(), rtol=1e-6)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager vmap", "compiled vmap"])
def test_value_checks_hold_under_vmap(compiled):
    # vmap traces one example: its check flags were dropped (BCE of p > 1 gave NaN)
    loss = graphc.func.vmap(lambda p, t: F.binary_cross_entropy(p, t))
    run = graphc.compile(loss) if compiled else loss
    targets = graphc.tensor([[1.0, 0.0], [1.0, 0.0]])
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        run(graphc.tensor([[0.5, 0.25], [0.5, 1.5]]), targets)  # the second example's
    good = graphc.tensor([[0.5, 0.25], [0.5, 0.5]])
    np.testing.assert_allclose(run(good, targets).numpy(),
                               [F.binary_cross_entropy(good[i], targets[i]).item()
                                for i in range(2)], rtol=1e-6)


def test_check_flags_are_no_outputs_of_the_graph_users_see():
    # graphc.trace, graph_for and graphc dump show the function's own outputs
    def loss(p, t):
        return F.binary_cross_entropy(p, t)
    args = (graphc.tensor([0.5, 0.25]), graphc.tensor([1.0, 0.0]))
    assert len(graphc.trace(loss, *args).outputs) == 1
    compiled = graphc.compile(loss)
    assert len(compiled.graph_for(*args).outputs) == 1
    assert len(compiled.entries[0].graph.outputs) == 3  # the loss and the input and target flags


def test_a_value_check_reads_a_state_tensor_at_every_call():
    # probabilities held in the function's state, not passed: checked with the values of each
    # call, not with those the trace saw
    probabilities = graphc.tensor([0.25, 0.75])
    draw = graphc.compile(lambda: graphc.bernoulli(probabilities))
    draw()
    probabilities.copy_(graphc.tensor([0.25, 1.5]))
    with pytest.raises(RuntimeError, match=r"probabilities must be in \[0, 1\] \(checked as"):
        draw()


def test_a_failed_check_writes_no_state_back():
    # a training step whose loss check fails leaves the parameters as they were (eagerly the
    # error comes before the update too)
    graphc.manual_seed(0)
    model = nn.Linear(2, 1)
    # momentum: state the llvm executable writes in place as it runs (donated arrays)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y, scale):
        opt.zero_grad()
        loss = F.binary_cross_entropy(F.sigmoid(model(x)) * scale, y)
        loss.backward()
        opt.step()
        return loss
    compiled = graphc.compile(step)
    x, y = graphc.randn(4, 2), graphc.tensor([[1.0], [0.0], [1.0], [0.0]])
    compiled(x, y, graphc.tensor(1.0))
    compiled(x, y, graphc.tensor(1.0))

    def state():
        return [t.tolist() for p in model.parameters() for t in [p, *opt.state[p].values()]]
    before = state()
    assert len(before) == 6  # weight, bias, and each one's momentum buffer and step count
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        compiled(x, y, graphc.tensor(3.0))
    assert state() == before


@pytest.mark.parametrize("offsets, message", [
    ([0, 5], "can not be greater than input's length 3"), ([1, 2], r"offsets\[0\] has to be 0"),
    ([0, 2, 1], "must be non-decreasing")], ids=["past the end", "not from 0", "out of order"])
def test_embedding_bag_offsets_are_checked_eagerly_and_compiled(offsets, message):
    # these once gave an empty bag or dropped rows, silently
    bag, indices = nn.EmbeddingBag(5, 2), graphc.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match=message):
        bag(indices, graphc.tensor(offsets))
    compiled = graphc.compile(lambda i, o: bag(i, o))
    with pytest.raises(RuntimeError, match=message):
        compiled(indices, graphc.tensor(offsets))
    np.testing.assert_array_equal(compiled(indices, graphc.tensor([0, 3])).numpy(),
                                  bag(indices, graphc.tensor([0, 3])).numpy())


@pytest.mark.parametrize("call, error, message", [
    (lambda x: nn.AdaptiveAvgPool2d(-2)(x), ValueError, "must be greater than or equal to 0"),
    (lambda x: F.avg_pool2d(x, 0), ShapeError, "kernel size should be greater than zero"),
    (lambda x: F.avg_pool2d(x, 2, stride=0), ShapeError, "stride should be greater than zero"),
    (lambda x: F.unfold(x, 0), ShapeError, "kernel size should be greater than zero"),
    (lambda x: graphc.tril(x[0, 0, 0]), ShapeError, "tril: input tensor must have at least 2"),
    (lambda x: x.type_as("x"), TypeError, "type_as.*must be Tensor, not str"),
    (lambda x: x.expand_as([1, 2]), TypeError, "expand_as.*must be Tensor, not list"),
], ids=["adaptive pool size", "pool kernel 0", "pool stride 0", "unfold kernel 0",
        "tril 1-D", "type_as", "expand_as"])
def test_window_and_argument_errors_name_what_was_wrong(call, error, message):
    # each was a ZeroDivisionError, an IndexError or an AttributeError from deep inside
    with pytest.raises(error, match=message):
        call(graphc.ones(1, 1, 4, 4))


@pytest.mark.parametrize("loss", [F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss])
def test_a_pointwise_loss_warns_when_its_target_would_broadcast(loss):
    # an [N, 1] prediction against an [N] target is a loss over all N x N pairs: PyTorch warns
    with pytest.warns(UserWarning, match=r"target size \[4\] that is different to the input "
                                         r"size \[4, 1\]"):
        loss(graphc.ones(4, 1), graphc.zeros(4))


@pytest.mark.parametrize("call, message", [
    (lambda: F.huber_loss(graphc.ones(2), graphc.zeros(2), delta=-1.0),
     "huber_loss does not support non-positive values for delta"),
    (lambda: F.smooth_l1_loss(graphc.ones(2), graphc.zeros(2), beta=-1.0),
     "smooth_l1_loss does not support negative values for beta"),
    (lambda: F.cross_entropy(graphc.ones(2, 3), graphc.tensor([0, 1]), weight=graphc.ones(5)),
     r"weight tensor should be defined either for all 3 classes .* shape: \[5\]"),
    (lambda: F.nll_loss(graphc.ones(2, 3), graphc.tensor([0, 1]), weight=graphc.ones(2)),
     r"for all 3 classes"),
], ids=["huber delta", "smooth_l1 beta", "cross_entropy weight", "nll_loss weight"])
def test_loss_arguments_pytorch_refuses_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_adaptive_average_pooling_to_size_zero_is_empty_as_in_pytorch():
    assert nn.AdaptiveAvgPool2d(0)(graphc.ones(1, 2, 4, 4)).shape == (1, 2, 0, 0)


# -- argument types --------------------------------------------------------------------------
def test_full_refuses_a_fill_value_that_is_not_a_number():
    with pytest.raises(TypeError, match="fill_value must be a number, not str"):
        graphc.full((2,), "a")
    assert graphc.full((2,), graphc.tensor(1.5)).tolist() == [1.5, 1.5]


@pytest.mark.parametrize("make", [lambda w, b: optim.SGD({w, b}, lr=0.1),
                                  lambda w, b: optim.Adam([{"params": frozenset([w, b])}])],
                         ids=["set", "frozenset group"])
def test_optimizer_parameters_in_a_set_are_refused(make):
    # as PyTorch: a set's order changes between runs, and with it which state goes where
    w, b = graphc.ones(2, requires_grad=True), graphc.zeros(1, requires_grad=True)
    with pytest.raises(TypeError, match="ordered collections.*use a list"):
        make(w, b)


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr="0.1"), lambda p: optim.Adam(p, betas=(0.9, "0.99")),
    lambda p: optim.RMSprop(p, alpha=None), lambda p: optim.Adagrad(p, eps=[1e-10]),
    lambda p: optim.SGD(p, lr=0.1).add_param_group(
        {"params": [graphc.ones(1, requires_grad=True)], "momentum": "0.9"})])
def test_optimizer_hyperparameters_must_be_numbers(make):
    with pytest.raises(TypeError, match=r"(lr|betas|alpha|eps|momentum) must be a number, got"):
        make([graphc.ones(2, requires_grad=True)])


def test_saving_to_a_directory_names_it(tmp_path):
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        graphc.save({"w": graphc.ones(2)}, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


@pytest.mark.parametrize("make", [graphc.tensor, graphc.from_numpy])
def test_an_array_in_the_other_byte_order_is_refused_with_the_conversion(make):
    with pytest.raises(TypeError, match=r"byte order.*astype\('float32'\)"):
        make(np.arange(3, dtype=">f4"))
