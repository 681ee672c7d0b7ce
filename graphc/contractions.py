"""Tensor contractions written from ``transpose``, ``reshape``, ``broadcast_to``, ``sum`` and
``matmul``, so that they run as GEMMs: ``einsum``, ``tensordot``, ``mv``, ``ger``, ``addmm``,
``addmv``, ``addbmm`` and ``baddbmm``, with PyTorch's signatures.

    >>> import graphc
    >>> a, b = graphc.ones(2, 3), graphc.ones(3, 4)
    >>> graphc.einsum("ij,jk->ik", a, b).tolist()[0]
    [3.0, 3.0, 3.0, 3.0]
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from graphc import functions as F
from graphc.amp.autocast_mode import autocast_op
from graphc.errors import ShapeError
from graphc.tensor import Tensor
from ir.types import broadcasts_to

_ELLIPSIS_LABEL = "…{}"  # the labels of the dims '...' stands for, counted from the right


# -- einsum -------------------------------------------------------------------------------------
def _parse_equation(equation: str, operands: Sequence[Tensor]):
    """One label list per operand and the output's labels, with '...' expanded."""
    equation = equation.replace(" ", "")
    inputs_text, arrow, output_text = equation.partition("->")
    terms = inputs_text.split(",")
    if len(terms) != len(operands):
        raise ShapeError(f"einsum(): the equation {equation!r} names {len(terms)} operands but "
                         f"{len(operands)} were given")
    ellipsis_rank = 0
    for term, x in zip(terms, operands):
        if "..." in term:
            ellipsis_rank = max(ellipsis_rank, x.ndim - len(term.replace("...", "")))
    labels = []
    for i, (term, x) in enumerate(zip(terms, operands)):
        labels.append(_expand_term(term, x.ndim, ellipsis_rank, f"operand {i}"))
    if arrow:
        output = _expand_term(output_text, None, ellipsis_rank, "output")
        if len(set(output)) != len(output):
            raise ShapeError(f"einsum(): output subscript {output_text!r} repeats a label")
        known = {label for term in labels for label in term}
        for label in output:
            if label not in known:
                raise ShapeError(f"einsum(): output label {label!r} does not appear in any input")
    else:  # implicit output: '...' first, then the labels used once, in alphabetical order
        counts: dict[str, int] = {}
        for term in labels:
            for label in term:
                counts[label] = counts.get(label, 0) + 1
        output = [_ELLIPSIS_LABEL.format(i) for i in range(ellipsis_rank)]
        output += sorted(lab for lab, n in counts.items() if n == 1 and not lab.startswith("…"))
    return labels, output


def _expand_term(term: str, ndim, ellipsis_rank: int, what: str) -> list[str]:
    if term.count("...") > 1:
        raise ShapeError(f"einsum(): {what} subscript {term!r} has more than one '...'")
    head, dots, tail = term.partition("...")
    for label in head + tail:
        if not label.isalpha():
            raise ShapeError(f"einsum(): invalid subscript {label!r} in {what}: subscripts are "
                             "letters [a-zA-Z] and '...'")
    if not dots:
        if ndim is not None and len(term) != ndim:
            raise ShapeError(f"einsum(): {what} subscript {term!r} has {len(term)} labels but "
                             f"the operand has {ndim} dimensions")
        return list(term)
    middle = ellipsis_rank if ndim is None else ndim - len(head) - len(tail)
    if middle < 0:
        raise ShapeError(f"einsum(): {what} subscript {term!r} needs at least "
                         f"{len(head) + len(tail)} dimensions, the operand has {ndim}")
    dots_labels = [_ELLIPSIS_LABEL.format(i) for i in range(ellipsis_rank - middle, ellipsis_rank)]
    return list(head) + dots_labels + list(tail)


