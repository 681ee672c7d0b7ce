"""Constants filled with one number (a mean's 1/N, LayerNorm's eps) are immediates in every
kernel that reads them, even when a fused body is split into several kernels or several fused
bodies share the constant: never an array evaluated once and read from memory (attention's
``1/N`` of the loss gradient was a 1 MB array read by a LayerNorm backward kernel)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn


def layer_norm_step():
    graphc.manual_seed(0)
    norm = nn.LayerNorm(16)

    def step(t):
        norm.zero_grad()
        y = norm(t)
        loss = (y * y).mean()
        loss.backward()
        return loss
    return norm, step


def test_layer_norm_backward_reads_no_constant_arrays():
    norm, step = layer_norm_step()
    x = graphc.from_numpy(np.random.default_rng(0).random((4, 8, 16)).astype(np.float32))
    results = {}
    for backend in ("interpreter", "llvm"):
        compiled = graphc.compile(step, backend=backend)
        results[backend] = (compiled(x).item(), [p.grad.numpy().copy()
                                                  for p in norm.parameters()])
    program = str(compiled.entries[0].executable.program)
    assert "is not one loop nest" in program  # the split bodies this is about
    assert "library call const" not in program
    (loss_i, grads_i), (loss_l, grads_l) = results["interpreter"], results["llvm"]
    assert loss_l == pytest.approx(loss_i, rel=1e-6)
    for gi, gl in zip(grads_i, grads_l):
        np.testing.assert_allclose(gl, gi, rtol=1e-5, atol=1e-7)  # f32, sums over 16-512
