"""HTML reports: sections, self-containment, determinism, downsampling, sweeps, notebook summary.

The result comes from :mod:`report_sample`: hand-made round trips (with bracket
stop/take-profit legs) executed on the real BTC/USDT 1h sample, so these tests
do not depend on the event loop.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import report_sample as rs

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.orders import Side
from tradeloom.engine.results.result import BacktestResult, EquityCurve
from tradeloom.research.reports import data as d
from tradeloom.research.reports.report import (
    SECTIONS,
    plot_div_id,
    render_report,
    render_sweep_report,
    result_html_summary,
)

PLOT_IDS = ("plot-equity", "plot-candles-BTC-USDT", "plot-monthly", "plot-rolling",
            "plot-pnl", "plot-exposure")  # fmt: skip


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return rs.sample_bars()


@pytest.fixture(scope="module")
def result(bars: pd.DataFrame) -> BacktestResult:
    return rs.build_result(bars)


@pytest.fixture(scope="module")
def report(
    result: BacktestResult, bars: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> str:
    path = render_report(result, tmp_path_factory.mktemp("rep") / "report.html", bars=bars)
    return path.read_text(encoding="utf-8")


def plot_data(html: str, div_id: str) -> list[dict[str, Any]]:
    """The trace list passed to ``Plotly.newPlot`` for ``div_id``."""
    m = re.search(r'Plotly\.newPlot\(\s*"' + re.escape(div_id) + r'",\s*', html)
    assert m, f"no Plotly.newPlot for {div_id}"
    data, _ = json.JSONDecoder().raw_decode(html, m.end())
    return data


def decode(arr: Any) -> np.ndarray:
    """Plotly's typed-array encoding ({dtype, bdata}) or a plain list -> numpy."""
    if isinstance(arr, dict) and "bdata" in arr:
        out = np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"]))
        if "shape" in arr:
            out = out.reshape([int(n) for n in str(arr["shape"]).split(",")])
        return out
    return np.asarray(
        [[np.nan if v is None else v for v in row] for row in arr]
        if arr and isinstance(arr[0], list)
        else arr,
        dtype=np.float64,
    )


def iso_ms(values: Any) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[ms]").astype(np.int64)


def without_plotly_js(html: str) -> str:
    """The page with the inlined plotly.js bundle cut out (it contains link texts)."""
    start = html.index('<script type="text/javascript">')
    end = html.index("</script>", start)
    return html[:start] + html[end:]


class TestSections:
    def test_every_section_and_plot_present(self, report: str) -> None:
        for sec_id, heading in SECTIONS:
            assert f'<section id="{sec_id}"><h2>{heading}</h2>' in report
        for div_id in PLOT_IDS:
            assert f'id="{div_id}"' in report
            assert plot_data(report, div_id)
        assert report.count("Plotly.newPlot(") == len(PLOT_IDS)

    def test_tables_metrics_risk_manifest(self, report: str, result: BacktestResult) -> None:
        for key in result.metrics:
            assert f"<td>{key}</td>" in report
        assert '<td>max_exposure</td><td>rejected</td><td class="num">2</td>' in report
        assert "<td>max_position</td><td>resized</td>" in report
        assert "<td>config_hash</td><td><code>0000000000000000</code>" in report
        assert "<td>symbols</td><td><code>[&quot;BTC/USDT&quot;]</code>" in report
        assert "11,430.14 USDT" in report  # final equity, formatted like summary()

    def test_times_shown_in_utc(self, report: str) -> None:
        assert "2020-12-01 01:00 UTC → 2021-07-17 21:00 UTC" in report
        assert "time (UTC)" in report

    def test_self_contained(self, report: str) -> None:
        assert "<script src" not in report and "<link" not in report
        assert 'src="http' not in report
        rest = without_plotly_js(report)
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", rest)
        assert "url(http" not in rest and "@import" not in rest
        assert len(report) - len(rest) > 1_000_000  # plotly.js really is inlined

    def test_deterministic_bytes(
        self, result: BacktestResult, bars: pd.DataFrame, tmp_path: Path
    ) -> None:
        a = render_report(result, tmp_path / "a.html", bars=bars).read_bytes()
        b = render_report(rs.build_result(bars), tmp_path / "b.html", bars=bars.copy()).read_bytes()
        assert a == b

    def test_atomic_write_leaves_no_temp_files(
        self, result: BacktestResult, tmp_path: Path
    ) -> None:
        target = tmp_path / "r.html"
        target.write_text("old")
        render_report(result, target)
        assert target.read_text().startswith("<!DOCTYPE html>")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]

    def test_bad_paths_say_what_to_do(self, result: BacktestResult, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="is a directory"):
            render_report(result, tmp_path)
        with pytest.raises(ConfigError, match="does not exist"):
            render_report(result, tmp_path / "nope" / "r.html")


