"""Where the project's data lives by default: the bundled sample and the local catalog.

The catalog a command uses is, in order: an explicit path (``--catalog``), then
``$TRADELOOM_CATALOG``, then the project's ``datasets/catalog``; either of the first
two may be an object store, ``s3://bucket/prefix``. Every layer that needs
a default catalog asks :func:`default_catalog` instead of keeping a copy of the rule.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

#: The repository root (this file is ``adapters/store/locations.py``).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CATALOG = PROJECT_ROOT / "datasets" / "catalog"
SAMPLE_DIR = PROJECT_ROOT / "datasets" / "sample"
ENV_CATALOG = "TRADELOOM_CATALOG"


def default_catalog(environ: Mapping[str, str] | None = None) -> Path:
    """``$TRADELOOM_CATALOG`` if set, else the project's ``datasets/catalog``."""
    env = (os.environ if environ is None else environ).get(ENV_CATALOG)
    return Path(env) if env else DEFAULT_CATALOG


def default_location(environ: Mapping[str, str] | None = None) -> str:
    """Like :func:`default_catalog` but as text, so an ``s3://bucket/prefix`` store in
    ``$TRADELOOM_CATALOG`` keeps its URL form.

    >>> default_location({"TRADELOOM_CATALOG": "s3://bucket/store"})
    's3://bucket/store'
    """
    env = (os.environ if environ is None else environ).get(ENV_CATALOG)
    return env if env else str(DEFAULT_CATALOG)


__all__ = ["DEFAULT_CATALOG", "ENV_CATALOG", "PROJECT_ROOT", "SAMPLE_DIR", "default_catalog",
           "default_location"]
