"""The cuda backend: the kernel IR rendered to numba-cuda kernels (optional: ``graphc[cuda]``).

:mod:`backends.cuda.render` spreads kernels over threads (grid-stride elementwise loops, block
reductions with warp shuffles, tiled GEMMs with their epilogue), reusing the numba CPU backend's
scalar rendering; :mod:`backends.cuda.backend` caches, imports and runs the module;
:mod:`backends.cuda.memory` says whether CUDA can run here and makes every host<->device copy;
:mod:`backends.cuda.simulator` stands in for warp shuffles on numba's CUDA simulator. Nothing
here imports numba.cuda until the backend is asked for.
"""
