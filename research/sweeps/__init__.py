"""Parameter search: grids, sweeps, walk-forward, the kernel fast paths they use, and executors."""
