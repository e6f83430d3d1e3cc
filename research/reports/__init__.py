"""Self-contained HTML reports: data preparation, figures and page building blocks."""
