"""What a researcher gets back from run_backtest: a result that draws itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.adapters.store.results_io import load_result, save_result
from tradeloom.app.sample import load_sample
from tradeloom.research.backtest import run_backtest
from tradeloom.research.research_result import ResearchResult

SMA = str(Path(__file__).resolve().parents[3] / "research" / "strategies" / "sma_cross.py") + ":SmaCross"


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> ResearchResult:
    catalog = tmp_path_factory.mktemp("catalog")
    load_sample(MarketStore(catalog))
    return run_backtest(SMA, "BTC/USDT", "1h", "2021-01-01", "2021-03-01", {"fast": 10, "slow": 30}, catalog)


def test_run_backtest_returns_a_result_that_renders_in_a_notebook(result):
    html = result._repr_html_()
    assert "<svg" in html and "total_return" in html


def test_report_writes_an_html_file_with_candles_from_the_runs_catalog(result, tmp_path):
    path = result.report(tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    assert "plot-candles-BTC-USDT" in text and "plot-equity" in text


def test_bars_are_the_runs_own_range(result):
    bars = result.bars()
    assert bars["ts"].min() >= 1609459200000  # 2021-01-01
    assert bars["ts"].max() < 1614556800000  # 2021-03-01


def test_a_wrapped_result_equals_what_it_wraps_and_survives_save_and_load(result, tmp_path):
    save_result(result, tmp_path / "run")
    loaded = load_result(tmp_path / "run")
    assert loaded == result
    assert ResearchResult.of(loaded) == result


def test_progress_is_reported_up_to_the_last_bar(tmp_path):
    catalog = tmp_path / "catalog"
    load_sample(MarketStore(catalog))
    seen: list[tuple[int, int, int]] = []
    run_backtest(SMA, "ETH/USDT", "1h", None, "2021-02-01", {"fast": 5, "slow": 20}, catalog,
                 batch_size=200, progress=lambda *a: seen.append(a))
    assert len(seen) > 3
    first, done, last = seen[-1]
    assert done == last and first < done
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)


def test_the_front_door_exports_load_lazily_and_load_result_draws(result, tmp_path):
    import tradeloom

    save_result(result, tmp_path / "saved")
    loaded = tradeloom.load_result(tmp_path / "saved")
    assert isinstance(loaded, ResearchResult) and loaded == result
    assert tradeloom.run_backtest is run_backtest
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tradeloom.nope  # noqa: B018


def test_every_public_name_resolves():
    import tradeloom

    for name in tradeloom.__all__:
        assert getattr(tradeloom, name) is not None