def _take_repeated_diagonals(x: Tensor, labels: list[str]) -> tuple[Tensor, list[str]]:
    """``ii`` in one operand means its diagonal: keep each label once (``'ii->i'`` is a diag)."""
    from graphc.diagonals import diagonal
    while len(set(labels)) != len(labels):
        label = next(lab for lab in labels if labels.count(lab) > 1)
        first = labels.index(label)
        second = labels.index(label, first + 1)
        if x.shape[first] != x.shape[second]:
            raise ShapeError(f"einsum(): label {label!r} is repeated in one operand with sizes "
                             f"{x.shape[first]} and {x.shape[second]}")
        x = diagonal(x, 0, first, second)  # the diagonal becomes the last axis
        labels = [lab for i, lab in enumerate(labels) if i not in (first, second)] + [label]
    return x, labels


def _sum_labels(x: Tensor, labels: list[str], drop: set) -> tuple[Tensor, list[str]]:
    axes = [i for i, lab in enumerate(labels) if lab in drop]
    if not axes:
        return x, labels
    return F.sum(x, axes), [lab for lab in labels if lab not in drop]


def _contract_pair(a: Tensor, la: list[str], b: Tensor, lb: list[str], keep: set):
    """``a`` and ``b`` contracted over their shared labels not in ``keep`` with one matmul."""
    batch = [lab for lab in la if lab in lb and lab in keep]
    summed = [lab for lab in la if lab in lb and lab not in keep]
    a_only = [lab for lab in la if lab not in lb]
    b_only = [lab for lab in lb if lab not in la]
    size = {}
    for x, labels in ((a, la), (b, lb)):
        for lab, n in zip(labels, x.shape):
            if lab in size and n != size[lab] and 1 not in (n, size[lab]):
                raise ShapeError(f"einsum(): label {lab!r} has sizes {size[lab]} and {n}, which "
                                 "do not broadcast")
            size[lab] = max(size.get(lab, n), n)

    def arrange(x, labels, order, rows, cols):
        x = F.permute(x, [labels.index(lab) for lab in order])
        x = F.broadcast_to(x, [size[lab] if lab in batch or lab in summed else n
                               for lab, n in zip(order, x.shape)])
        return F.reshape(x, [math.prod(size[lab] for lab in batch),
                             math.prod(x.shape[len(batch):len(batch) + len(rows)]),
                             math.prod(x.shape[len(batch) + len(rows):])])

    left = arrange(a, la, batch + a_only + summed, a_only, summed)
    right = arrange(b, lb, batch + summed + b_only, summed, b_only)
    out = F.matmul(left, right)
    shape = ([size[lab] for lab in batch] + [a.shape[la.index(lab)] for lab in a_only]
             + [b.shape[lb.index(lab)] for lab in b_only])
    return F.reshape(out, shape), batch + a_only + b_only


def _sublist_label(n, position: str) -> str:
    """PyTorch's letter for a sublist entry: 0-25 are 'A'-'Z', 26-51 'a'-'z', ``...`` itself."""
    if n is Ellipsis:
        return "..."
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"einsum(): {position} holds {n!r}; sublist entries are integers in "
                        "[0, 52) or Ellipsis")
    if not 0 <= n < 52:
        raise ValueError(f"einsum(): subscript {n} in {position} is not within the valid range "
                         "[0, 52)")
    return chr(ord("A") + n) if n < 26 else chr(ord("a") + n - 26)


def _sublist_equation(args: Sequence) -> tuple[str, list]:
    """``einsum(op0, sublist0, op1, sublist1, ..., [sublist_out])`` as an equation and operands."""
    operands = list(args[0::2]) if len(args) % 2 == 0 else list(args[:-1:2])
    sublists = list(args[1::2])
    terms = []
    for i, sublist in enumerate(sublists):
        if isinstance(sublist, (str, Tensor)) or not isinstance(sublist, (list, tuple)):
            raise TypeError(f"einsum(): argument {2 * i + 1} must be the subscript list of "
                            f"operand {i}, got {type(sublist).__name__}")
        terms.append("".join(_sublist_label(n, f"the sublist of operand {i}") for n in sublist))
    equation = ",".join(terms)
    if len(args) % 2 == 1:
        output = args[-1]
        if not isinstance(output, (list, tuple)):
            raise TypeError("einsum(): the last argument must be the output subscript list, got "
                            f"{type(output).__name__}")
        equation += "->" + "".join(_sublist_label(n, "the output sublist") for n in output)
    return equation, operands


