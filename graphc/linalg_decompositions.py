"""``graphc.linalg``'s decompositions, as PyTorch's: ``qr``, ``eigh``, ``eigvalsh``, ``svd``,
``svdvals``, and what is built on them: ``lstsq``, ``pinv``, ``matrix_rank``, ``cond``. Each
takes a batch of matrices in its last two dimensions (``(*, m, n)``; ``eigh`` square ones).

    >>> import graphc
    >>> a = graphc.tensor([[3.0, 0.0], [4.0, 5.0]], dtype=graphc.float64, requires_grad=True)
    >>> [round(s, 4) for s in graphc.linalg.svdvals(a).tolist()]
    [6.7082, 2.2361]
    >>> graphc.linalg.svdvals(a).sum().backward()   # d (nuclear norm) / dA = U V^T
    >>> [round(v, 4) for v in a.grad.flatten().tolist()]
    [0.8944, -0.4472, 0.4472, 0.8944]

As in ``linalg_solvers``, the factorizations run in LAPACK (NumPy's) eagerly, float32 in
float32 and float64 in float64, and their gradients are PyTorch's formulas written with graphc
ops that recompute the factorization, so ``create_graph=True`` gives second derivatives. Inside
a compiled function or a traced transform they are refused (``TraceError``).

Singular vectors and eigenvectors are defined up to sign (LAPACK's choice, the same as
PyTorch's on CPU): a loss should not depend on that sign (functions of ``U diag(S) Vh``,
of ``|U|``, of ``V diag(f(w)) V^T``), since the gradient assumes it does not. The gradients of
``eigh`` and ``svd`` divide by the gaps between eigenvalues (squared singular values), so they
are infinite where two coincide and the loss depends on the vectors, as PyTorch's.
``eig`` and ``eigvals`` answer complex tensors, which graphc does not have.
"""
from __future__ import annotations

import numpy as np

from graphc import autograd
from graphc import functions as F
from graphc.amp.autocast_mode import autocast_op
from graphc.autograd_function import Function
from graphc.errors import AutogradError, ShapeError
from graphc.linalg_solvers import (
    LinAlgError,
    _compute_dtype,
    _eager_only,
    _lapack,
    _wrap,
    inv,
    solve,
)
from graphc.tensor import Tensor

__all__ = ["qr", "eigh", "eigvalsh", "svd", "svdvals", "lstsq", "pinv", "matrix_rank", "cond"]


def _matrices(name: str, a, square: bool = False) -> Tensor:
    """The checked batch of matrices of a function that runs in LAPACK, eagerly."""
    a = F.to_tensor(a)
    if a.ndim < 2:
        raise ShapeError(f"linalg.{name}: A must have at least 2 dimensions (*, m, n), got "
                         f"shape {list(a.shape)}")
    if square and a.shape[-1] != a.shape[-2]:
        raise ValueError(f"linalg.{name}: A must be a batch of square matrices, got shape "
                         f"{list(a.shape)}")
    if not a.dtype.is_float:
        raise TypeError(f"linalg.{name}: expected a floating point tensor, got {a.dtype}")
    _eager_only(name, a)
    return a


def _array(a: Tensor) -> np.ndarray:
    return a.numpy().astype(_compute_dtype(a))


def _eye(n: int, like: Tensor) -> Tensor:
    from graphc.factories import eye
    return eye(n, dtype=like.dtype)


def _diag_embed(v: Tensor) -> Tensor:
    return F.mul(F.unsqueeze(v, -1), _eye(v.shape[-1], v))