class TestCandles:
    def test_downsampled_under_cap_with_exact_markers(
        self, report: str, result: BacktestResult
    ) -> None:
        traces = plot_data(report, "plot-candles-BTC-USDT")
        candle = next(t for t in traces if t["type"] == "candlestick")
        assert len(candle["x"]) <= d.MAX_CANDLES
        assert candle["name"] == "BTC/USDT 2h"  # 5482 1h bars -> 2h candles
        marks = [t for t in traces if t.get("mode") == "markers"]
        xs = np.sort(np.concatenate([iso_ms(t["x"]) for t in marks]))
        ys = np.sort(np.concatenate([decode(t["y"]) for t in marks]))
        assert xs.tolist() == sorted(result.fills["ts"].tolist())
        assert ys.tolist() == sorted(result.fills["price"].tolist())
        names = {t["name"] for t in traces}
        assert {"entries", "exits", "stop", "take-profit"} <= names

    def test_stop_and_take_profit_levels(self, report: str, result: BacktestResult) -> None:
        traces = plot_data(report, "plot-candles-BTC-USDT")
        stop = next(t for t in traces if t["name"] == "stop")
        levels = {float(v) for v in stop["y"] if v is not None}
        o = result.orders
        assert levels == set(o.loc[o["type"] == "stop", "stop_price"])

    def test_small_cap_resamples_and_keeps_ohlc(self, bars: pd.DataFrame) -> None:
        b = d.check_bars(bars, "BTC/USDT")
        bar_ms = d.pick_bar_ms(b["ts"].to_numpy(), 100)
        out = d.resample_ohlc(b, bar_ms)
        assert len(out) <= 100 and bar_ms == 3 * 86_400_000
        assert out["high"].max() == b["high"].max() and out["low"].min() == b["low"].min()
        assert (
            out["open"].iloc[0] == b["open"].iloc[0]
            and out["close"].iloc[-1] == b["close"].iloc[-1]
        )
        assert (out["ts"] % bar_ms == 0).all()

    @pytest.mark.parametrize("cap", [1, 7, 2_999, 5_481, 5_482])
    def test_cap_always_respected(self, bars: pd.DataFrame, cap: int) -> None:
        b = d.check_bars(bars, "BTC/USDT")
        out = d.resample_ohlc(b, d.pick_bar_ms(b["ts"].to_numpy(), cap))
        assert 1 <= len(out) <= cap

    def test_render_with_tiny_cap(
        self, result: BacktestResult, bars: pd.DataFrame, tmp_path: Path
    ) -> None:
        html = render_report(result, tmp_path / "r.html", bars=bars, max_candles=50).read_text()
        candle = next(
            t for t in plot_data(html, "plot-candles-BTC-USDT") if t["type"] == "candlestick"
        )
        assert len(candle["x"]) <= 50

    def test_bars_mapping_and_errors(
        self, result: BacktestResult, bars: pd.DataFrame, tmp_path: Path
    ) -> None:
        eth = rs.sample_bars("ETH-USDT")
        html = render_report(
            result, tmp_path / "r.html", bars={"ETH/USDT": eth, "BTC/USDT": bars}
        ).read_text()
        assert html.index('id="plot-candles-BTC-USDT"') < html.index('id="plot-candles-ETH-USDT"')
        with pytest.raises(DataError, match="missing column"):
            render_report(result, tmp_path / "r.html", bars=bars.drop(columns="high"))
        with pytest.raises(DataError, match="int64 epoch"):
            render_report(result, tmp_path / "r.html",
                          bars=bars.assign(ts=pd.to_datetime(bars["ts"], unit="ms")))  # fmt: skip

    def test_without_bars_says_how_to_add_them(
        self, result: BacktestResult, tmp_path: Path
    ) -> None:
        html = render_report(result, tmp_path / "r.html").read_text()
        assert '<section id="sec-candles">' in html and "pass bars=" in html
        assert 'id="plot-candles' not in html


class TestDataPrep:
    def test_fill_roles(self, result: BacktestResult) -> None:
        mk = d.fill_markers(result, "BTC/USDT")
        assert mk.role[:4] == ["entry", "exit", "entry", "exit"]
        assert mk.role.count("entry") == len(rs.ROUND_TRIPS)

    def test_monthly_returns_chain_to_total(self, result: BacktestResult) -> None:
        table = d.monthly_returns(result)
        r = table.to_numpy().ravel()
        r = r[~np.isnan(r)]
        assert len(r) == 8  # Dec 2020 .. Jul 2021
        assert np.prod(1 + r) - 1 == pytest.approx(result.metrics["total_return"], rel=1e-12)

    def test_rolling_matches_full_sample_metric(self, result: BacktestResult) -> None:
        ts, sharpe, vol, window = d.rolling_stats(result)
        assert window == 720 and len(ts) == len(result.equity)
        assert np.isnan(sharpe[: window - 1]).all() and np.isfinite(vol[window:]).all()

    def test_risk_summary_from_loop_records(self, bars: pd.DataFrame) -> None:
        loop_style = [{"ts": 1, "order_id": 1, "symbol": "BTC/USDT", "approved": False,
                       "requested": 1.0, "amount": 0.0, "reason": "kill_switch: trading halted"}]  # fmt: skip
        r = rs.build_result(bars.iloc[:50], trips=((5, 10, Side.BUY),), risk_decisions=loop_style)
        s = d.risk_summary(r)
        assert s[["code", "outcome", "count"]].values.tolist() == [["kill_switch", "rejected", 1]]


