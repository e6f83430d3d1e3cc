"""Lineage of a trained model: which code, which libraries, which config, which data.

A registered model must answer "could I rebuild this exactly, and what would I
need?" without anyone remembering. :func:`model_lineage` gathers, at training
time:

- **code**: the package version and, when tradeloom runs from a git checkout
  (an editable install), the commit and whether the working tree had uncommitted
  changes (``dirty``): ``code_version`` reads ``0.1.0+g<12 hex>`` (``.dirty``
  appended), or the bare package version when no checkout is found;
- **libraries**: the versions of Python, numpy, pandas, scikit-learn, LightGBM,
  SciPy, statsmodels and numba (a LightGBM upgrade can change the trees);
- **config**: the full validated training config (every default spelled out),
  not only its hash;
- **data**: exchange, timeframe, symbols, market symbol, range, bars and the
  store's fingerprint of exactly those bars;
- **features** and **label**: their specs' fingerprints (the specs themselves are
  stored beside them in the registry row).

Scores and calibration live in the registry row's ``scores``.

The git lookup runs ``git`` at most once per process, only where the package's
own source directory is the top of a checkout (an installed copy inside some
other repository is not mistaken for tradeloom's).
"""

from __future__ import annotations

import functools
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from tradeloom._version import __version__
from tradeloom.adapters.store.locations import PROJECT_ROOT

__all__ = ["LIBRARIES", "code_info", "code_version", "library_versions", "model_lineage"]

#: distribution names recorded with every model
LIBRARIES = ("numpy", "pandas", "scikit-learn", "lightgbm", "scipy", "statsmodels", "numba")
GIT_TIMEOUT_S = 5.0


def _git(root: Path, *args: str) -> str | None:
    exe = shutil.which("git")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, "-C", str(root), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def code_info() -> dict[str, Any]:
    """``{"package": version, "commit": sha or None, "dirty": bool or None}``."""
    root = PROJECT_ROOT
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root:
        return {"package": __version__, "commit": None, "dirty": None}
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"package": __version__, "commit": commit,
            "dirty": None if status is None else bool(status)}


def code_version() -> str:
    """``<version>+g<commit[:12]>[.dirty]`` from a checkout, else the package version."""
    info = code_info()
    if not info["commit"]:
        return __version__
    return f"{__version__}+g{info['commit'][:12]}{'.dirty' if info['dirty'] else ''}"


def library_versions() -> dict[str, str | None]:
    """Installed versions of ``LIBRARIES`` (None when one is not installed) and Python's.

    >>> v = library_versions(); sorted(v)[:3], v["python"] == platform.python_version()
    (['lightgbm', 'numba', 'numpy'], True)
    """
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def model_lineage(config: Any, data: dict[str, Any], fingerprint: str, *,
                  pipeline_fingerprint: str, label_fingerprint: str) -> dict[str, Any]:
    """Everything above as one JSON-ready mapping (``config`` is a validated model)."""
    return {
        "code": {**code_info(), "version": code_version()},
        "libraries": library_versions(),
        "config": config.model_dump(mode="json"),
        "data": {**data, "fingerprint": fingerprint},
        "features": {"fingerprint": pipeline_fingerprint},
        "label": {"fingerprint": label_fingerprint},
    }
