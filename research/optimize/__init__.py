"""Parameter search with optuna: ``study.run_optimize`` (TPE, pruning on walk-forward folds,
several objectives, seeded, on a local pool or a Dask cluster)."""