class TestEdgeCases:
    def test_no_trades_no_decisions_still_renders(self, bars: pd.DataFrame, tmp_path: Path) -> None:
        r = rs.build_result(bars, trips=(), risk_decisions=[])
        html = render_report(r, tmp_path / "r.html", bars=bars).read_text()
        for sec_id, _ in SECTIONS:
            assert f'<section id="{sec_id}">' in html
        assert 'id="risk-none"' in html and "none &mdash;" in html
        assert "no closed trades" in html
        names = [t.get("name") for t in plot_data(html, "plot-candles-BTC-USDT")]
        assert names == ["BTC/USDT 2h"]  # the symbol comes from the manifest
        anonymous = dataclasses.replace(r, manifest={})
        html = render_report(anonymous, tmp_path / "r.html", bars=bars).read_text()
        assert 'id="plot-candles-bars"' in html

    def test_short_run(self, bars: pd.DataFrame, tmp_path: Path) -> None:
        r = rs.build_result(bars.iloc[:3], trips=((0, 1, Side.BUY),), risk_decisions=[])
        html = render_report(r, tmp_path / "r.html", bars=bars, title="tiny <run>").read_text()
        assert "<title>tiny &lt;run&gt;</title>" in html
        candle = next(
            t for t in plot_data(html, "plot-candles-BTC-USDT") if t["type"] == "candlestick"
        )
        assert len(candle["x"]) == 3  # trimmed to the run, not resampled

    def test_bad_caps(self, result: BacktestResult, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="max_candles"):
            render_report(result, tmp_path / "r.html", max_candles=0)


def sweep_table() -> pd.DataFrame:
    rows = []
    for fast in (5, 10, 20):
        for slow in (30, 50, 100, 200):
            for stop in (0.02, 0.05):
                rows.append({"fast": fast, "slow": slow, "stop": stop,
                             "sharpe": round(fast / slow * 3 - stop * 10, 6),
                             "total_return": fast / 100 - stop,
                             "max_drawdown": fast / slow + stop})  # fmt: skip
    return pd.DataFrame(rows)


class TestSweep:
    def test_heatmap_and_top_table(self, tmp_path: Path) -> None:
        table = sweep_table()
        html = render_sweep_report(
            table, "fast", "slow", "sharpe", tmp_path / "s.html", top=5
        ).read_text()
        (hm,) = plot_data(html, plot_div_id("sweep-heatmap"))
        assert hm["type"] == "heatmap"
        assert hm["x"] == ["5", "10", "20"] and hm["y"] == ["30", "50", "100", "200"]
        z = decode(hm["z"])
        assert z[0, 2] == pytest.approx(20 / 30 * 3 - 0.2)  # best over `stop`
        assert '<section id="sec-top"><h2>Top 5 by sharpe</h2>' in html
        assert "the largest over the other parameters (2 runs per cell at most)" in html
        first_row = re.search(r"<tbody><tr>(.*?)</tr>", html.split('id="sec-top"')[1]).group(1)
        assert first_row.startswith('<td class="num">20</td><td class="num">30</td>')
        assert 'src="http' not in html

    def test_deterministic_and_errors(self, tmp_path: Path) -> None:
        a = render_sweep_report(sweep_table(), "fast", "slow", "sharpe", tmp_path / "a.html")
        b = render_sweep_report(sweep_table(), "fast", "slow", "sharpe", tmp_path / "b.html")
        assert a.read_bytes() == b.read_bytes()
        html = render_sweep_report(
            sweep_table(), "fast", "slow", "max_drawdown", tmp_path / "d.html", top=1
        ).read_text()
        assert "the smallest over the other parameters" in html  # lower drawdown is better
        top = html.split('id="sec-top"')[1]
        assert '<td class="num">5</td><td class="num">200</td><td class="num">0.02</td>' in top
        with pytest.raises(ConfigError, match=r"no column\(s\) \['sharp'\]"):
            render_sweep_report(sweep_table(), "fast", "slow", "sharp", tmp_path / "c.html")


