"""``gradcheck`` and ``gradgradcheck``: autograd's gradients against finite differences
(``torch.autograd.gradcheck``).

``gradcheck(func, inputs)`` compares, for every output of ``func`` that requires grad and every
input that does, the Jacobian that backward computes (one vector-Jacobian product per output
element) with central differences ``(f(x + eps) - f(x - eps)) / (2 eps)`` per input element.
They match when ``|analytical - numerical| <= atol + rtol * |numerical|`` element by element.
``gradgradcheck`` runs the same check on the function that computes the gradients
(``autograd.grad(..., create_graph=True)``), so it tests second derivatives.

    >>> import graphc
    >>> x = graphc.tensor([0.5, -1.5], dtype=graphc.float64, requires_grad=True)
    >>> graphc.autograd.gradcheck(lambda x: graphc.tanh(x) * x, (x,))
    True
    >>> graphc.autograd.gradgradcheck(lambda x: (x ** 3).sum(), (x,))
    True

As in PyTorch, inputs should be float64: with float32 the finite differences lose about half
their digits to rounding (graphc warns, as PyTorch does). ``fast_mode=True`` compares one random
projection ``v^T J u`` per (output, input) pair instead of whole Jacobians (one backward and two
forward calls per pair), and recomputes the full Jacobians to report a mismatch.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Optional

import numpy as np

from graphc import autograd, factories
from graphc.errors import ArgumentError, AutogradError
from graphc.tensor import Tensor
from graphc.user_warnings import warn
from ir import dtypes


class GradcheckError(AutogradError):
    """A gradient check failed (``torch.autograd.gradcheck.GradcheckError``: a RuntimeError)."""


def gradcheck(func: Callable, inputs, *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, nondet_tol: float = 0.0,
              check_undefined_grad: bool = True, check_grad_dtypes: bool = False,
              check_batched_grad: bool = False, check_batched_forward_grad: bool = False,
              check_forward_ad: bool = False, check_backward_ad: bool = True,
              fast_mode: bool = False, masked: Optional[bool] = None) -> bool:
    """Whether ``func``'s gradients with respect to the ``inputs`` that require grad match
    central finite differences (``torch.autograd.gradcheck``, same arguments).

    ``inputs``: a tensor or a sequence of arguments (tensors that require grad are checked;
    anything else is passed through). Raises :class:`GradcheckError` naming the output, the
    input and both Jacobians on a mismatch (returns False with ``raise_exception=False``).

    Besides the Jacobians: backward must be reentrant (two runs within ``nondet_tol``), give
    gradients of each input's shape (and dtype, with ``check_grad_dtypes``), and zero
    gradients for zero output gradients (``check_undefined_grad``). ``check_forward_ad``
    compares forward-mode derivatives (:func:`graphc.func.jvp`) with the finite differences;
    ``check_batched_grad``/``check_batched_forward_grad`` compare :func:`graphc.func.vmap` of
    the VJP/JVP with the unbatched ones. ``masked`` is for sparse inputs, which are not checked.

        >>> import graphc
        >>> x = graphc.tensor([1.0, 2.0], dtype=graphc.float64, requires_grad=True)
        >>> graphc.autograd.gradcheck(graphc.sin, x)
        True
    """
    args = _arguments(inputs)
    checker = _Checker(func, args, eps, atol, rtol, nondet_tol, check_grad_dtypes)
    try:
        checker.run(check_backward_ad=check_backward_ad, check_forward_ad=check_forward_ad,
                    check_undefined_grad=check_undefined_grad, fast_mode=fast_mode,
                    check_batched_grad=check_batched_grad,
                    check_batched_forward_grad=check_batched_forward_grad)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def gradgradcheck(func: Callable, inputs, grad_outputs=None, *, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3,
                  gen_non_contig_grad_outputs: bool = False, raise_exception: bool = True,
                  nondet_tol: float = 0.0, check_undefined_grad: bool = True,
                  check_grad_dtypes: bool = False, check_batched_grad: bool = False,
                  check_fwd_over_rev: bool = False, check_rev_over_rev: bool = True,
                  fast_mode: bool = False, masked: bool = False) -> bool:
    """:func:`gradcheck` of the gradient of ``func`` (``torch.autograd.gradgradcheck``): checks
    second derivatives, with respect to the inputs and to the output gradients.

    ``grad_outputs``: one per output that requires grad; by default random values in [-1, 1)
    of each output's shape and dtype, from a fixed NumPy seed (graphc's generator is not
    touched). ``gen_non_contig_grad_outputs`` is accepted for PyTorch's signature: graphc's
    tensors have no memory layout to vary.

        >>> import graphc
        >>> x = graphc.tensor([0.3, 0.7], dtype=graphc.float64, requires_grad=True)
        >>> graphc.autograd.gradgradcheck(lambda x: graphc.exp(x).prod(), (x,))
        True
    """
    args = _arguments(inputs)
    _require_differentiable_input(args)
    if grad_outputs is None:
        outputs = _differentiable(_as_tuple(func(*args)))
        rng = np.random.default_rng(0)
        grad_outputs = tuple(
            factories.tensor(rng.uniform(-1.0, 1.0, size=o.shape), dtype=o.dtype,
                             requires_grad=True) for o in outputs)
    else:
        grad_outputs = ((grad_outputs,) if isinstance(grad_outputs, Tensor) or grad_outputs
                        is None else tuple(grad_outputs))
    count = len(args)

    def gradients(*all_args):
        primal_args, cotangents = all_args[:count], all_args[count:]
        outputs = _differentiable(_as_tuple(func(*primal_args)))
        if len(outputs) != len(cotangents):
            raise ArgumentError(f"gradgradcheck: grad_outputs has {len(cotangents)} entries, "
                                f"but func has {len(outputs)} outputs that require grad")
        wrt = [a for a in primal_args if _requires_grad(a)]
        grads = autograd.grad(outputs, wrt, cotangents, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(gradients, args + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, nondet_tol=nondet_tol,
                     check_undefined_grad=check_undefined_grad,
                     check_grad_dtypes=check_grad_dtypes, check_batched_grad=check_batched_grad,
                     check_forward_ad=check_fwd_over_rev, check_backward_ad=check_rev_over_rev,
                     fast_mode=fast_mode)


# -- the checks ------------------------------------------------------------------------------
class _Checker:
    """One gradcheck: the arguments, which of them are checked, and the tolerances."""

    def __init__(self, func, args: tuple, eps, atol, rtol, nondet_tol, check_grad_dtypes):
        self.func, self.args = func, args
        self.eps, self.atol, self.rtol, self.nondet_tol = eps, atol, rtol, nondet_tol
        self.check_grad_dtypes = check_grad_dtypes
        self.wrt = _require_differentiable_input(args)  # argument positions checked
        for position in self.wrt:
            if args[position].dtype != dtypes.f64:
                warn(f"Input #{position} requires gradient and is not a double precision "
                     f"floating point ({args[position].dtype}). This check will likely fail "
                     f"if all the inputs are not of double precision floating point.")

    # which argument and output a message names
    def _input_name(self, j: int) -> str:
        position = self.wrt[j]
        return f"input {j}" + (f" (argument {position} of func)" if position != j else "")

    def _fail(self, message: str):
        raise GradcheckError(message)

    def _call(self, args: tuple) -> tuple:
        return _as_tuple(self.func(*args))

    def _fresh(self, replace: Optional[dict] = None) -> tuple:
        """The arguments as new leaves (arrays in ``replace`` by position): every evaluation
        starts its own autograd history."""
        replace = replace or {}
        out = []
        for position, arg in enumerate(self.args):
            if isinstance(arg, Tensor) and (position in replace or _requires_grad(arg)):
                array = replace.get(position, arg.detach().numpy())
                out.append(factories.tensor(np.array(array), dtype=arg.dtype,
                                            requires_grad=_requires_grad(arg)))
            else:
                out.append(arg)
        return tuple(out)

    def run(self, *, check_backward_ad, check_forward_ad, check_undefined_grad, fast_mode,
            check_batched_grad, check_batched_forward_grad) -> None:
        args = self._fresh()
        outputs = self._call(args)
        differentiable = [k for k, o in enumerate(outputs) if _requires_grad(o)]
        if not differentiable:
            # nothing to differentiate: then the outputs must not depend on the inputs
            self._check_constant(outputs)
            return
        self.outputs = [outputs[k] for k in differentiable]
        self.output_positions = differentiable
        if fast_mode:
            self._check_fast(args)
        else:
            numerical = self._numerical_jacobians()
            if check_backward_ad:
                self._compare(numerical, self._analytical_jacobians(args), "")
                self._check_reentrant(args)
            if check_forward_ad:
                self._compare(numerical, self._forward_jacobians(), " (forward AD)")
        if check_backward_ad and check_undefined_grad:
            self._check_zero_grad_outputs(args)
        if check_batched_grad:
            self._check_batched_vjp()
        if check_batched_forward_grad:
            self._check_batched_jvp()

    # -- finite differences ----------------------------------------------------------------
    def _evaluate(self, replace: dict, positions: Sequence[int]) -> list[np.ndarray]:
        """The values of the outputs at ``positions``, at the arguments with ``replace``d
        arrays."""
        outputs = self._call(self._fresh(replace))
        return [_values(outputs[k]) for k in positions]

    def _numerical_jacobians(self) -> list[list[np.ndarray]]:
        """``[output][input]`` of shape (input.numel(), output.numel()), PyTorch's layout."""
        jacobians = [[np.zeros((self.args[p].numel(), o.numel())) for p in self.wrt]
                     for o in self.outputs]
        for j, position in enumerate(self.wrt):
            base = self.args[position].detach().numpy()
            for element in range(base.size):
                difference = self._central_difference(position, base, element, self.eps)
                for k, d in enumerate(difference):
                    jacobians[k][j][element] = d.reshape(-1)
        return jacobians

    def _central_difference(self, position: int, base: np.ndarray, direction, eps: float,
                            outputs: Optional[Sequence[int]] = None):
        """``(f(x + eps d) - f(x - eps d)) / (2 eps)`` for argument ``position``, of the checked
        outputs (or those at the positions ``outputs``); ``direction`` is an element index (a
        unit vector) or an array."""
        plus, minus = base.copy(), base.copy()
        if isinstance(direction, (int, np.integer)):
            # stepped in the argument's own dtype, as PyTorch perturbs the tensor in place
            plus.reshape(-1)[direction] += eps
            minus.reshape(-1)[direction] -= eps
        else:
            plus = (plus + eps * direction).astype(base.dtype)
            minus = (minus - eps * direction).astype(base.dtype)
        positions = self.output_positions if outputs is None else outputs
        high = self._evaluate({position: plus}, positions)
        low = self._evaluate({position: minus}, positions)
        return [(h - lo) / (2 * eps) for h, lo in zip(high, low)]

    def _check_constant(self, outputs: tuple) -> None:
        """No output requires grad: then none of the floating ones may change with an input."""
        floating = [k for k, o in enumerate(outputs)
                    if isinstance(o, Tensor) and o.is_floating_point()]
        for position in self.wrt:
            base = self.args[position].detach().numpy()
            for element in range(base.size):
                slopes = self._central_difference(position, base, element, self.eps, floating)
                for k, slope in zip(floating, slopes):
                    if not np.allclose(slope, 0.0, rtol=self.rtol, atol=self.atol):
                        self._fail(f"Numerical gradient for function expected to be zero: "
                                   f"output {k} does not require grad but changes with "
                                   f"argument {position} of func")

    # -- autograd ----------------------------------------------------------------------------
    def _vjp(self, args: tuple, k: int, cotangent: np.ndarray) -> list[np.ndarray]:
        """``J_k^T cotangent`` for every checked input, as float64 arrays of input shape."""
        output = self._call(args)[self.output_positions[k]]
        wrt = [args[p] for p in self.wrt]
        grads = autograd.grad([output], wrt, [_like(cotangent, output)],
                              retain_graph=True, allow_unused=True)
        result = []
        for j, (g, x) in enumerate(zip(grads, wrt)):
            if g is None:
                result.append(np.zeros(x.shape))
                continue
            if tuple(g.shape) != tuple(x.shape):
                self._fail(f"Gradient has shape mismatch for {self._input_name(j)}: got "
                           f"{list(g.shape)}, expected {list(x.shape)}")
            if self.check_grad_dtypes and g.dtype != x.dtype:
                self._fail(f"Gradient has dtype mismatch for {self._input_name(j)}: got "
                           f"{g.dtype}, expected {x.dtype}")
            result.append(_values(g))
        return result

    def _analytical_jacobians(self, args: tuple) -> list[list[np.ndarray]]:
        jacobians = []
        for k, output in enumerate(self.outputs):
            columns = [np.zeros((self.args[p].numel(), output.numel())) for p in self.wrt]
            for element in range(output.numel()):
                unit = np.zeros(output.numel())
                unit[element] = 1.0
                for j, g in enumerate(self._vjp(args, k, unit.reshape(output.shape))):
                    columns[j][:, element] = g.reshape(-1)
            jacobians.append(columns)
        return jacobians

    def _compare(self, numerical, analytical, how: str) -> None:
        for k in range(len(self.outputs)):
            for j in range(len(self.wrt)):
                n, a = numerical[k][j], analytical[k][j]
                if not np.allclose(a, n, rtol=self.rtol, atol=self.atol, equal_nan=False):
                    self._fail(f"Jacobian mismatch for output {k} with respect to "
                               f"{self._input_name(j)}{how},\nnumerical:{_show(n)}\n"
                               f"analytical:{_show(a)}\nThe max per-element difference is: "
                               f"{np.nanmax(np.abs(a - n)) if a.size else 0.0}.\n")

    def _check_reentrant(self, args: tuple) -> None:
        for k, output in enumerate(self.outputs):
            cotangent = np.ones(output.shape)
            first, second = self._vjp(args, k, cotangent), self._vjp(args, k, cotangent)
            for j, (a, b) in enumerate(zip(first, second)):
                if not np.allclose(a, b, rtol=0.0, atol=self.nondet_tol, equal_nan=True):
                    self._fail(f"Backward is not reentrant, i.e., running backward with the same "
                               f"input and grad_output multiple times gives different values "
                               f"for output {k} and {self._input_name(j)}, although the "
                               f"analytical gradient matches the numerical one. The tolerance "
                               f"for nondeterminism was {self.nondet_tol}.")

    def _check_zero_grad_outputs(self, args: tuple) -> None:
        for k, output in enumerate(self.outputs):
            for j, g in enumerate(self._vjp(args, k, np.zeros(output.shape))):
                if np.any(g != 0):
                    self._fail(f"Expected backward to give zero gradients for zero output "
                               f"gradients, got nonzero values for output {k} and "
                               f"{self._input_name(j)}; pass check_undefined_grad=False to "
                               f"skip this check")

    # -- forward mode and batching -------------------------------------------------------
    def _checked_function(self) -> Callable:
        """``func`` of the checked inputs alone (the rest fixed), returning checked outputs."""
        def partial(*checked):
            args = list(self.args)
            for position, value in zip(self.wrt, checked):
                args[position] = value
            outputs = self._call(tuple(args))
            return tuple(outputs[k] for k in self.output_positions)
        return partial

    def _primals(self) -> tuple:
        return tuple(self.args[p].detach() for p in self.wrt)

    def _forward_jacobians(self) -> list[list[np.ndarray]]:
        from graphc.func import jvp
        jacobians = [[np.zeros((self.args[p].numel(), o.numel())) for p in self.wrt]
                     for o in self.outputs]
        primals = self._primals()
        for j, primal in enumerate(primals):
            for element in range(primal.numel()):
                tangents = tuple(_unit(p, element if i == j else None)
                                 for i, p in enumerate(primals))
                _, outs = self._guarded("forward AD", jvp, self._checked_function(), primals,
                                        tangents)
                for k, t in enumerate(outs):
                    jacobians[k][j][element] = _values(t).reshape(-1)
        return jacobians

    def _guarded(self, what: str, fn, *args):
        try:
            return fn(*args)
        except Exception as error:  # the check reports what went wrong, as PyTorch's does
            self._fail(f"While computing {what}, got: {type(error).__name__}: {error}")

    def _check_batched_vjp(self) -> None:
        from graphc.func import vjp, vmap
        _, vjp_fn = vjp(self._checked_function(), *self._primals())
        rng = np.random.default_rng(1)
        batch = [_like(rng.uniform(-1, 1, (2, *o.shape)), o) for o in self.outputs]
        batched = self._guarded("batched gradients", vmap(vjp_fn), tuple(batch))
        for row in range(2):
            expected = vjp_fn(tuple(b[row] for b in batch))
            for j, (got, want) in enumerate(zip(batched, expected)):
                if not np.allclose(_values(got)[row], _values(want), rtol=self.rtol,
                                   atol=self.atol):
                    self._fail(f"Batched gradient (vmap of the VJP) for {self._input_name(j)} "
                               f"differs from the unbatched one at batch row {row}")

    def _check_batched_jvp(self) -> None:
        from graphc.func import jvp, vmap
        primals, fn = self._primals(), self._checked_function()
        rng = np.random.default_rng(2)
        batch = [_like(rng.uniform(-1, 1, (2, *p.shape)), p) for p in primals]

        def tangent_map(*tangents):
            return jvp(fn, primals, tangents)[1]
        batched = self._guarded("batched forward gradients", vmap(tangent_map), *batch)
        for row in range(2):
            expected = tangent_map(*(b[row] for b in batch))
            for k, (got, want) in enumerate(zip(batched, expected)):
                if not np.allclose(_values(got)[row], _values(want), rtol=self.rtol,
                                   atol=self.atol):
                    self._fail(f"Batched forward gradient (vmap of the JVP) for output {k} "
                               f"differs from the unbatched one at batch row {row}")

    # -- fast mode ---------------------------------------------------------------------------
    def _check_fast(self, args: tuple) -> None:
        """``v^T J u`` from finite differences along ``u`` and from one VJP, per pair."""
        rng = np.random.default_rng(0)
        for j, position in enumerate(self.wrt):
            base = self.args[position].detach().numpy()
            u = rng.uniform(-1.0, 1.0, base.shape)
            u /= max(np.linalg.norm(u), 1e-300)
            slopes = self._central_difference(position, base, u, self.eps)
            for k, output in enumerate(self.outputs):
                v = rng.uniform(-1.0, 1.0, output.shape)
                numerical = float(np.sum(slopes[k] * v))
                analytical = float(np.sum(self._vjp(args, k, v)[j] * u))
                if not np.isclose(analytical, numerical, rtol=self.rtol, atol=self.atol):
                    full_n = self._numerical_jacobians()[k][j]
                    full_a = self._analytical_jacobians(args)[k][j]
                    self._fail(f"Jacobian mismatch for output {k} with respect to "
                               f"{self._input_name(j)},\nnumerical:{numerical}\nanalytical:"
                               f"{analytical}\n\nThe above quantities relating the numerical "
                               f"and analytical jacobians are computed in fast mode (one random "
                               f"projection). In slow mode:\n\nNumerical:\n{_show(full_n)}\n"
                               f"Analytical:\n{_show(full_a)}\n\nThe max per-element "
                               f"difference (slow mode) is: "
                               f"{np.max(np.abs(full_a - full_n))}.\n")


