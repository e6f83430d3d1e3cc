"""The vectorized fast path: numba kernels (``kernels_nb``) and the pandas-facing API (``api``)."""
