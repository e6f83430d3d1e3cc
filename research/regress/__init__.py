"""Golden regression backtests: goldens on disk and how a run differs from them."""