class TestNotebookSummary:
    def test_html_summary_is_static(self, result: BacktestResult) -> None:
        html = result_html_summary(result)
        assert "<script" not in html and "<svg" in html and "<polyline" in html
        assert "hand_made" in html and "14.30 %" in html
        assert html == result_html_summary(rs.build_result())

    def test_summary_of_empty_run(self, bars: pd.DataFrame) -> None:
        r = rs.build_result(bars.iloc[:1], trips=(), risk_decisions=[])
        assert "no orders" in result_html_summary(r)


class TestLongHistory:
    def test_lines_thinned_but_worst_drawdown_kept(self, tmp_path: Path) -> None:
        n = 200_000  # ~139 days of 1m bars
        rng = np.random.default_rng(7)
        equity = 10_000 * np.exp(np.cumsum(rng.normal(0, 5e-4, n)))
        ts = 1_600_000_000_000 + 60_000 * np.arange(1, n + 1)
        curve = EquityCurve(ts=ts, equity=equity, cash=equity, exposure=np.zeros(n),
                            fees_cum=np.zeros(n))  # fmt: skip
        r = BacktestResult.build(orders=[], fills=[], equity=curve, timeframe="1m",
                                 initial_cash=10_000.0, quote_currency="USDT",
                                 manifest={"strategy": "random_walk", "symbol": "SIM/USDT"})  # fmt: skip
        bars = pd.DataFrame({"ts": ts - 60_000, "open": equity, "high": equity * 1.001,
                             "low": equity * 0.999, "close": equity})  # fmt: skip
        html = render_report(r, tmp_path / "long.html", bars=bars).read_text()
        eq_trace, dd_trace, bench_trace = plot_data(html, "plot-equity")  # bars given: buy and hold too
        assert len(eq_trace["x"]) <= d.MAX_POINTS and len(dd_trace["x"]) == len(eq_trace["x"])
        assert bench_trace["name"] == "buy and hold" and len(bench_trace["x"]) == len(eq_trace["x"])
        assert -decode(dd_trace["y"]).min() == pytest.approx(r.metrics["max_drawdown"], rel=1e-12)
        assert decode(eq_trace["y"])[-1] == r.metrics["final_equity"]
        candle = next(
            t for t in plot_data(html, "plot-candles-SIM-USDT") if t["type"] == "candlestick"
        )
        assert len(candle["x"]) <= d.MAX_CANDLES and candle["name"].endswith(" 2h")
        assert len(tmp_path.joinpath("long.html").read_bytes()) < 8_000_000


class TestStrategies:
    """A portfolio of sleeves gets a per-strategy section; one strategy does not."""

    @pytest.fixture(scope="class")
    @classmethod
    def portfolio(cls) -> tuple[BacktestResult, pd.DataFrame]:
        from tradeloom.engine.run.backtest import backtest_arrays
        from tradeloom.engine.run.feeds import BarArrays
        from tradeloom.engine.strategy.sleeves import Sleeve, SleevePortfolio, portfolio_risk
        from tradeloom.research.strategies import SmaCross

        sample = Path(__file__).resolve().parents[3] / "datasets" / "sample" / "binance"
        frames = {s: pd.read_parquet(sample / f"{s.replace('/', '-')}_1h.parquet").iloc[:1500]
                  for s in ("BTC/USDT", "ETH/USDT")}
        book = SleevePortfolio([Sleeve("btc_trend", SmaCross(fast=10, slow=50), ["BTC/USDT"], 0.5),
                                Sleeve("eth_trend", SmaCross(fast=5, slow=30), ["ETH/USDT"], 0.5)])
        res = backtest_arrays(book, {s: BarArrays.from_frame(f) for s, f in frames.items()},
                              timeframe="1h", risk=portfolio_risk(book, None))
        bars = pd.concat([f.assign(symbol=s) for s, f in frames.items()], ignore_index=True)
        return res, bars

    def test_section_table_and_lines_per_strategy(self, portfolio, tmp_path: Path) -> None:
        res, bars = portfolio
        html = render_report(res, tmp_path / "p.html", bars=bars).read_text()
        assert '<section id="sec-strategies"><h2>Strategies</h2>' in html
        assert '<a href="#sec-strategies">' in html
        by = res.by_strategy().set_index("strategy_id")
        for sid in ("btc_trend", "eth_trend"):
            assert f"<td>{sid}</td>" in html
        traces = plot_data(html, "plot-strategies")
        assert [t["name"] for t in traces] == by.index.tolist()  # first-order order
        assert sorted(by.index) == ["btc_trend", "eth_trend"]
        for t in traces:  # each line ends at the strategy's PnL (open trades at the last close)
            assert decode(t["y"])[-1] == pytest.approx(by.loc[t["name"], "pnl"], rel=1e-9)

    def test_one_strategy_has_no_strategy_section(self, report: str) -> None:
        assert "sec-strategies" not in report
