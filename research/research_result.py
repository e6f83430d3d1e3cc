"""``ResearchResult``: a backtest result that can draw itself.

The engine's ``BacktestResult`` stays free of plotting (engine imports nothing from
research); this subclass adds the researcher's conveniences on the research side:
``result.report("out.html")`` writes the self-contained HTML report, ``result.plot()``
shows its figures inline and interactive in a notebook, and notebooks render a result
as a metrics table with an equity sparkline (``_repr_html_``).
``run_backtest`` returns one; ``ResearchResult.of(result)`` wraps any other result
(from the fast path or ``load_result``). Equality is the engine's: a wrapped result
equals the result it wraps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from tradeloom.engine.results.result import BacktestResult
from tradeloom.engine.timeutil import parse_utc_ms


@dataclass(frozen=True, eq=False)
class ResearchResult(BacktestResult):
    """A ``BacktestResult`` with ``report()`` and notebook display.

    ``catalog`` (not compared, not saved) is where the run read its bars, so the
    report can draw candlesticks without being handed the data again.
    """

    catalog: str | None = field(default=None, compare=False)

    @classmethod
    def of(cls, result: BacktestResult, *, catalog: str | os.PathLike[str] | None = None) -> ResearchResult:
        """Wrap ``result`` (no copy of its frames)."""
        values = {f.name: getattr(result, f.name) for f in fields(BacktestResult)}
        return cls(**values, catalog=str(catalog) if catalog is not None else None)

    def bars(self) -> pd.DataFrame | None:
        """The bars this run traded on, read back from its catalog (None if unknown)."""
        config = self.manifest.get("config", {})
        if self.catalog is None or not config.get("symbols"):
            return None
        from tradeloom.adapters.store.market_store import MarketStore
        from tradeloom.adapters.store.resample import read_bars_at

        start, end = config.get("start"), config.get("end")
        return read_bars_at(
            MarketStore(self.catalog),
            config["exchange"],
            config["timeframe"],
            list(config["symbols"]),
            parse_utc_ms(start) if start is not None else None,
            parse_utc_ms(end) if end is not None else None,
        )

    def report(self, path: str | os.PathLike[str], *, bars: Any = None, title: str | None = None) -> Path:
        """Write the self-contained HTML report to ``path`` (candles from the run's catalog)."""
        from tradeloom.research.reports.report import render_report

        return render_report(self, path, bars=bars if bars is not None else self.bars(), title=title)

    def plot(self, *, bars: Any = None) -> Any:
        """The report's figures, interactive, inline in a notebook (``ReportFigures``: a
        mapping name -> plotly figure; candles and buy and hold from the run's catalog)."""
        from tradeloom.research.reports.result_figures import result_figures

        return result_figures(self, bars if bars is not None else self.bars())

    def _repr_html_(self) -> str:
        from tradeloom.research.reports.report import result_html_summary

        return result_html_summary(self)
