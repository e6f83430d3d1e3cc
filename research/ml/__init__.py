"""Machine learning: labels, purged CV, models and calibration, the registry, training,
retraining and its schedule."""
