"""The numba backend: the kernel IR rendered to Python source compiled with numba's ``@njit``.

:mod:`backends.numba.scalar` renders scalar expressions (a table the CUDA renderer will
override in a few entries; f16/bf16 through the intrinsics of :mod:`backends.numba.halfbits`),
:mod:`backends.numba.render` renders a kernel program to one Python module,
:mod:`backends.numba.backend` caches, imports and runs it.
"""