@autocast_op("einsum")
def einsum(*args) -> Tensor:
    """Einstein summation with PyTorch's syntaxes: ``einsum(equation, *operands)`` (or a list
    of operands) with letters, ``...`` for leading broadcast dimensions, an implicit output (the
    labels used once, in alphabetical order) when ``->`` is missing and repeated labels in one
    operand for diagonals; or the sublist form ``einsum(op0, sublist0, op1, sublist1, ...,
    [sublist_out])`` whose integers 0-51 stand for 'A'-'Z', 'a'-'z' and ``Ellipsis`` for
    ``...``. Operands are contracted pairwise left to right, each pair as one (batched) matmul.

        >>> import graphc
        >>> x = graphc.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> graphc.einsum("ii", x).item(), graphc.einsum("ij->j", x).tolist()
        (5.0, [4.0, 6.0])
        >>> tuple(graphc.einsum("...ij,...jk", graphc.ones(5, 2, 3), graphc.ones(3, 4)).shape)
        (5, 2, 4)
        >>> graphc.einsum(x, [0, 1], [1]).tolist()
        [4.0, 6.0]
    """
    if not args:
        raise ValueError("einsum(): expected an equation string and operands, or operands and "
                        "their subscript lists")
    if isinstance(args[0], str):
        equation, operands = args[0], args[1:]
    else:
        if len(args) < 2:
            raise ValueError("einsum(): must specify the equation string and at least one "
                            "operand, or at least one operand and its subscripts list")
        equation, operands = _sublist_equation(args)
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ShapeError("einsum(): needs at least one operand")
    operands = [F.to_tensor(x) for x in operands]
    labels, output = _parse_equation(equation, operands)
    terms = [_take_repeated_diagonals(x, lab) for x, lab in zip(operands, labels)]

    def needed_after(i: int) -> set:
        return set(output).union(*(set(lab) for _, lab in terms[i + 1:]))

    # labels only one operand has and nobody needs are summed right away
    x, lx = terms[0]
    others = [set(lab) for _, lab in terms[1:]]
    x, lx = _sum_labels(x, lx, set(lx) - set(output) - set().union(*others))
    for i in range(1, len(terms)):
        y, ly = terms[i]
        keep = needed_after(i)
        y, ly = _sum_labels(y, ly, set(ly) - keep - set(lx))
        x, lx = _sum_labels(x, lx, set(lx) - keep - set(ly))
        x, lx = _contract_pair(x, lx, y, ly, keep)
    x, lx = _sum_labels(x, lx, set(lx) - set(output))
    return F.permute(x, [lx.index(lab) for lab in output]) if lx else x


# -- tensordot and the BLAS-style products -------------------------------------------------------
@autocast_op("tensordot")
def tensordot(a: Tensor, b: Tensor, dims=2) -> Tensor:
    """Sums products over the last ``dims`` axes of ``a`` and the first ``dims`` of ``b``, or over
    the axis lists ``dims = (dims_a, dims_b)``, like ``torch.tensordot``."""
    if isinstance(dims, int):
        if dims < 0:
            raise ShapeError(f"tensordot(): dims must be non-negative, got {dims}")
        dims_a, dims_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        dims_a, dims_b = ([d] if isinstance(d, int) else list(d) for d in dims)
    dims_a = [d % a.ndim for d in dims_a]
    dims_b = [d % b.ndim for d in dims_b]
    if len(dims_a) != len(dims_b):
        raise ShapeError(f"tensordot(): both dims lists must have the same length, got "
                         f"{dims_a} and {dims_b}")
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise ShapeError(f"tensordot(): contracted dimension {da} of a (size {a.shape[da]}) "
                             f"does not match dimension {db} of b (size {b.shape[db]})")
    free_a = [d for d in range(a.ndim) if d not in dims_a]
    free_b = [d for d in range(b.ndim) if d not in dims_b]
    rows = [a.shape[d] for d in free_a]
    cols = [b.shape[d] for d in free_b]
    k = math.prod(a.shape[d] for d in dims_a)
    left = F.reshape(F.permute(a, free_a + dims_a), [math.prod(rows), k])
    right = F.reshape(F.permute(b, dims_b + free_b), [k, math.prod(cols)])
    return F.reshape(F.matmul(left, right), rows + cols)


