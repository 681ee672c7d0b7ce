"""L-BFGS with PyTorch's closure API and optional strong-Wolfe line search.

L-BFGS decides how far to go by looking at loss values (line search, stopping tests), so its
``step`` runs eagerly: calling it inside ``@graphc.compile`` is a :class:`~graphc.errors.TraceError`.
The closure it calls may itself be compiled (forward and backward in one graph), which is where
the time goes.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> w = Parameter(graphc.tensor([3.0, -2.0], dtype=graphc.float64))
    >>> opt = graphc.optim.LBFGS([w], line_search_fn="strong_wolfe")
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = ((w - 1.0) ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> [round(v, 6) for v in w.tolist()]
    [1.0, 1.0]
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from graphc import autograd, tracing
from graphc.errors import ArgumentError, ArgumentTypeError, TraceError
from graphc.optim.optimizer import Optimizer, check_numbers
from graphc.tensor import Tensor


class LBFGS(Optimizer):
    """``torch.optim.LBFGS``: one :meth:`step` runs up to ``max_iter`` quasi-Newton iterations.

    Each iteration builds a search direction from the last ``history_size`` pairs of parameter
    and gradient changes (the two-loop recursion, initial Hessian ``y.s / y.y``), then moves
    ``lr`` along it, or as far as a strong-Wolfe line search finds (``line_search_fn=
    "strong_wolfe"``, cubic interpolation, ``c1=1e-4``, ``c2=0.9``). It stops early when the
    largest gradient entry is at most ``tolerance_grad``, or when the step, the directional
    derivative or the loss changes by less than ``tolerance_change``, or after ``max_eval``
    evaluations of the closure (default ``max_iter * 5 // 4``). All parameters form one group;
    the vectors are computed in the parameters' dtype, as PyTorch does.
    """

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None):
        check_numbers("LBFGS", lr=lr, tolerance_grad=tolerance_grad,
                      tolerance_change=tolerance_change)
        if lr < 0.0:
            raise ArgumentError(f"invalid learning rate: {lr}")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ArgumentError(f"line_search_fn must be None or 'strong_wolfe', got "
                                f"{line_search_fn!r}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ArgumentError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # The state (PyTorch's layout: counters, the last direction and step, the curvature pairs)
    # changes at every step, Python numbers included. Traced code never reads it (step refuses
    # to trace), so it is kept out of the compile guards' walk: a compiled closure that calls
    # opt.zero_grad() would otherwise retrace at every evaluation.
    @property  # type: ignore[override]
    def state(self):
        return self._history.state

    @state.setter
    def state(self, value) -> None:
        if "_history" not in self.__dict__:
            self._history = _History()
        self._history.state = value

    # -- the parameters as one flat vector -------------------------------------------------------
    def _flat_grad(self) -> np.ndarray:
        parts = [np.zeros(p.numel(), dtype=p.dtype.numpy) if p.grad is None
                 else np.asarray(p.grad.numpy()).reshape(-1) for p in self._params]
        return np.concatenate(parts)

    def _add_to_params(self, step_size, direction: np.ndarray) -> None:
        offset = 0
        for p in self._params:
            n = p.numel()
            update = step_size * direction[offset:offset + n].reshape(p.shape)
            p.copy_(Tensor._wrap(np.asarray(p.numpy() + update, dtype=p.dtype.numpy)))
            offset += n

    def _param_values(self) -> list:
        return [np.array(p.numpy()) for p in self._params]

    def _set_params(self, values: list) -> None:
        for p, value in zip(self._params, values):
            p.copy_(Tensor._wrap(value))

    def _evaluate(self, closure) -> tuple[float, np.ndarray]:
        with autograd.enable_grad():
            loss = float(closure())
        return loss, self._flat_grad()

    def _directional_evaluate(self, closure, x: list, t, d: np.ndarray):
        """Loss and gradient at ``x + t * d``; the parameters are left at ``x``."""
        self._add_to_params(t, d)
        loss, flat_grad = self._evaluate(closure)
        self._set_params(x)
        return loss, flat_grad

    # -- the step --------------------------------------------------------------------------------
    def step(self, closure: Callable | None = None):  # type: ignore[override]
        """Runs up to ``max_iter`` iterations; ``closure`` clears the gradients, computes the
        loss, calls ``backward()`` and returns the loss. Returns the closure's first loss."""
        if closure is None:
            raise ArgumentTypeError("LBFGS.step needs a closure that re-evaluates the model and returns "
                                    "the loss (opt.step(closure))")
        if tracing.current() is not None:
            raise TraceError("LBFGS.step cannot run inside @graphc.compile: its line search and "
                             "stopping tests read loss values; call opt.step(closure) eagerly "
                             "(the closure itself may be compiled)")
        with autograd.no_grad():
            return self._step(closure)

    def _step(self, closure):
        group = self.param_groups[0]
        lr = group["lr"]
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with autograd.enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        flat_grad = self._flat_grad()
        evals = 1
        state["func_evals"] += 1
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d, t = _array(state.get("d")), state.get("t")
        old_dirs = [_array(v) for v in state.get("old_dirs", [])]
        old_stps = [_array(v) for v in state.get("old_stps", [])]
        ro = list(state.get("ro", []))
        h_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = _array(state.get("prev_flat_grad")), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro, h_diag = [], [], [], 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y @ s
                if ys > 1e-10:  # keep the curvature pair only if it is positive (BFGS condition)
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / (y @ y)
                d = _two_loop_direction(flat_grad, old_dirs, old_stps, ro, h_diag)
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            # the first step is scaled so that it cannot be huge; later ones take lr
            t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad @ d
            if gtd > -tolerance_change:
                break  # not a descent direction any more

            if group["line_search_fn"] == "strong_wolfe":
                x_init = self._param_values()

                def objective(x, step, direction):
                    return self._directional_evaluate(closure, x, step, direction)

                loss, flat_grad, t, ls_evals = _strong_wolfe(
                    objective, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - evals)
                self._add_to_params(t, d)
                converged = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_to_params(t, d)
                ls_evals, converged = 0, False
                if n_iter != max_iter:
                    loss, flat_grad = self._evaluate(closure)
                    converged = np.abs(flat_grad).max() <= tolerance_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals

            if n_iter == max_iter or evals >= max_eval or converged:
                break
            if np.abs(d * t).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=Tensor._wrap(d), t=t, old_dirs=[Tensor._wrap(v) for v in old_dirs],
                     old_stps=[Tensor._wrap(v) for v in old_stps], ro=ro, H_diag=h_diag,
                     prev_flat_grad=Tensor._wrap(prev_flat_grad), prev_loss=prev_loss)
        return orig_loss

    def _restore_state(self, name: str, value, param: Tensor, where: str):
        # flat vectors and lists of them, not tensors shaped like the first parameter
        if isinstance(value, np.ndarray):
            return Tensor._wrap(np.array(value))
        return value