# ------------------------------------------------------------------------------------------------
# QR
# ------------------------------------------------------------------------------------------------
class _QR(Function):
    @staticmethod
    def forward(ctx, a, mode):
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(a)
        ctx.mode = mode
        array = _array(a)
        if mode == "r":  # Q is not computed: an empty tensor, as PyTorch's
            r = _lapack("qr", lambda x: np.linalg.qr(x, mode="r"), array)
            return _wrap(np.zeros(0), a), _wrap(r, a)
        q, r = _lapack("qr", lambda x: np.linalg.qr(x, mode=mode), array)
        return _wrap(q, a), _wrap(r, a)

    @staticmethod
    def backward(ctx, grad_q, grad_r):
        (a,) = ctx.saved_tensors
        if ctx.mode == "r":
            raise AutogradError("linalg.qr: the derivative of linalg.qr depends on Q, which is "
                                "not computed when mode='r'. Use linalg.qr(A, mode='reduced') "
                                "if you are going to differentiate through linalg.qr")
        m, n = a.shape[-2], a.shape[-1]
        if ctx.mode == "complete" and m > n:
            raise AutogradError("linalg.qr: the QR decomposition is not differentiable when "
                                "mode='complete' and nrows > ncols (the last m - n columns "
                                "of Q are not determined by A)")
        q, r = qr(a, ctx.mode)  # (recorded under create_graph: second derivatives)
        return _qr_backward(grad_q, grad_r, q, r), None


def _qr_backward(gq, gr, q, r):
    """PyTorch's ``linalg_qr_backward`` (real case): for m >= n,
    ``gA = (gQ + Q syminvadj(triu(gR R^T - Q^T gQ))) R^-T``. For m < n, A = Q [X | Y] is the
    square factorization A1 = Q X of the first m columns, and Y = Q^T A2: A2 gets ``Q gY``,
    and Q the extra gradient ``A2 gY^T = Q Y gY^T``."""
    m, n = q.shape[-2], r.shape[-1]
    if m >= n:
        return _qr_backward_tall(gq, gr, q, r)
    x, y = F.narrow(r, -1, 0, m), F.narrow(r, -1, m, n - m)
    gx = gy = None
    if gr is not None:
        gx, gy = F.narrow(gr, -1, 0, m), F.narrow(gr, -1, m, n - m)
        extra = F.matmul(q, F.matmul(y, gy.mT))
        gq = extra if gq is None else F.add(gq, extra)
    grad_first = _qr_backward_tall(gq, gx, q, x)
    from graphc.factories import zeros
    grad_rest = (F.matmul(q, gy) if gy is not None
                 else zeros(*grad_first.shape[:-1], n - m, dtype=grad_first.dtype))
    return F.cat([grad_first, grad_rest], -1)


def _qr_backward_tall(gq, gr, q, r):
    if gq is not None:
        ga = F.neg(F.matmul(q.mT, gq))
        if gr is not None:
            ga = F.add(ga, F.matmul(gr, r.mT))
    else:
        ga = F.matmul(gr, r.mT)
    upper = F.triu(ga)
    sym = F.sub(F.add(upper, upper.mT), F.mul(upper, _eye(upper.shape[-1], upper)))
    ga = F.matmul(q, sym)
    if gq is not None:
        ga = F.add(ga, gq)
    return solve(r.mT, ga, left=False)


@autocast_op("linalg_qr")
def qr(A: Tensor, mode: str = "reduced"):
    """``(Q, R)`` with ``A = Q R``, ``Q`` with orthonormal columns and ``R`` upper triangular
    (``torch.linalg.qr``). ``mode='reduced'`` gives ``Q`` (m, k), ``R`` (k, n) with
    k = min(m, n); ``'complete'`` a square ``Q`` (m, m); ``'r'`` only ``R`` (``Q`` empty).
    Differentiable for ``'reduced'``, and for ``'complete'`` when m <= n.

        >>> import graphc
        >>> q, r = graphc.linalg.qr(graphc.tensor([[3.0, 1.0], [4.0, 2.0]]))
        >>> [round(v, 4) for v in r.flatten().tolist()]
        [-5.0, -2.2, 0.0, 0.4]
    """
    from graphc.return_types import linalg_qr
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    A = _matrices("qr", A)
    q, r = _QR.apply(A, mode)
    if mode == "r":
        q = q.detach()
    return linalg_qr(q, r)