def _require(op: str, x: Tensor, ndim: int, name: str) -> None:
    if x.ndim != ndim:
        raise ShapeError(f"{op}(): {name} must be a {ndim}-d tensor, got shape {list(x.shape)}")


@autocast_op("mv")
def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix-vector product of a 2-d ``input`` and a 1-d ``vec``, like ``torch.mv``."""
    _require("mv", input, 2, "input")
    _require("mv", vec, 1, "vec")
    return F.matmul(input, vec)


def ger(vec1: Tensor, vec2: Tensor) -> Tensor:
    """Outer product of two 1-d tensors (``torch.ger``, the old name of ``torch.outer``)."""
    _require("ger", vec1, 1, "vec1")
    _require("ger", vec2, 1, "vec2")
    return F.outer(vec1, vec2)


def _scaled_sum(op: str, input, product: Tensor, beta, alpha) -> Tensor:
    """``beta * input + alpha * product``; with ``beta == 0`` ``input`` is ignored (its NaNs and
    infinities do not reach the result), as PyTorch documents."""
    input = F.to_tensor(input, product)
    if not broadcasts_to(input.shape, product.shape):
        raise ShapeError(f"{op}(): input of shape {list(input.shape)} does not broadcast to the "
                         f"product's shape {list(product.shape)}")
    if alpha != 1:
        product = F.mul(product, alpha)
    if beta == 0:
        return product
    if beta != 1:
        input = F.mul(input, beta)
    return F.add(input, product)


@autocast_op("addmm")
def addmm(input, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)`` for 2-d ``mat1`` and ``mat2``, like
    ``torch.addmm`` (``input`` broadcasts to the product's shape)."""
    _require("addmm", mat1, 2, "mat1")
    _require("addmm", mat2, 2, "mat2")
    return _scaled_sum("addmm", input, F.matmul(mat1, mat2), beta, alpha)


@autocast_op("addmv")
def addmv(input, mat: Tensor, vec: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (mat @ vec)``, like ``torch.addmv``."""
    return _scaled_sum("addmv", input, mv(mat, vec), beta, alpha)


@autocast_op("addr")
def addr(input, vec1: Tensor, vec2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * outer(vec1, vec2)``, like ``torch.addr``."""
    return _scaled_sum("addr", input, ger(vec1, vec2), beta, alpha)


def _batched(op: str, batch1: Tensor, batch2: Tensor) -> Tensor:
    _require(op, batch1, 3, "batch1")
    _require(op, batch2, 3, "batch2")
    if batch1.shape[0] != batch2.shape[0] or batch1.shape[2] != batch2.shape[1]:
        raise ShapeError(f"{op}(): batch1 {list(batch1.shape)} and batch2 {list(batch2.shape)} "
                         "must be [b, n, m] and [b, m, p]")
    return F.matmul(batch1, batch2)


@autocast_op("baddbmm")
def baddbmm(input, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * bmm(batch1, batch2)``, like ``torch.baddbmm``."""
    return _scaled_sum("baddbmm", input, _batched("baddbmm", batch1, batch2), beta, alpha)


@autocast_op("addbmm")
def addbmm(input, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * sum_b(batch1[b] @ batch2[b])``, like ``torch.addbmm``; the sum
    over the batch is one matmul of the batches laid side by side."""
    _batched("addbmm", batch1, batch2)
    b, n, m = batch1.shape
    p = batch2.shape[2]
    left = F.reshape(F.permute(batch1, [1, 0, 2]), [n, b * m])
    return _scaled_sum("addbmm", input, F.matmul(left, F.reshape(batch2, [b * m, p])), beta, alpha)


def _install_methods() -> None:
    for name in ("mv", "ger", "addmm", "addmv", "addr", "addbmm", "baddbmm", "tensordot"):
        setattr(Tensor, name, globals()[name])
    for name in ("addmm", "addmv", "addr", "addbmm", "baddbmm"):
        fn = globals()[name]
        setattr(Tensor, name + "_", lambda self, *a, _fn=fn, **k: self._assign(
            lambda old: _fn(old, *a, **k)))


_install_methods()