# -- small helpers ---------------------------------------------------------------------------
def _arguments(inputs) -> tuple:
    if isinstance(inputs, Tensor):
        return (inputs,)
    if not isinstance(inputs, (tuple, list)):
        raise ArgumentError(f"gradcheck: inputs must be a tensor or a tuple of arguments, got "
                            f"{type(inputs).__name__}")
    return tuple(inputs)


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _requires_grad(value) -> bool:
    return isinstance(value, Tensor) and value.requires_grad


def _differentiable(outputs: Sequence) -> tuple:
    return tuple(o for o in outputs if _requires_grad(o))


def _require_differentiable_input(args: tuple) -> list[int]:
    positions = [p for p, a in enumerate(args) if _requires_grad(a)]
    if not positions:
        raise ArgumentError("gradcheck expects at least one input tensor to require gradient, "
                            "but none of them have requires_grad=True.")
    for p in positions:
        if not args[p].is_floating_point():
            raise ArgumentError(f"gradcheck: argument {p} requires grad but has dtype "
                                f"{args[p].dtype}; only floating-point inputs are checked")
    return positions


def _values(t: Tensor) -> np.ndarray:
    return np.asarray(t.detach().numpy(), np.float64)


def _like(array: np.ndarray, t: Tensor) -> Tensor:
    """``array`` as a tensor of ``t``'s dtype."""
    return factories.tensor(array, dtype=t.dtype)


def _unit(like: Tensor, element: Optional[int]) -> Tensor:
    """A tensor of ``like``'s shape and dtype: zeros, with a one at ``element`` if given."""
    unit = np.zeros(like.shape)
    if element is not None:
        unit.reshape(-1)[element] = 1
    return _like(unit, like)


def _show(jacobian: np.ndarray) -> str:
    return np.array2string(jacobian, precision=4, suppress_small=True)


__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]