# ------------------------------------------------------------------------------------------------
# Symmetric eigendecomposition
# ------------------------------------------------------------------------------------------------
class _Eigh(Function):
    @staticmethod
    def forward(ctx, a, uplo):
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(a)
        ctx.uplo = uplo
        w, v = _lapack("eigh", lambda x: np.linalg.eigh(x, UPLO=uplo), _array(a))
        return _wrap(w, a), _wrap(v, a)

    @staticmethod
    def backward(ctx, grad_w, grad_v):
        (a,) = ctx.saved_tensors
        w, v = eigh(a, ctx.uplo)  # (recorded under create_graph: second derivatives)
        if grad_v is None:  # eigenvalues only: V diag(gw) V^T
            return F.matmul(F.mul(v, F.unsqueeze(grad_w, -2)), v.mT), None
        # PyTorch's rule: V (skew(V^T gV) / E + diag(gw)) V^T with E_ij = w_j - w_i (1 on the
        # diagonal, where the skew part is 0). Symmetric, whichever triangle was read.
        vtgv = F.matmul(v.mT, grad_v)
        skew = F.mul(F.sub(vtgv, vtgv.mT), 0.5)
        k = w.shape[-1]
        gaps = F.add(F.sub(F.unsqueeze(w, -2), F.unsqueeze(w, -1)), _eye(k, w))
        ga = F.div(skew, gaps)
        if grad_w is not None:
            ga = F.add(ga, _diag_embed(grad_w))
        return F.matmul(v, F.matmul(ga, v.mT)), None


def _uplo(name: str, UPLO) -> str:
    if UPLO not in ("L", "U"):
        raise ValueError(f"linalg.{name}: UPLO must be 'L' or 'U', got {UPLO!r}")
    return UPLO


@autocast_op("linalg_eigh")
def eigh(A: Tensor, UPLO: str = "L"):
    """``(eigenvalues, eigenvectors)`` of each symmetric matrix of ``A``
    (``torch.linalg.eigh``): eigenvalues ascending, eigenvectors the orthonormal columns of
    ``V`` with ``A = V diag(w) V^T``. Only the ``UPLO`` triangle (``'L'`` lower, ``'U'``
    upper) is read, as LAPACK's. The gradient is PyTorch's: symmetric, and divided by the gaps
    between eigenvalues where the loss depends on the eigenvectors.

        >>> import graphc
        >>> w, v = graphc.linalg.eigh(graphc.tensor([[2.0, 1.0], [1.0, 2.0]]))
        >>> w.tolist()
        [1.0, 3.0]
    """
    from graphc.return_types import linalg_eigh
    A = _matrices("eigh", A, square=True)
    w, v = _Eigh.apply(A, _uplo("eigh", UPLO))
    return linalg_eigh(w, v)


