"""Function transforms in the style of ``torch.func`` and JAX.

- :func:`grad`, :func:`value_and_grad`, :func:`grad_and_value`: gradients of scalar functions;
- :func:`vjp`, :func:`jvp`: reverse- and forward-mode products (forward by transposing the VJP);
- :func:`jacrev`, :func:`jacfwd`, :func:`hessian`: Jacobians and Hessians;
- :func:`vmap`: vectorizing a function over a batch axis with one batching rule per registry op;
- :func:`functional_call`: a module called with given parameters, so they can be transformed;
  :func:`stack_module_state` stacks an ensemble's parameters for ``vmap`` over it.

They run eagerly, compose with each other (``vmap(grad(f))``, ``jacfwd(jacrev(f))``) and with
``graphc.compile`` (the transformed computation is traced into one graph).

    >>> import graphc
    >>> from graphc.func import grad, vmap
    >>> loss = lambda w, x: ((x * w).sum()) ** 2
    >>> w, xs = graphc.tensor([1.0, 2.0]), graphc.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> vmap(grad(loss), in_dims=(None, 0))(w, xs).tolist()   # per-example gradients
    [[2.0, 0.0], [0.0, 4.0]]
"""
from graphc.func.forward import hessian, jacfwd, jacrev, jvp, vjp
from graphc.func.functional_call import functional_call, stack_module_state
from graphc.func.grad import grad, grad_and_value, value_and_grad
from graphc.func.vmap import VmapError, VmapRandomnessError, vmap

__all__ = ["grad", "grad_and_value", "value_and_grad", "vjp", "jvp", "jacrev", "jacfwd",
           "hessian", "vmap", "functional_call", "stack_module_state", "VmapError",
           "VmapRandomnessError"]
