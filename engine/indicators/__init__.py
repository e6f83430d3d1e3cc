"""Technical indicators, each as a numba batch function and an O(1) streaming class
that agree bit for bit (``registry`` is the public face; see its docstring)."""

from tradeloom.engine.indicators.registry import *  # noqa: F403  (the public indicator API)
from tradeloom.engine.indicators.registry import __all__  # noqa: F401