@autocast_op("linalg_eigh")
def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues, ascending, of each symmetric matrix of ``A``
    (``torch.linalg.eigvalsh``); only the ``UPLO`` triangle is read. Gradient ``V diag(g) V^T``.
    """
    A = _matrices("eigvalsh", A, square=True)
    uplo = _uplo("eigvalsh", UPLO)
    if autograd.is_grad_enabled() and A.requires_grad:  # the gradient needs the eigenvectors
        return _Eigh.apply(A, uplo)[0]
    w = _lapack("eigvalsh", lambda x: np.linalg.eigvalsh(x, UPLO=uplo), _array(A))
    return _wrap(w, A)


# ------------------------------------------------------------------------------------------------
# Singular value decomposition
# ------------------------------------------------------------------------------------------------
class _SVD(Function):
    @staticmethod
    def forward(ctx, a, full_matrices):
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(a)
        ctx.full_matrices = full_matrices
        u, s, vh = _lapack("svd", lambda x: np.linalg.svd(x, full_matrices=full_matrices),
                           _array(a))
        return _wrap(u, a), _wrap(s, a), _wrap(vh, a)

    @staticmethod
    def backward(ctx, grad_u, grad_s, grad_vh):
        (a,) = ctx.saved_tensors
        u, s, vh = svd(a, full_matrices=False)  # (recorded under create_graph)
        k = s.shape[-1]
        if ctx.full_matrices:  # the extra columns of U (rows of Vh) do not depend on A
            if grad_u is not None:
                grad_u = F.narrow(grad_u, -1, 0, k)
            if grad_vh is not None:
                grad_vh = F.narrow(grad_vh, -2, 0, k)
        return _svd_backward(grad_u, grad_s, grad_vh, u, s, vh), None


def _svd_backward(gu, gs, gvh, u, s, vh):
    """PyTorch's ``svd_backward`` (real case; distinct singular values assumed)."""
    m, n = u.shape[-2], vh.shape[-1]
    if gu is None and gvh is None:  # singular values only: U diag(gS) Vh
        if m >= n:
            return F.matmul(u, F.mul(F.unsqueeze(gs, -1), vh))
        return F.matmul(F.mul(u, F.unsqueeze(gs, -2)), vh)
    k = s.shape[-1]
    s2 = F.mul(s, s)
    gaps = F.add(F.sub(F.unsqueeze(s2, -2), F.unsqueeze(s2, -1)), _eye(k, s))
    terms = []
    if gu is not None:
        utgu = F.matmul(u.mT, gu)
        terms.append(F.mul(F.sub(utgu, utgu.mT), F.unsqueeze(s, -2)))
    if gvh is not None:
        vtgv = F.matmul(vh, gvh.mT)
        terms.append(F.mul(F.unsqueeze(s, -1), F.sub(vtgv, vtgv.mT)))
    ga = F.div(terms[0] if len(terms) == 1 else F.add(terms[0], terms[1]), gaps)
    if gs is not None:
        ga = F.add(ga, _diag_embed(gs))
    if m > n and gu is not None:  # the part of gU outside U's span
        ga = F.matmul(u, ga)
        gu_sinv = F.div(gu, F.unsqueeze(s, -2))
        ga = F.add(ga, F.sub(gu_sinv, F.matmul(u, F.matmul(u.mT, gu_sinv))))
        return F.matmul(ga, vh)
    if m < n and gvh is not None:  # the part of gVh outside Vh's row space
        ga = F.matmul(ga, vh)
        sinv_gvh = F.div(gvh, F.unsqueeze(s, -1))
        ga = F.add(ga, F.sub(sinv_gvh, F.matmul(F.matmul(sinv_gvh, vh.mT), vh)))
        return F.matmul(u, ga)
    return F.matmul(u, F.matmul(ga, vh)) if m >= n else F.matmul(F.matmul(u, ga), vh)


@autocast_op("linalg_svd")
def svd(A: Tensor, full_matrices: bool = True, *, driver=None):
    """``(U, S, Vh)`` with ``A = U diag(S) Vh`` (``torch.linalg.svd``): ``S`` descending,
    ``U`` (m, m) and ``Vh`` (n, n) orthogonal with ``full_matrices``, else (m, k) and (k, n),
    k = min(m, n). The singular vectors are defined up to sign: differentiate losses that do
    not depend on it (the gradient divides by the gaps between squared singular values).

        >>> import graphc
        >>> u, s, vh = graphc.linalg.svd(graphc.tensor([[0.0, 2.0], [1.0, 0.0]]))
        >>> s.tolist()
        [2.0, 1.0]
    """
    from graphc.return_types import linalg_svd
    if driver is not None:
        raise ValueError(f"linalg.svd: driver={driver!r} is only supported on CUDA inputs")
    A = _matrices("svd", A)
    u, s, vh = _SVD.apply(A, bool(full_matrices))
    return linalg_svd(u, s, vh)


