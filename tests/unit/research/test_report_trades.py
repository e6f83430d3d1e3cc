"""The report's trade list, per-symbol breakdown and buy-and-hold line
(``research/reports/trade_sections.py``), and the same figures for notebooks
(``result.plot()``, ``research/reports/result_figures.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import report_sample as rs
from test_report import decode, plot_data

from tradeloom.research.reports.report import render_report
from tradeloom.research.reports.result_figures import result_figures
from tradeloom.research.reports.trade_sections import symbol_breakdown, trades_section
from tradeloom.research.research_result import ResearchResult


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return rs.sample_bars()


@pytest.fixture(scope="module")
def result(bars: pd.DataFrame):  # type: ignore[no-untyped-def]
    return rs.build_result(bars)


@pytest.fixture(scope="module")
def html(result, bars: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> str:  # type: ignore[no-untyped-def]
    return render_report(result, tmp_path_factory.mktemp("rt") / "r.html", bars=bars).read_text()


class TestTradeList:
    def test_one_row_per_round_trip_the_open_one_last(self, html: str, result) -> None:  # type: ignore[no-untyped-def]
        section = html.split('<section id="sec-trades">')[1].split("</section>")[0]
        rows = re.findall(r"<tr><td", section)
        assert len(rows) == len(result.trades) == 12
        first = result.trades.iloc[0]
        entry = pd.Timestamp(int(first["entry_ts"]), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
        assert entry in section and "<td>open</td>" in section
        assert '<a href="#sec-trades">' in html and '<a href="#sec-symbols">' in html

    def test_long_lists_are_cut_and_say_so(self, result) -> None:  # type: ignore[no-untyped-def]
        section = trades_section(result, max_rows=5)
        assert len(re.findall(r"<tr><td", section)) == 5
        assert "12 round trips; the first 5 shown" in section


class TestPerSymbol:
    def test_breakdown_adds_up_to_the_trades_and_fills(self, result) -> None:  # type: ignore[no-untyped-def]
        table = symbol_breakdown(result)
        (row,) = table.itertuples()
        closed = result.trades[~result.trades["is_open"]]
        assert (row.symbol, row.trades, row.open) == ("BTC/USDT", 11, 1)
        assert row.pnl == pytest.approx(closed["pnl"].sum(), rel=1e-12)
        assert row.fees == pytest.approx(result.fills["fee"].sum(), rel=1e-12)
        assert row.win_rate == pytest.approx((closed["pnl"] > 0).mean())


class TestBuyAndHold:
    def test_the_dotted_line_is_the_coin_bought_at_the_first_open(self, html: str, result,  # type: ignore[no-untyped-def]
                                                                 bars: pd.DataFrame) -> None:
        first_open = float(bars["open"].iloc[0])
        y = np.asarray(result_figures(result, bars, max_points=10**6)["equity"].data[2].y)
        assert y[0] == result.initial_cash  # before the first bar
        np.testing.assert_allclose(y[1:], result.initial_cash * bars["close"].to_numpy() / first_open,
                                   rtol=1e-12)  # at every close
        _, _, bench = plot_data(html, "plot-equity")  # the report's line, thinned like the equity
        assert decode(bench["y"])[-1] == pytest.approx(y[-1], rel=1e-12)
        assert "dotted: buy and hold" in html

    def test_no_bars_no_benchmark(self, result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        page = render_report(result, tmp_path / "nobars.html").read_text()
        assert len(plot_data(page, "plot-equity")) == 2


class TestPlotInNotebooks:
    def test_the_report_figures_by_name(self, result, bars: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
        figs = result_figures(result, bars)
        assert list(figs) == ["equity", "candles BTC/USDT", "monthly", "rolling", "pnl", "exposure"]
        assert [t.name for t in figs["equity"].data] == ["equity", "drawdown", "buy and hold"]
        assert all(len(fig.data) >= 1 for fig in figs.values())

    def test_displayed_one_after_the_other(self, result, bars: pd.DataFrame,  # type: ignore[no-untyped-def]
                                           monkeypatch: pytest.MonkeyPatch) -> None:
        shown: list[object] = []
        import IPython.display

        monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
        figs = result_figures(result, bars)
        figs._ipython_display_()
        assert shown == list(figs.values())

    def test_research_result_plot_reads_its_bars(self, result, bars: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
        wrapped = ResearchResult.of(result)
        figs = wrapped.plot(bars=bars)
        assert "candles BTC/USDT" in figs
        assert "candles BTC/USDT" not in wrapped.plot()  # no catalog, no bars: no candles

    def test_to_html_is_self_contained(self, result) -> None:  # type: ignore[no-untyped-def]
        page = result_figures(result).to_html()
        assert 'src="http' not in page and page.count("<script>") >= 1 and "plot-equity" in page
        assert np.isfinite(result.metrics["final_equity"])
