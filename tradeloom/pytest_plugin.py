"""pytest plugin: fail a test suite when backtest results drift from their goldens.

Enable it with ``pytest -p tradeloom.pytest_plugin`` (or ``addopts`` in your
pytest config, or ``pytest_plugins = ["tradeloom.pytest_plugin"]`` in a root
``conftest.py``; an installed tradeloom also registers it through the ``pytest11``
entry point). Then::

    def test_no_drift(tradeloom_regress):
        tradeloom_regress("regress/regress.toml")

runs every case of the regression config (twice: the determinism check) against
the catalog and raises an ``AssertionError`` whose message is the drift report
(first differing trade, metric deltas) when anything differs, a golden is
missing or a case could not run. Relative config paths are read from pytest's
rootdir, so the test works from any working directory.

Options:

- ``--tradeloom-update``: rewrite the goldens instead of comparing (the test
  passes and lists what it rewrote); review the diff and commit it.
- ``--tradeloom-catalog PATH`` or the ini setting ``tradeloom_catalog``: the
  catalog to read bars from (relative to rootdir). Default: ``$TRADELOOM_CATALOG``,
  else tradeloom's default catalog. Pass ``store=`` to the fixture to override,
  e.g. ``store=tradeloom_sample_catalog`` (a temporary catalog with the bundled
  sample, built once per session).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tradeloom.research.regress.goldens import RegressReport


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tradeloom", "tradeloom regression backtests")
    group.addoption(
        "--tradeloom-update",
        action="store_true",
        default=False,
        help="rewrite the golden results of tradeloom_regress instead of comparing with them",
    )
    group.addoption(
        "--tradeloom-catalog",
        default=None,
        metavar="PATH",
        help="catalog (market-data store) that tradeloom_regress reads bars from",
    )
    parser.addini("tradeloom_catalog", "catalog that tradeloom_regress reads bars from", default="")


def _catalog(config: pytest.Config) -> Path:
    """--tradeloom-catalog, else the ini setting, else $TRADELOOM_CATALOG / the default catalog."""
    from tradeloom.cli import context as clictx

    chosen = config.getoption("tradeloom_catalog") or config.getini("tradeloom_catalog")
    if not chosen:
        return clictx.catalog_path()
    path = Path(chosen)
    return path if path.is_absolute() else config.rootpath / path


@pytest.fixture(scope="session")
def tradeloom_sample_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary catalog holding only tradeloom's bundled sample (built once per session)."""
    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.app.sample import load_sample

    root = tmp_path_factory.mktemp("tradeloom-sample-catalog")
    load_sample(MarketStore(root))
    return root


@pytest.fixture
def tradeloom_regress(request: pytest.FixtureRequest) -> Callable[..., RegressReport]:
    """A function ``check(config, *, store=None, cases=None)`` that fails the test on drift.

    Returns the ``RegressReport`` when every case matched its golden (or, with
    ``--tradeloom-update``, after rewriting the goldens).
    """

    def check(config: str | Path, *, store: Any = None, cases: Sequence[str] | None = None) -> RegressReport:
        __tracebackhide__ = True
        from tradeloom.app.regress import run_regress

        path = Path(config)
        if not path.is_absolute():
            path = request.config.rootpath / path
        update = bool(request.config.getoption("tradeloom_update"))
        nodeid = request.node.nodeid.replace("{", "{{").replace("}", "}}")
        report = run_regress(
            path,
            store if store is not None else _catalog(request.config),
            update=update,
            cases=cases,
            update_command=f"pytest '{nodeid}' --tradeloom-update",
        )
        if not report.ok:
            raise AssertionError("tradeloom regression failed\n" + report.format())
        return report

    return check
