"""``tradeloom regress``: golden regression backtests for CI (see ``research/regress/goldens.py``).

Exit codes: 0 every case matched its golden, 1 drift (a difference, a missing
golden or a nondeterministic case), 2 an error (bad config, a case that could
not run). ``--sample`` runs against a fresh temporary catalog holding only the
bundled sample, which is what the project's own CI does.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import typer

from tradeloom.cli import context as clictx
from tradeloom.engine.errors import TradeloomError

DEFAULT_CONFIG = clictx.PROJECT_ROOT / "regress" / "regress.toml"
EXAMPLE = "tradeloom regress regress/regress.toml --sample"


def regress(
    config: Path | None = typer.Argument(
        None, help="Regression config (TOML). Default: the project's regress/regress.toml.", show_default=False
    ),
    update: bool = typer.Option(False, "--update", help="Rewrite the golden results (review the diff, then commit)."),
    case: list[str] | None = typer.Option(None, "--case", help="Run only this case; repeat for several."),
    sample: bool = typer.Option(
        False, "--sample", help="Use a fresh temporary catalog with only the bundled sample (as CI does)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run the regression backtests and compare trades, equity and metrics with the goldens.

    Each case runs twice (a difference between the two runs fails it as
    nondeterministic), then its result is compared exactly with the golden saved
    under the config's goldens folder. A drift prints the first differing trade
    and the metric deltas. Data comes from the catalog (--catalog, or
    $TRADELOOM_CATALOG), or from the bundled sample with --sample.

    Example:  tradeloom regress regress/regress.toml --sample

    Update goldens after a deliberate change:  tradeloom regress regress/regress.toml --sample --update --case sma_cross_btc
    """
    from tradeloom.app.regress import run_regress
    from tradeloom.cli.main import report_error

    path = config if config is not None else DEFAULT_CONFIG
    temp_catalog: Path | None = None
    try:
        if sample:
            from tradeloom.adapters.store.market_store import MarketStore
            from tradeloom.app.sample import load_sample

            temp_catalog = Path(tempfile.mkdtemp(prefix="tradeloom-regress-"))
            store = MarketStore(temp_catalog)
            load_sample(store)
        else:
            store = clictx.open_store()
        report = run_regress(path, store, update=update, cases=case or None)
    except TradeloomError as exc:
        report_error(exc)
        raise typer.Exit(2) from None
    finally:
        if temp_catalog is not None:
            shutil.rmtree(temp_catalog, ignore_errors=True)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        typer.echo(report.format())
    if report.exit_code:
        raise typer.Exit(report.exit_code)
