"""Convolutions and max pooling as native kernels and GEMMs (``backends/kernel/conv.py``).

The llvm backend (and the numba renderer, which reads the same kernel program) must compute
what the interpreter computes for every geometry the registry allows: strides, paddings,
dilations, kernel sizes, non-square shapes, f32 and f64, batch 1 and more, empty tensors. Each
test also checks that the op really became kernels (no NumPy reference runs it any more).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_backend_llvm import assert_same_as_interpreter, one_node_graph

import backends
import graphc
import graphc.nn.functional as F
import ir
from backends.kernel import Gemm, Kernel, LibraryCall, build_program
from conftest import assert_close
from ir.ops.conv import conv_output_size

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def library_ops(graph) -> list[str]:
    return [s.op for s in build_program(graph).steps if isinstance(s, LibraryCall)]


@st.composite
def conv_cases(draw):
    """A conv2d geometry: batch, channels, non-square input and kernel, stride, padding,
    dilation, dtype; only geometries whose output is not empty."""
    n = draw(st.sampled_from([1, 3]))
    c, o = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kh, kw = draw(st.sampled_from([1, 3])), draw(st.sampled_from([1, 3]))
    stride = [draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 2]))]
    padding = [draw(st.sampled_from([0, 1, 2])), draw(st.sampled_from([0, 1, 2]))]
    dilation = [draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 2]))]
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    ho = conv_output_size(h, kh, stride[0], padding[0], dilation[0])
    wo = conv_output_size(w, kw, stride[1], padding[1], dilation[1])
    assume(ho >= 1 and wo >= 1)
    attrs = dict(stride=stride, padding=padding, dilation=dilation, groups=1)
    return (n, c, h, w), (o, c, kh, kw), (n, o, ho, wo), attrs, dtype


def _random(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@given(conv_cases(), st.integers(0, 2**32 - 1))
@SETTINGS
def test_conv2d_as_im2col_and_gemm_matches_the_interpreter(case, seed):
    x_shape, w_shape, _, attrs, dtype = case
    rng = np.random.default_rng(seed)
    arrays = [_random(rng, x_shape, dtype), _random(rng, w_shape, dtype)]
    graph = one_node_graph("conv2d", arrays, attrs)
    assert library_ops(graph) == []
    assert_same_as_interpreter(graph, arrays)


@given(conv_cases(), st.integers(0, 2**32 - 1))
@SETTINGS
def test_conv2d_input_grad_as_gemm_and_col2im_matches_the_interpreter(case, seed):
    x_shape, w_shape, y_shape, attrs, dtype = case
    rng = np.random.default_rng(seed)
    arrays = [_random(rng, y_shape, dtype), _random(rng, w_shape, dtype)]
    graph = one_node_graph("conv2d_input_grad", arrays, dict(attrs, input_shape=list(x_shape)))
    assert library_ops(graph) == []
    assert_same_as_interpreter(graph, arrays)


@given(conv_cases(), st.integers(0, 2**32 - 1))
@SETTINGS
def test_conv2d_weight_grad_as_gemm_matches_the_interpreter(case, seed):
    x_shape, w_shape, y_shape, attrs, dtype = case
    rng = np.random.default_rng(seed)
    arrays = [_random(rng, x_shape, dtype), _random(rng, y_shape, dtype)]
    graph = one_node_graph("conv2d_weight_grad", arrays,
                           dict(attrs, weight_shape=list(w_shape)))
    assert library_ops(graph) == []
    assert_same_as_interpreter(graph, arrays)


def test_conv2d_of_mixed_dtypes_promotes_in_its_kernels():
    rng = np.random.default_rng(0)
    arrays = [_random(rng, (2, 3, 5, 4), np.float32), _random(rng, (2, 3, 3, 3), np.float64)]
    graph = one_node_graph("conv2d", arrays, dict(padding=[1, 1]))
    assert library_ops(graph) == []
    assert_same_as_interpreter(graph, arrays)


@pytest.mark.parametrize("x_shape,w_shape", [((0, 2, 4, 4), (3, 2, 3, 3)),
                                             ((2, 0, 4, 4), (3, 0, 3, 3)),
                                             ((2, 2, 4, 4), (0, 2, 3, 3)),
                                             ((2, 2, 0, 4), (3, 2, 1, 1))])
def test_conv2d_family_on_empty_tensors_matches_the_interpreter(x_shape, w_shape):
    rng = np.random.default_rng(1)
    attrs = dict(padding=[1, 1])
    ho = conv_output_size(x_shape[2], w_shape[2], 1, 1, 1)
    wo = conv_output_size(x_shape[3], w_shape[3], 1, 1, 1)
    x, w = _random(rng, x_shape, np.float32), _random(rng, w_shape, np.float32)
    g = _random(rng, (x_shape[0], w_shape[0], ho, wo), np.float32)
    assert_same_as_interpreter(one_node_graph("conv2d", [x, w], attrs), [x, w])
    assert_same_as_interpreter(one_node_graph("conv2d_weight_grad", [x, g],
                                              dict(attrs, weight_shape=list(w_shape))), [x, g])
    assert_same_as_interpreter(one_node_graph("conv2d_input_grad", [g, w],
                                              dict(attrs, input_shape=list(x_shape))), [g, w])


def test_grouped_conv2d_stays_a_library_call_and_matches_the_interpreter():
    rng = np.random.default_rng(2)
    arrays = [_random(rng, (2, 4, 5, 5), np.float32), _random(rng, (6, 2, 3, 3), np.float32)]
    graph = one_node_graph("conv2d", arrays, dict(groups=2))
    assert library_ops(graph) == ["conv2d"]
    assert_same_as_interpreter(graph, arrays)


# -- max pooling ------------------------------------------------------------------------------------
@st.composite
def pool_cases(draw):
    n, c = draw(st.sampled_from([1, 2])), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kernel = [draw(st.sampled_from([1, 2, 3])), draw(st.sampled_from([1, 2, 3]))]
    stride = [draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 2]))]
    dilation = [draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 2]))]
    padding = [draw(st.integers(0, (dilation[a] * (kernel[a] - 1) + 1) // 2)) for a in (0, 1)]
    ceil_mode = draw(st.booleans())
    sizes = [conv_output_size(s, k, st_, p, d, ceil_mode) for s, k, st_, p, d in
             zip((h, w), kernel, stride, padding, dilation)]
    assume(min(sizes) >= 1)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return (n, c, h, w), dict(kernel_size=kernel, stride=stride, padding=padding,
                              dilation=dilation, ceil_mode=ceil_mode), dtype


def every_window_has_an_input_element(shape, attrs) -> bool:
    """Whether each pooling window has a tap inside the input on both axes (a window of only
    padding gets a position outside the input from the reference: left to it)."""
    for axis in (0, 1):
        size, k = shape[2 + axis], attrs["kernel_size"][axis]
        s, p, d = attrs["stride"][axis], attrs["padding"][axis], attrs["dilation"][axis]
        out = conv_output_size(size, k, s, p, d, attrs["ceil_mode"])
        for window in range(out):
            if not any(0 <= window * s - p + i * d < size for i in range(k)):
                return False
    return True


def _pool_input(rng, shape, dtype, special: bool):
    x = rng.standard_normal(shape).astype(dtype)
    if special:  # ties, -inf everywhere in some windows, NaN
        x = np.round(x).astype(dtype)
        x[rng.random(shape) < 0.4] = -np.inf
        x[rng.random(shape) < 0.05] = np.nan
    return x


@given(pool_cases(), st.booleans(), st.integers(0, 2**32 - 1))
@SETTINGS
def test_max_pool2d_indices_as_an_arg_reduction_matches_the_interpreter(case, special, seed):
    shape, attrs, dtype = case
    x = _pool_input(np.random.default_rng(seed), shape, dtype, special)
    graph = one_node_graph("max_pool2d_indices", [x], attrs)
    lowered = every_window_has_an_input_element(shape, attrs)
    assert library_ops(graph) == ([] if lowered else ["max_pool2d_indices"])
    assert_same_as_interpreter(graph, [x], exact=True)


def _max_pool_step(attrs):
    def step(x, g):
        x = x.detach().requires_grad_()
        out = F.max_pool2d(x, attrs["kernel_size"], attrs["stride"], attrs["padding"],
                           attrs["dilation"], ceil_mode=attrs["ceil_mode"])
        return out, graphc.autograd.grad((out * g).sum(), [x])[0]
    return step


@given(pool_cases(), st.booleans(), st.integers(0, 2**32 - 1))
@SETTINGS
def test_max_pool2d_forward_and_backward_kernels_match_the_interpreter(case, special, seed):
    """The pool's gather (an indirect load) and its gradient's scatter_add (a gather over the
    windows covering each element) give what the interpreter gives, bit for bit."""
    shape, attrs, dtype = case
    # a window of only padding gets no input position: eager max_pool2d then fails in its
    # gather (noted on issue 8); such pools are left to the NumPy references
    assume(every_window_has_an_input_element(shape, attrs))
    rng = np.random.default_rng(seed)
    x = _pool_input(rng, shape, dtype, special)
    step = _max_pool_step(attrs)
    out, _ = step(graphc.from_numpy(x), graphc.from_numpy(x[..., :1, :1]))  # for the shape
    g = rng.standard_normal(out.shape).astype(dtype)
    g[rng.random(g.shape) < 0.1] = -0.0
    fast = graphc.compile(step, backend="llvm")
    slow = graphc.compile(step, backend="interpreter")
    got = fast(graphc.from_numpy(x), graphc.from_numpy(g))
    want = slow(graphc.from_numpy(x), graphc.from_numpy(g))
    program = fast.entries[-1].executable.program
    assert any(isinstance(s, LibraryCall) and s.op in ("gather", "scatter_add",
                                                       "max_pool2d_indices")
               for s in program.steps) != every_window_has_an_input_element(shape, attrs)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert np.array_equal(np.signbit(a.numpy()), np.signbit(b.numpy()))


def test_gather_with_indices_from_anywhere_stays_a_checked_library_call():
    """A gather whose indices may be out of range keeps the reference, which raises."""
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    index = np.array([[0], [2]], dtype=np.int64)
    graph = one_node_graph("gather", [x, index], dict(axis=1))
    assert library_ops(graph) == ["gather"]


# -- a convolution's epilogue, and the digits CNN's training step ------------------------------------
def test_conv2d_bias_relu_epilogue_is_one_kernel_over_the_gemm_product():
    conv = graphc.nn.Conv2d(2, 4, 3, padding=1)

    def forward(x):
        return F.relu(conv(x))

    x = graphc.from_numpy(np.random.default_rng(3).standard_normal((2, 2, 5, 6))
                          .astype(np.float32))
    compiled = graphc.compile(forward, backend="llvm")
    got = compiled(x)
    program = compiled.entries[-1].executable.program
    assert not [s for s in program.steps if isinstance(s, LibraryCall) and s.op != "const"]
    gemm = next(i for i, s in enumerate(program.steps) if isinstance(s, Gemm))
    after = [s for s in program.steps[gemm + 1:] if isinstance(s, Kernel)]
    assert len(after) == 1  # bias add and ReLU read the product in place of a copy
    assert_close(got, forward(x).numpy())


@pytest.mark.parametrize("epilogue", [
    lambda x, w, b: F.conv1d(x, w, b),                       # its bias add is the epilogue
    lambda x, w, b: F.relu(F.conv1d(x, w, padding=1, stride=2)) * 2,
    lambda x, w, b: F.conv2d(x[:, :, None, :], w[:, :, None, :], b).squeeze(2) + 1,
    lambda x, w, b: F.conv2d(x[:, :, None, :], w[:, :, None, :]).reshape(2, -1) * 3,
], ids=["conv1d_bias", "conv1d_relu_scale", "conv2d_h1_squeeze", "conv2d_flatten"])
def test_an_epilogue_reading_the_product_through_a_reshape_takes_its_layout(epilogue):
    """conv1d is conv2d on [N,C,1,L] then a reshape to [N,O,L]: an epilogue after it read
    the GEMM product ([N*L, O]) as if the reshaped value were contiguous (every compiled
    Conv1d with a bias was wrong, by up to 2.5 on unit inputs)."""
    rng = np.random.default_rng(7)
    x = graphc.from_numpy(rng.standard_normal((2, 3, 9)).astype(np.float32))
    w = graphc.from_numpy(rng.standard_normal((4, 3, 3)).astype(np.float32))
    b = graphc.from_numpy(rng.standard_normal(4).astype(np.float32))
    compiled = graphc.compile(epilogue, backend="llvm")
    got = compiled(x, w, b)
    assert any(isinstance(s, Gemm) for s in compiled.entries[-1].executable.program.steps)
    assert_close(got, graphc.compile(epilogue, backend="interpreter")(x, w, b).numpy())


def test_digits_cnn_training_step_runs_no_numpy_reference_for_conv_or_pool():
    from graphc import optim
    rng = np.random.default_rng(4)
    model = graphc.nn.Sequential(graphc.nn.Conv2d(1, 4, 3, padding=1), graphc.nn.ReLU(),
                                 graphc.nn.MaxPool2d(2), graphc.nn.Conv2d(4, 6, 3, padding=1),
                                 graphc.nn.ReLU(), graphc.nn.MaxPool2d(2), graphc.nn.Flatten(),
                                 graphc.nn.Linear(24, 10))
    opt = optim.SGD(model.parameters(), lr=0.1)

    def loss_of(xb, yb):
        return F.cross_entropy(model(xb), yb)

    def step(xb, yb):
        opt.zero_grad()
        loss = loss_of(xb, yb)
        loss.backward()
        opt.step()
        return loss

    x = graphc.from_numpy(rng.random((5, 1, 8, 8)).astype(np.float32))
    y = graphc.from_numpy(rng.integers(0, 10, 5).astype(np.int64))
    params = list(model.parameters())
    opt.zero_grad()
    want_loss = loss_of(x, y)
    want_loss.backward()
    expected = [p.numpy() - np.float32(0.1) * p.grad.numpy() for p in params]  # plain SGD
    compiled = graphc.compile(step, backend="llvm")
    loss = compiled(x, y)
    assert_close(loss.numpy(), want_loss.numpy())
    for p, want in zip(params, expected):
        assert_close(p.numpy(), want)
    program = compiled.entries[-1].executable.program
    left = sorted(s.op for s in program.steps if isinstance(s, LibraryCall) and s.op != "const")
    assert left == ["gather", "scatter_add"]  # only the loss's, at the labels (range-checked)


# -- the numba renderer reads the same kernels: guarded and indirect loads, phases ----------------
def test_numba_renders_the_conv_and_pool_kernels_like_llvm():
    """Guarded loads (padding), several stride phases filling one buffer, window
    arg-reductions and indirect loads, through the numba renderer."""
    numba_backend = backends.get("numba")
    rng = np.random.default_rng(5)
    attrs = dict(stride=[2, 1], padding=[1, 2], dilation=[1, 2])
    x, w = _random(rng, (2, 2, 5, 6), np.float64), _random(rng, (3, 2, 3, 2), np.float64)
    g = _random(rng, (2, 3, 3, 8), np.float64)
    cases = [("conv2d", [x, w], attrs),
             ("conv2d_input_grad", [g, w], dict(attrs, input_shape=[2, 2, 5, 6])),
             ("conv2d_weight_grad", [x, g], dict(attrs, weight_shape=[3, 2, 3, 2])),
             ("max_pool2d_indices", [_pool_input(rng, (2, 2, 5, 6), np.float64, True)],
              dict(kernel_size=[3, 2], stride=[2, 1], padding=[1, 1], dilation=[1, 1],
                   ceil_mode=True))]
    for op, arrays, op_attrs in cases:
        graph = one_node_graph(op, arrays, op_attrs)
        assert library_ops(graph) == []
        assert_same_as_interpreter(graph, arrays, backend=numba_backend)
    pool = dict(kernel_size=[2, 3], stride=[2, 2], padding=[1, 1], dilation=[1, 1],
                ceil_mode=False)
    step = _max_pool_step(pool)
    x = graphc.from_numpy(_pool_input(rng, (2, 2, 5, 6), np.float64, True))
    g = graphc.from_numpy(_random(rng, (2, 2, 3, 3), np.float64))
    got = graphc.compile(step, backend="numba")(x, g)
    want = graphc.compile(step, backend="interpreter")(x, g)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# -- fused bodies starting with a convolution ------------------------------------------------------
CONV_EPILOGUE_WITH_CONV_RESULT = """func @f(%x: f32[2,3,5,4], %w: f32[4,3,3,3], %b: f32[1,4,1,1]) -> (f32[2,4,3,2], f32[2,4,3,2]) {
  %0, %1: f32[2,4,3,2], f32[2,4,3,2] = fused %x, %w, %b {
    (%x: f32[2,3,5,4], %w: f32[4,3,3,3], %b: f32[1,4,1,1]):
    %0: f32[2,4,3,2] = conv2d %x, %w {stride=[2,1], padding=[1,0], dilation=[1,1]}
    %1: f32[2,4,3,2] = add %0, %b
    %2: f32[2,4,3,2] = relu %1
    yield %0, %2
  }
  return %0, %1
}"""

CONV_EPILOGUE_NO_LOOP_NEST = """func @f(%x: f32[2,3,5,4], %g: f32[2,4,3,2]) -> (f32[4,3]) {
  %0: f32[4,3] = fused %x, %g {
    (%x: f32[2,3,5,4], %g: f32[2,4,3,2]):
    %0: f32[4,3,3,3] = conv2d_weight_grad %x, %g {stride=[2,1], padding=[1,0], weight_shape=[4,3,3,3]}
    %1: f32[4,3,3,3] = neg %0
    %2: f32[4,3] = sum %1 {axes=[2,3]}
    %3: f32[4,3] = exp %2
    yield %3
  }
  return %0
}"""


@pytest.mark.parametrize("text,kernels_after_gemm,one_loop_nest",
                         [(CONV_EPILOGUE_WITH_CONV_RESULT, 1, True),
                          (CONV_EPILOGUE_NO_LOOP_NEST, 4, False)],
                         ids=["epilogue-and-conv-result", "epilogue-no-loop-nest"])
def test_fused_bodies_starting_with_a_convolution_match_the_interpreter(
        text, kernels_after_gemm, one_loop_nest):
    """One epilogue kernel (storing the convolution too, when it is a result), or, for an
    epilogue that is no loop nest, the convolution copied out and the nodes as steps."""
    graph = ir.parse(text)
    program = build_program(graph)
    gemm = next(i for i, s in enumerate(program.steps) if isinstance(s, Gemm))
    assert len(program.steps[gemm + 1:]) == kernels_after_gemm
    assert (not program.notes) == one_loop_nest
    assert library_ops(graph) == []
    rng = np.random.default_rng(6)
    arrays = [_random(rng, v.type.shape, np.float32) for v in graph.inputs]
    assert_same_as_interpreter(graph, arrays)