@autocast_op("linalg_svd")
def svdvals(A: Tensor, *, driver=None) -> Tensor:
    """The singular values, descending, of each matrix of ``A`` (``torch.linalg.svdvals``);
    gradient ``U diag(g) Vh``."""
    if driver is not None:
        raise ValueError(f"linalg.svdvals: driver={driver!r} is only supported on CUDA inputs")
    A = _matrices("svdvals", A)
    if autograd.is_grad_enabled() and A.requires_grad:  # the gradient needs the vectors
        return _SVD.apply(A, False)[1]
    s = _lapack("svdvals", lambda x: np.linalg.svd(x, compute_uv=False), _array(A))
    return _wrap(s, A)


# ------------------------------------------------------------------------------------------------
# Pseudoinverse, rank, least squares, condition number
# ------------------------------------------------------------------------------------------------
def _tolerance(name: str, value, a: Tensor):
    """``atol``/``rtol`` as an array broadcasting against the batch of ``a`` (or None)."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        if not value.dtype.is_float:
            raise TypeError(f"linalg.{name}: a tolerance tensor must be floating point, got "
                            f"{value.dtype}")
        return value.numpy().astype(np.float64)
    return np.float64(value)


def _threshold(name: str, a: Tensor, magnitudes: np.ndarray, atol, rtol) -> np.ndarray:
    """PyTorch's ``max(atol, rtol * largest)`` per matrix, as a (*, 1) array: rtol is eps times
    max(m, n) when neither is given, and 0 when only ``atol`` (> 0) is."""
    atol, rtol = _tolerance(name, atol, a), _tolerance(name, rtol, a)
    if rtol is None:
        rtol = (np.float64(np.finfo(_compute_dtype(a)).eps * max(a.shape[-2:]))
                if atol is None or np.all(atol <= 0) else np.float64(0.0))
    if atol is None:
        atol = np.float64(0.0)
    largest = (magnitudes.max(axis=-1) if magnitudes.shape[-1]
               else np.zeros(magnitudes.shape[:-1]))
    return np.maximum(atol, rtol * largest)[..., None]


def _pinv_array(name: str, a: Tensor, atol, rtol, hermitian: bool) -> np.ndarray:
    array = _array(a)
    m, n = array.shape[-2:]
    if array.size == 0:
        return np.zeros(array.shape[:-2] + (n, m), dtype=array.dtype)
    if hermitian:
        w, v = _lapack(name, np.linalg.eigh, array)
        keep = np.abs(w) > _threshold(name, a, np.abs(w), atol, rtol)
        inverse = np.where(keep, 1.0 / np.where(keep, w, 1.0), 0.0)
        return (v * inverse[..., None, :]) @ np.swapaxes(v, -1, -2)
    u, s, vh = _lapack(name, lambda x: np.linalg.svd(x, full_matrices=False), array)
    keep = s > _threshold(name, a, s, atol, rtol)
    inverse = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    return (np.swapaxes(vh, -1, -2) * inverse[..., None, :]) @ np.swapaxes(u, -1, -2)


class _Pinv(Function):
    @staticmethod
    def forward(ctx, a, atol, rtol, hermitian):
        ctx.save_for_backward(a)
        ctx.options = (atol, rtol, hermitian)
        return _wrap(_pinv_array("pinv", a, atol, rtol, hermitian), a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        atol, rtol, hermitian = ctx.options
        a_pinv = pinv(a, atol=atol, rtol=rtol, hermitian=hermitian)  # (create_graph)
        return _pinv_backward(grad, a_pinv, a), None, None, None


def _pinv_backward(grad, a_pinv, a):
    """PyTorch's ``pinv_backward``: the derivative of A+ where the rank does not change,
    arranged so that the products are of the smaller dimension."""
    m, n = a.shape[-2], a.shape[-1]
    mm = F.matmul
    a_pinv_t, grad_t = a_pinv.mT, grad.mT
    if m <= n:
        k = mm(grad_t, a_pinv)
        k_pinv_t = mm(k, a_pinv_t)
        return F.add(F.sub(F.sub(k_pinv_t, mm(a_pinv, k).mT), mm(mm(a, a_pinv), k_pinv_t)),
                     mm(mm(a_pinv_t, a_pinv), F.sub(grad_t, mm(k, a))))
    k = mm(a_pinv, grad_t)
    pinv_t_k = mm(a_pinv_t, k)
    return F.sub(F.add(F.sub(mm(mm(F.sub(grad_t, mm(a, k)), a_pinv), a_pinv_t),
                             mm(k, a_pinv).mT), pinv_t_k),
                 mm(mm(pinv_t_k, a_pinv), a))


def pinv(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The Moore-Penrose pseudoinverse of each matrix of ``A`` (``torch.linalg.pinv``): singular
    values at most ``max(atol, rtol * largest)`` count as zero (``rtol`` defaults to eps times
    max(m, n) when neither is given). ``hermitian=True`` reads a symmetric ``A``'s lower
    triangle through ``eigh``. The gradient is PyTorch's (valid where the rank is constant).

        >>> import graphc
        >>> [round(v, 4) for v in graphc.linalg.pinv(graphc.tensor([[1.0, 2.0]])).flatten().tolist()]
        [0.2, 0.4]
    """
    A = _matrices("pinv", A, square=hermitian)
    return _Pinv.apply(A, atol, rtol, bool(hermitian))


