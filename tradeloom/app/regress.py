"""The regress composition root: golden regression cases run exactly as
``tradeloom backtest`` runs them (``app.backtest.run_from_settings``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tradeloom.app.backtest import run_from_settings
from tradeloom.research.regress import goldens
from tradeloom.research.regress.goldens import UPDATE_COMMAND, LoadedConfig, RegressReport


def run_regress(
    config: str | Path | LoadedConfig,
    store: Any,
    *,
    update: bool = False,
    cases: Sequence[str] | None = None,
    update_command: str = UPDATE_COMMAND,
) -> RegressReport:
    """Run the config's cases twice each against ``store`` and compare with the goldens
    (see ``research.regress.goldens.run_regress``)."""
    return goldens.run_regress(config, store, run=run_from_settings, update=update, cases=cases,
                               update_command=update_command)


__all__ = ["run_regress"]
