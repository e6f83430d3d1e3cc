"""``tradeloom serve``: health, Prometheus metrics, the status page and the kill button."""