def matrix_rank(A: Tensor, tol=None, hermitian: bool = False, *, atol=None,
                rtol=None) -> Tensor:
    """The number of singular values (eigenvalue magnitudes with ``hermitian``) above
    ``max(atol, rtol * largest)`` for each matrix (``torch.linalg.matrix_rank``), int64.
    ``tol`` is the older name of ``atol``."""
    if tol is not None:
        if atol is not None or rtol is not None:
            raise ValueError("linalg.matrix_rank: give tol or atol/rtol, not both")
        atol, rtol = tol, 0.0
    A = _matrices("matrix_rank", A, square=hermitian)
    array = _array(A)
    if hermitian:
        magnitudes = np.abs(_lapack("matrix_rank", np.linalg.eigvalsh, array))
    else:
        magnitudes = _lapack("matrix_rank", lambda x: np.linalg.svd(x, compute_uv=False), array)
    threshold = _threshold("matrix_rank", A, magnitudes, atol, rtol)
    return Tensor._wrap(np.asarray((magnitudes > threshold).sum(axis=-1), dtype=np.int64))


_LSTSQ_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


class _LstsqSolution(Function):
    @staticmethod
    def forward(ctx, a, b, rcond):
        ctx.save_for_backward(a, b)
        dtype = _compute_dtype(a)
        matrix, rhs = a.numpy().astype(dtype), b.numpy().astype(dtype)
        u, s, vh = _lapack("lstsq", lambda x: np.linalg.svd(x, full_matrices=False), matrix)
        largest = s.max(axis=-1, keepdims=True) if s.shape[-1] else np.zeros(s.shape[:-1] + (1,))
        keep = s > rcond * largest
        inverse = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
        x = np.swapaxes(vh, -1, -2) @ (inverse[..., :, None] * (np.swapaxes(u, -1, -2) @ rhs))
        return _wrap(x, a)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        a_pinv = pinv(a)  # (PyTorch's lstsq backward: through pinv(A) B; create_graph works)
        grad_a = _pinv_backward(F.matmul(grad, b.mT), a_pinv, a)
        grad_b = F.matmul(a_pinv.mT, grad)
        return grad_a, grad_b, None