class _History:
    """Holds LBFGS's state where the compile guards do not look (graphc's own class)."""

    __slots__ = ("state",)
    state: defaultdict


def _array(value):
    """A state entry as a NumPy array (None stays None)."""
    if value is None:
        return None
    return np.asarray(value.numpy() if isinstance(value, Tensor) else value)


def _two_loop_direction(flat_grad, old_dirs, old_stps, ro, h_diag) -> np.ndarray:
    """``-H @ flat_grad`` for the L-BFGS inverse-Hessian estimate ``H`` (two-loop recursion)."""
    q = -flat_grad
    alphas = [None] * len(old_dirs)
    for i in reversed(range(len(old_dirs))):
        alphas[i] = (old_stps[i] @ q) * ro[i]
        q = q - alphas[i] * old_dirs[i]
    r = q * h_diag
    for i in range(len(old_dirs)):
        beta = (old_dirs[i] @ r) * ro[i]
        r = r + (alphas[i] - beta) * old_stps[i]
    return r


def _cubic_minimizer(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clipped to
    ``bounds`` (default: between x1 and x2); the middle of the bounds if it has no minimum."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square < 0:
        return (low + high) / 2.0
    d2 = np.sqrt(d2_square)  # in the dtype of the slopes, as PyTorch computes it
    if x1 <= x2:
        position = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        position = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(position, low), high)


def _strong_wolfe(objective, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """A step ``t`` along ``d`` meeting the strong Wolfe conditions (sufficient decrease with
    ``c1``, curvature with ``c2``): first bracket an interval that holds one, then shrink it
    by cubic interpolation (zoom). Returns (loss, flat gradient, t, evaluations)."""
    d_norm = np.abs(d).max()
    f_new, g_new = objective(x, t, d)
    evals = 1
    gtd_new = g_new @ d
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0

    # bracketing: grow t until the interval [t_prev, t] must contain an acceptable step
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate: at least 1% further than the last growth, at most 10 times t
        bounds = (t + 0.01 * (t - t_prev), t * 10)
        t_next = _cubic_minimizer(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=bounds)
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new.copy(), gtd_new
        t = t_next
        f_new, g_new = objective(x, t, d)
        evals += 1
        gtd_new = g_new @ d
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]
        bracket_gtd = [gtd, gtd_new]

    # zoom: shrink the bracket until a point satisfies both conditions
    insufficient_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimizer(bracket[0], bracket_f[0], bracket_gtd[0],
                             bracket[1], bracket_f[1], bracket_gtd[1])
        # a point too close to an end makes little progress: move it 10% inside
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insufficient_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = objective(x, t, d)
        evals += 1
        gtd_new = g_new @ d
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = g_new.copy(), gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = g_new.copy(), gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals
