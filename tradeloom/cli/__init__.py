"""The ``tradeloom`` command line (``main`` is the console entry point)."""

from tradeloom.cli.main import app, main

__all__ = ["app", "main"]