@autocast_op("linalg_lstsq")
def lstsq(A: Tensor, B: Tensor, rcond=None, *, driver=None):
    """The least-squares solution ``X`` minimizing ``|A X - B|`` (the minimum-norm one where
    ``A`` is rank deficient), as ``torch.linalg.lstsq`` on CPU: a named tuple ``(solution,
    residuals, rank, singular_values)``. ``driver`` is ``'gelsy'`` (default), ``'gels'``
    (full rank assumed), ``'gelsd'`` or ``'gelss'``; singular values at most ``rcond`` times the
    largest count as zero (default: eps times max(m, n)). As PyTorch: ``residuals`` (the squared
    residual of each column) only for m > n and full rank and not ``'gelsy'``, ``rank`` except
    for ``'gels'``, ``singular_values`` for ``'gelsd'``/``'gelss'``; the others are empty. ``B``
    is (*, m, k), or (*, m) for one vector per matrix. Only the solution has a gradient
    (PyTorch's, through ``pinv(A) @ B``).

        >>> import graphc
        >>> a = graphc.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]])
        >>> x = graphc.linalg.lstsq(a, graphc.tensor([[1.0], [2.0], [4.0]])).solution
        >>> [round(v, 4) for v in x.flatten().tolist()]
        [0.8333, 1.5]
    """
    from graphc.return_types import linalg_lstsq
    A = _matrices("lstsq", A)
    B = F.to_tensor(B)
    _eager_only("lstsq", B)
    if not B.dtype.is_float:
        raise TypeError(f"linalg.lstsq: expected a floating point B, got {B.dtype}")
    if B.dtype != A.dtype:
        raise TypeError(f"linalg.lstsq: A ({A.dtype}) and B ({B.dtype}) must have the same "
                        f"dtype")
    if driver is None:
        driver = "gelsy"
    if driver not in _LSTSQ_DRIVERS:
        raise ValueError(f"linalg.lstsq: driver must be one of {', '.join(_LSTSQ_DRIVERS)} "
                         f"on CPU, got {driver!r}")
    vector = B.ndim == A.ndim - 1
    if vector:
        B = F.unsqueeze(B, -1)
    if B.ndim < 2 or B.shape[-2] != A.shape[-2]:
        raise ValueError(f"linalg.lstsq: B of shape {list(B.shape)} does not match A of shape "
                         f"{list(A.shape)}: expected (*, {A.shape[-2]}, k) or (*, "
                         f"{A.shape[-2]})")
    batch = tuple(np.broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2])))
    if tuple(A.shape[:-2]) != batch:
        A = F.broadcast_to(A, list(batch) + list(A.shape[-2:]))
    if tuple(B.shape[:-2]) != batch:
        B = F.broadcast_to(B, list(batch) + list(B.shape[-2:]))
    m, n = A.shape[-2], A.shape[-1]
    eps = np.finfo(_compute_dtype(A)).eps
    rcond = eps * max(m, n) if rcond is None else float(rcond)
    array = _array(A)
    s = _lapack("lstsq", lambda x: np.linalg.svd(x, compute_uv=False), array)
    largest = s.max(axis=-1, keepdims=True) if s.shape[-1] else np.zeros(s.shape[:-1] + (1,))
    if driver == "gels":  # QR/LQ: full rank assumed, and an exactly rank-deficient A refused
        if (s <= eps * max(m, n) * largest).any() and min(m, n) > 0:
            raise LinAlgError("linalg.lstsq: the least squares solution could not be computed "
                              "because the input matrix does not have full rank (driver "
                              "'gels'; use 'gelsy', 'gelsd' or 'gelss')")
        solution = _LstsqSolution.apply(A, B, 0.0)
    else:
        solution = _LstsqSolution.apply(A, B, rcond)
    rank = (s > rcond * largest).sum(axis=-1)
    empty = _wrap(np.zeros(0), A)
    residuals = empty
    if driver != "gelsy" and m > n and (driver == "gels" or bool((rank == n).all())):
        with autograd.no_grad():
            diff = F.sub(F.matmul(A, solution), B)
            residuals = F.sum(F.mul(diff, diff), -2).detach()
    rank_out = Tensor._wrap(np.zeros(0, dtype=np.int64) if driver == "gels"
                            else np.asarray(rank, dtype=np.int64))
    values = _wrap(s, A) if driver in ("gelsd", "gelss") else empty
    if vector:
        solution = F.squeeze(solution, -1)
    return linalg_lstsq(solution, residuals, rank_out, values)


