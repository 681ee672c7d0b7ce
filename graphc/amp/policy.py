"""Which ops autocast casts, and to what: PyTorch's op lists, for the ops graphc implements.

Each public function that PyTorch's autocast treats is decorated with
:func:`graphc.amp.autocast_mode.autocast_op` under its PyTorch name; these tables give that
name's policy per device type:

- ``"lower"``: eligible floating inputs are cast to the autocast dtype (bfloat16 on cpu,
  float16 on cuda by default): matrix products and convolutions;
- ``"fp32"``: eligible inputs are cast to float32: losses, reductions and solvers that lose
  too much in 16 bits;
- ``"fp32_opt_dtype"``: as ``"fp32"``, unless the call passes ``dtype=`` (which then rules);
- ``"promote"``: eligible inputs are cast to the widest floating dtype among them.

A name in no table for a device runs there as it is, but with autocast off inside (as
PyTorch's own kernels for them do), so that, say, ``mv`` written from ``matmul`` stays float32
as ``torch.mv`` does. The cpu lists were read off torch 2.13 by running each op under
``torch.autocast("cpu")`` (``benchmarks/torch_parity.py``, section ``session27_amp``, compares
them); the cuda lists are those of PyTorch's "autocast op reference".

    >>> from graphc.amp.policy import policy
    >>> policy("linear", "cpu"), policy("mse_loss", "cpu"), policy("softmax", "cpu")
    ('lower', 'fp32', None)
    >>> policy("softmax", "cuda")
    'fp32_opt_dtype'
"""
from __future__ import annotations

from typing import Optional

# ops that run in the lower-precision dtype on both device types (PyTorch's cpu list; the cuda
# list also has addmv, addr, mv, chain_matmul, ...: see CUDA_ONLY_LOWER)
_LOWER_BOTH = frozenset({
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "bmm", "mm", "matmul", "baddbmm", "addmm", "addbmm", "linear", "prelu", "einsum",
    "tensordot", "linalg_vecdot", "linalg_multi_dot", "scaled_dot_product_attention",
    "affine_grid",
})
_CUDA_ONLY_LOWER = frozenset({"addmv", "addr", "mv", "chain_matmul"})

# float32 ops on cpu (as torch 2.13 runs them: the losses, 3-d pooling, distances, solvers)
_CPU_FP32 = frozenset({
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "poisson_nll_loss",
    "cosine_embedding_loss", "hinge_embedding_loss", "margin_ranking_loss", "soft_margin_loss",
    "triplet_margin_loss", "multi_margin_loss", "multilabel_margin_loss", "avg_pool3d",
    "max_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d", "cdist", "prod", "quantile",
    "inverse", "cholesky", "pinverse", "trace", "linalg_solve", "linalg_qr", "linalg_svd",
    "linalg_eigh", "linalg_lstsq", "cholesky_solve", "reflection_pad", "replication_pad",
    "grid_sample", "ctc_loss", "triangular_solve", "linalg_cholesky_ex", "linalg_inv_ex",
    "cholesky_inverse", "linalg_tensorinv", "linalg_tensorsolve", "linalg_householder_product",
})
# float32 ops on cuda (PyTorch's "CUDA Ops that can autocast to float32")
_CUDA_FP32 = frozenset({
    "acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2", "log1p",
    "reciprocal", "rsqrt", "sinh", "tan", "pow", "softplus", "layer_norm", "group_norm",
    "rms_norm", "norm", "normalize", "cosine_similarity", "poisson_nll_loss",
    "cosine_embedding_loss", "nll_loss", "hinge_embedding_loss", "kl_div", "l1_loss",
    "smooth_l1_loss", "huber_loss", "mse_loss", "margin_ranking_loss",
    "multilabel_margin_loss", "soft_margin_loss", "triplet_margin_loss", "multi_margin_loss",
    "binary_cross_entropy_with_logits", "dist", "pdist", "cdist", "renorm", "logsumexp",
})
_CUDA_FP32_OPT_DTYPE = frozenset({
    "prod", "softmax", "log_softmax", "cumprod", "cumsum", "sum", "cross_entropy",
})
_CPU_PROMOTE = frozenset({"cat", "stack", "index_copy"})
_CUDA_PROMOTE = frozenset({
    "addcdiv", "addcmul", "atan2", "bilinear", "cross", "dot", "vdot", "index_put",
    "tensordot", "scatter_add", "cat", "stack", "index_copy",
}) - _LOWER_BOTH

POLICIES: dict[str, dict[str, frozenset]] = {
    "cpu": {"lower": _LOWER_BOTH, "fp32": _CPU_FP32, "fp32_opt_dtype": frozenset(),
            "promote": _CPU_PROMOTE},
    "cuda": {"lower": _LOWER_BOTH | _CUDA_ONLY_LOWER, "fp32": _CUDA_FP32,
             "fp32_opt_dtype": _CUDA_FP32_OPT_DTYPE, "promote": _CUDA_PROMOTE},
}


def policy(op: str, device_type: str) -> Optional[str]:
    """The autocast policy of PyTorch op ``op`` on ``device_type`` (None: not cast there)."""
    for kind, names in POLICIES[device_type].items():
        if op in names:
            return kind
    return None


__all__ = ["POLICIES", "policy"]