_COND_NORMS = (None, 2, -2, "fro", "nuc", float("inf"), -float("inf"), 1, -1)


def cond(A: Tensor, p=None) -> Tensor:
    """The condition number of each matrix of ``A`` in the ``p`` norm (``torch.linalg.cond``):
    ``None``/``2`` the largest over the smallest singular value, ``-2`` the inverse (any
    (m, n)); ``'fro'``, ``'nuc'``, ``inf``, ``-inf``, ``1``, ``-1``: ``norm(A) * norm(inv(A))``
    of square ones, ``inf`` for a singular one."""
    if p not in _COND_NORMS:
        raise ValueError(f"linalg.cond: p must be one of None, 2, -2, 'fro', 'nuc', inf, -inf, "
                         f"1, -1, got {p!r}")
    A = _matrices("cond", A, square=p not in (None, 2, -2))
    if p in (None, 2, -2):
        s = svdvals(A)
        if s.shape[-1] == 0:  # 0x0 matrices: 0, as PyTorch
            return F.sum(s, -1)
        big, small = F.narrow(s, -1, 0, 1), F.narrow(s, -1, s.shape[-1] - 1, 1)
        ratio = F.div(small, big) if p == -2 else F.div(big, small)
        return F.squeeze(ratio, -1)
    from graphc.linalg import matrix_norm
    n = A.shape[-1]
    if n == 0:
        return F.sum(F.sum(A, -1), -1)
    array = _array(A).reshape((-1, n, n))
    singular = np.zeros(array.shape[0], dtype=bool)
    for i, matrix in enumerate(array):  # LU breaks down: PyTorch answers inf
        try:
            np.linalg.inv(matrix)
        except np.linalg.LinAlgError:
            singular[i] = True
    singular = singular.reshape(A.shape[:-2])
    if not singular.any():
        return F.mul(matrix_norm(A, p), matrix_norm(inv(A), p))
    mask = Tensor._wrap(singular[..., None, None])
    safe = F.where(mask, _eye(n, A), A)  # (no gradient reaches the singular ones)
    value = F.mul(matrix_norm(safe, p), matrix_norm(inv(safe), p))
    return F.where(Tensor._wrap(singular), float("inf"), value)


# ------------------------------------------------------------------------------------------------
# PyTorch's older top-level spellings (graphc.svd, graphc.qr, graphc.pinverse and the methods)
# ------------------------------------------------------------------------------------------------
@autocast_op("linalg_svd")
def svd_legacy(input: Tensor, some: bool = True, compute_uv: bool = True):
    """``torch.svd``: ``(U, S, V)`` with ``A = U diag(S) V^T`` (``V``, not ``Vh``); ``some``
    is the reduced factorization. Without ``compute_uv``, ``U`` and ``V`` are zero-filled
    (m, m) and (n, n) matrices, as PyTorch's."""
    from graphc.return_types import svd as result
    if not compute_uv:
        s = svdvals(input)
        m, n = input.shape[-2], input.shape[-1]
        batch = tuple(input.shape[:-2])
        return result(_wrap(np.zeros(batch + (m, m)), s), s, _wrap(np.zeros(batch + (n, n)), s))
    u, s, vh = svd(input, full_matrices=not some)
    return result(u, s, vh.mT)


@autocast_op("linalg_qr")
def qr_legacy(input: Tensor, some: bool = True):
    """``torch.qr``: ``linalg.qr`` with ``mode='reduced'`` (``some``) or ``'complete'``."""
    from graphc.return_types import qr as result
    q, r = qr(input, "reduced" if some else "complete")
    return result(q, r)


@autocast_op("pinverse")
def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """``torch.pinverse``: ``linalg.pinv`` with singular values at most ``rcond`` times the
    largest counted as zero."""
    return pinv(input, rtol=rcond)
