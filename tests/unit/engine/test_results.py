"""BacktestResult: building, metrics wiring, equality/diff, and Parquet + JSON save/load."""

from __future__ import annotations

import doctest
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloom.adapters.store import results_io
from tradeloom.adapters.store.results_io import load_result, save_result
from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.orders import Fill, Liquidity, Order, OrderStatus, OrderType, Side
from tradeloom.engine.results import frames as result_frames
from tradeloom.engine.results import metrics, trades
from tradeloom.engine.results import result as results
from tradeloom.engine.results.result import METRIC_KEYS, BacktestResult, EquityCurve

H = 3_600_000
BTC = "BTC/USDT"
MANIFEST = {
    "strategy": "sma_cross",
    "params": {"fast": 10, "slow": 30},
    "seed": 7,
    "config_hash": "abc",
}


def make_order(oid: int, side: Side, ts: int, tag: str) -> Order:
    o = Order(oid, BTC, side, OrderType.MARKET, 1.0, ts, tag=tag)
    o.transition(OrderStatus.OPEN, ts)
    o.transition(OrderStatus.FILLED, ts + H)
    return o


def scenario(**overrides: object) -> BacktestResult:
    """Four bars of 1h. Buy 1 @ 100 (fee 0.1) at bar 2's open, sell @ 110 (fee 0.11) at bar 3's
    open, buy 1 @ 105 (fee 0.105) at bar 4's open, still open at the 108 close.

    bar close | cash     | position | mark | equity
    1h        | 1000     | 0        | 100  | 1000
    2h        | 899.9    | 1        | 104  | 1003.9
    3h        | 1009.79  | 0        | 109  | 1009.79
    4h        | 904.685  | 1        | 108  | 1012.685
    """
    orders = [
        make_order(1, Side.BUY, H, "entry"),
        make_order(2, Side.SELL, 2 * H, "take_profit"),
        make_order(3, Side.BUY, 3 * H, "entry"),
    ]
    fills = [
        Fill(1, BTC, Side.BUY, H, 100.0, 1.0, 0.1, Liquidity.TAKER, tag="entry"),
        Fill(2, BTC, Side.SELL, 2 * H, 110.0, 1.0, 0.11, Liquidity.TAKER, tag="take_profit"),
        Fill(3, BTC, Side.BUY, 3 * H, 105.0, 1.0, 0.105, Liquidity.TAKER, tag="entry"),
    ]
    cash = [1000.0, 899.9, 1009.79, 904.685]
    exposure = [0.0, 104.0, 0.0, 108.0]
    equity = EquityCurve(
        ts=[H, 2 * H, 3 * H, 4 * H],
        equity=[c + x for c, x in zip(cash, exposure)],
        cash=cash,
        exposure=exposure,
        fees_cum=[0.0, 0.1, 0.21, 0.315],
    )
    kw: dict[str, object] = {
        "orders": orders,
        "fills": fills,
        "equity": equity,
        "timeframe": "1h",
        "initial_cash": 1000.0,
        "quote_currency": "USDT",
        "manifest": MANIFEST,
        "risk_decisions": [
            {
                "ts": 2 * H,
                "code": "max_exposure",
                "limit": 0.25,
                "observed": 0.31,
                "setting": "risk.max_exposure_pct",
                "order_id": None,
            }
        ],
        "events": [{"ts": H, "kind": "start"}],
        "final_positions": {BTC: 1.0},
        "final_marks": {BTC: 108.0},
    }
    kw.update(overrides)
    return BacktestResult.build(**kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    return scenario()


class TestBuild:
    def test_frames_have_fixed_columns_and_dtypes(self, result: BacktestResult) -> None:
        assert list(result.orders.columns) == list(result_frames.ORDER_COLUMNS)
        assert list(result.fills.columns) == list(result_frames.FILL_COLUMNS)
        assert list(result.trades.columns) == list(trades.TRADE_COLUMNS)
        assert list(result.equity.columns) == ["ts", "equity", "cash", "exposure", "fees_cum"]
        assert str(result.orders["parent_id"].dtype) == "Int64"
        assert result.orders["side"].tolist() == ["buy", "sell", "buy"]
        assert json.loads(result.orders["history"].iloc[0]) == [[H, "open"], [2 * H, "filled"]]
        assert result.equity["ts"].dtype == np.int64
        assert result.risk_decisions.dtypes.astype(str).to_dict() == {
            "ts": "int64",
            "code": "str",
            "limit": "float64",
            "observed": "float64",
            "setting": "str",
            "order_id": "str",  # all None -> no numeric evidence -> str
        }

    def test_trades_and_metrics(self, result: BacktestResult) -> None:
        t = result.trades
        assert t["is_open"].tolist() == [False, True]
        assert t["pnl"].iloc[0] == pytest.approx(10.0 - 0.21)
        assert t["pnl"].iloc[1] == pytest.approx(3.0 - 0.105)
        mt = result.metrics
        assert list(mt) == list(METRIC_KEYS)
        assert all(isinstance(v, float) for v in mt.values())
        assert mt["final_equity"] == pytest.approx(1012.685)
        assert mt["total_return"] == pytest.approx(0.012685)
        # the account change is the pnl of all trades, closed and open at the mark
        assert t["pnl"].sum() == pytest.approx(mt["final_equity"] - mt["initial_cash"])
        # closed trades only in trade statistics
        assert (mt["n_trades"], mt["n_open_trades"], mt["win_rate"]) == (1.0, 1.0, 1.0)
        assert mt["profit_factor"] == math.inf
        assert mt["exposure_time"] == pytest.approx(0.5)
        assert mt["fees_paid"] == pytest.approx(0.315)
        assert mt["turnover"] == pytest.approx(
            315.0 / np.mean([1000, 1000, 1003.9, 1009.79, 1012.685])
        )
        # equity never falls below a previous peak in this scenario
        assert mt["max_drawdown"] == 0.0 and math.isnan(mt["calmar"])

    def test_returns_start_from_initial_cash_before_the_first_bar(
        self, result: BacktestResult
    ) -> None:
        e = [1000.0] + result.equity["equity"].tolist()
        r = metrics.step_returns(e)
        assert result.metrics["sharpe"] == pytest.approx(metrics.sharpe(r, 8760.0))
        assert result.metrics["cagr"] == pytest.approx(metrics.cagr(e, [0, H, 2 * H, 3 * H, 4 * H]))

    def test_summary_is_a_plain_table(self, result: BacktestResult) -> None:
        text = result.summary()
        assert "sma_cross" in text and "1,012.68 USDT" in text and "profit_factor" in text
        assert "inf" in text and text == scenario().summary()

    def test_no_trades_and_empty_equity(self) -> None:
        r = BacktestResult.build(
            orders=[],
            fills=[],
            equity=EquityCurve([], [], [], [], []),
            timeframe="1d",
            initial_cash=10.0,
            quote_currency="USDT",
            manifest={},
        )
        assert len(r.trades) == 0 and list(r.trades.columns) == list(trades.TRADE_COLUMNS)
        assert r.metrics["total_return"] == 0.0 and r.metrics["n_trades"] == 0.0
        assert math.isnan(r.metrics["sharpe"]) and math.isnan(r.metrics["win_rate"])
        assert "n/a" in r.summary()


class TestValidation:
    def test_manifest_must_be_json(self) -> None:
        with pytest.raises(ConfigError, match=r"manifest\.params\.fast is a numpy\.int64"):
            scenario(manifest={"params": {"fast": np.int64(3)}})
        with pytest.raises(ConfigError, match=r"manifest\.x is nan"):
            scenario(manifest={"x": float("nan")})
        with pytest.raises(ConfigError, match="string keys"):
            scenario(manifest={1: "a"})

    def test_manifest_is_stored_as_plain_sorted_json(self) -> None:
        r = scenario(manifest={"b": (1, 2), "a": {"z": 1, "y": 2}})
        assert list(r.manifest) == ["a", "b"] and r.manifest["b"] == [1, 2]

    def test_positions_must_match_fills(self) -> None:
        with pytest.raises(DataError, match="final_positions says 2.0 but the fills add up to 1.0"):
            scenario(final_positions={BTC: 2.0})

    def test_equity_curve_checks(self) -> None:
        with pytest.raises(DataError, match="strictly increase"):
            EquityCurve([2, 2], [1.0, 1.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0])
        with pytest.raises(DataError, match="cash has 1 values"):
            EquityCurve([1, 2], [1.0, 1.0], [1.0], [0.0, 0.0], [0.0, 0.0])
        with pytest.raises(DataError, match="exposure row 1"):
            EquityCurve([1, 2], [1.0, 1.0], [1.0, 1.0], [0.0, -1.0], [0.0, 0.0])
        c = EquityCurve([1], [1.0], [1.0], [0.0], [0.0])
        with pytest.raises(ValueError):
            c.equity[0] = 2.0  # read-only

    def test_bad_initial_cash(self) -> None:
        with pytest.raises(ConfigError, match="initial_cash"):
            scenario(initial_cash=0.0)


class TestEqualityAndDiff:
    def test_equal_builds_are_equal(self, result: BacktestResult) -> None:
        assert result == scenario() and result.equals(scenario()) and result.diff(scenario()) == []

    def test_diff_names_the_first_differing_trade_row_and_metric_deltas(
        self, result: BacktestResult
    ) -> None:
        other = scenario(final_marks={BTC: 109.0}, final_positions={})
        assert result != other
        lines = result.diff(other)
        assert "final_positions: {'BTC/USDT': 1.0} != {}" in lines
        assert "final_marks: {'BTC/USDT': 108.0} != {'BTC/USDT': 109.0}" in lines
        trade_line = next(line for line in lines if line.startswith("trades"))
        assert trade_line.startswith("trades row 1: exit_price 108.0 != 109.0;")
        assert "pnl" in trade_line
        assert not any(
            line.startswith("metrics.") for line in lines
        )  # metrics come from the equity curve

    def test_diff_reports_metric_deltas(self, result: BacktestResult) -> None:
        lines = result.diff(scenario(initial_cash=1001.0))
        assert lines[0] == "initial_cash: 1000.0 != 1001.0"
        assert "metrics.initial_cash: 1000.0 != 1001.0 (delta +1)" in lines
        assert any(
            line.startswith("metrics.total_return: ") and "(delta -0.00101167)" in line
            for line in lines
        )
        sortino_line = next(line for line in lines if line.startswith("metrics.sortino: "))
        assert (
            sortino_line.startswith("metrics.sortino: nan != 545.") and "delta" not in sortino_line
        )

    def test_diff_reports_schema_length_manifest_and_events(self, result: BacktestResult) -> None:
        other = scenario(manifest={**MANIFEST, "seed": 8}, events=[], risk_decisions=[])
        lines = result.diff(other)
        assert "manifest.seed: 7 != 8" in lines
        assert "events: 1 != 0 events" in lines
        assert any(line.startswith("risk_decisions columns differ") for line in lines)

    def test_nan_equals_nan(self) -> None:
        a = BacktestResult.build(
            orders=[],
            fills=[],
            equity=EquityCurve([H], [1.0], [1.0], [0.0], [0.0]),
            timeframe="1h",
            initial_cash=1.0,
            quote_currency="",
            manifest={},
        )
        b = BacktestResult.build(
            orders=[],
            fills=[],
            equity=EquityCurve([H], [1.0], [1.0], [0.0], [0.0]),
            timeframe="1h",
            initial_cash=1.0,
            quote_currency="",
            manifest={},
        )
        assert math.isnan(a.metrics["sharpe"]) and a == b


class TestSaveLoad:
    def test_round_trip_is_equal_and_resave_is_byte_identical(
        self, result: BacktestResult, tmp_path: Path
    ) -> None:
        save_result(result, tmp_path / "a")
        loaded = load_result(tmp_path / "a")
        assert loaded == result, loaded.diff(result)
        save_result(loaded, tmp_path / "b")
        names = sorted(p.name for p in (tmp_path / "a").iterdir())
        assert names == [
            "equity.parquet",
            "events.json",
            "fills.parquet",
            "manifest.json",
            "metrics.json",
            "orders.parquet",
            "result.json",
            "risk_decisions.parquet",
            "trades.parquet",
        ]
        for name in names:
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), (
                name
            )

    def test_json_files_are_strict_and_stable(self, result: BacktestResult, tmp_path: Path) -> None:
        save_result(result, tmp_path / "r")
        m = json.loads((tmp_path / "r" / "metrics.json").read_text())
        assert m["profit_factor"] == "inf" and m["calmar"] == "nan"
        assert list(m) == list(METRIC_KEYS)
        text = (tmp_path / "r" / "manifest.json").read_text()
        assert text == json.dumps(MANIFEST, sort_keys=True, indent=2) + "\n"

    def test_a_format_1_result_loads_with_every_fee_in_quote(
        self, result: BacktestResult, tmp_path: Path
    ) -> None:
        """Results saved before fills recorded their fee's currency (format 1) load with
        the fee in the quote currency, which is what that version charged."""
        import pyarrow.parquet as pq

        save_result(result, tmp_path / "r")
        meta = json.loads((tmp_path / "r" / "result.json").read_text())
        meta["format_version"] = 1
        (tmp_path / "r" / "result.json").write_text(json.dumps(meta))
        table = pq.read_table(tmp_path / "r" / "fills.parquet")
        kinds = json.loads(table.schema.metadata[b"tradeloom.kinds"])
        del kinds["fee_currency"], kinds["fee_cost"]
        old = table.drop_columns(["fee_currency", "fee_cost"]).replace_schema_metadata(
            {b"tradeloom.kinds": json.dumps(kinds).encode()})
        pq.write_table(old, tmp_path / "r" / "fills.parquet")
        loaded = load_result(tmp_path / "r")
        assert loaded.fills["fee_currency"].tolist() == [result.quote_currency] * len(result.fills)
        assert loaded.fills["fee_cost"].tolist() == result.fills["fee"].tolist()

    def test_floats_round_trip_exactly(self, tmp_path: Path) -> None:
        r = scenario(final_marks={BTC: 0.1 + 0.2}, final_positions={})
        save_result(r, tmp_path / "r")
        assert load_result(tmp_path / "r").final_marks[BTC] == 0.1 + 0.2

    def test_overwrites_an_existing_result_and_leaves_no_temp_dirs(
        self, result: BacktestResult, tmp_path: Path
    ) -> None:
        save_result(scenario(manifest={"strategy": "old"}), tmp_path / "r")
        save_result(result, tmp_path / "r")
        assert load_result(tmp_path / "r") == result
        assert [p.name for p in tmp_path.iterdir()] == ["r"]

    def test_refuses_to_replace_a_directory_that_is_not_a_result(
        self, result: BacktestResult, tmp_path: Path
    ) -> None:
        (tmp_path / "notes.txt").write_text("keep me")
        with pytest.raises(DataError, match="not a saved result"):
            save_result(result, tmp_path)
        assert (tmp_path / "notes.txt").read_text() == "keep me"

    def test_missing_directory_or_file_names_it(
        self, result: BacktestResult, tmp_path: Path
    ) -> None:
        with pytest.raises(DataError, match="no such results directory"):
            load_result(tmp_path / "nope")
        save_result(result, tmp_path / "r")
        (tmp_path / "r" / "trades.parquet").unlink()
        with pytest.raises(DataError, match=r"trades\.parquet: missing"):
            load_result(tmp_path / "r")

    def test_corrupt_files_name_the_file(self, result: BacktestResult, tmp_path: Path) -> None:
        save_result(result, tmp_path / "r")
        (tmp_path / "r" / "fills.parquet").write_bytes(b"not parquet")
        with pytest.raises(DataError, match=r"fills\.parquet: cannot be read as Parquet"):
            load_result(tmp_path / "r")
        save_result(result, tmp_path / "s")
        (tmp_path / "s" / "metrics.json").write_text("{")
        with pytest.raises(DataError, match=r"metrics\.json: not valid JSON"):
            load_result(tmp_path / "s")


# --------------------------------------------------------------------------- properties

bar_action = st.tuples(
    st.sampled_from(["hold", "buy", "sell"]),
    st.integers(1, 30).map(lambda k: k / 10),
    st.integers(80, 120).map(float),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=st.lists(bar_action, min_size=1, max_size=25))
def test_trade_pnl_equals_equity_change_and_round_trips(
    actions: list[tuple[str, float, float]], tmp_path: Path
) -> None:
    """Positions start flat, so sum(trade pnl incl. open at the final mark) == final equity - initial cash.

    Each bar: optionally fill at the bar's price (long or short), then mark at that price.
    """
    fee_rate, cash, pos, fees = 0.001, 10_000.0, 0.0, 0.0
    fills, rows = [], []
    for i, (act, amount, price) in enumerate(actions):
        ts = (i + 1) * H
        if act != "hold":
            side = Side.BUY if act == "buy" else Side.SELL
            fee = price * amount * fee_rate
            fills.append(Fill(i, BTC, side, ts, price, amount, fee, Liquidity.TAKER))
            cash -= side.sign * price * amount + fee
            pos += side.sign * amount
            fees += fee
        rows.append((ts, cash + pos * price, cash, abs(pos * price), fees))
    ts_, eq, cash_, expo, fees_ = map(list, zip(*rows))
    r = BacktestResult.build(
        orders=[],
        fills=fills,
        equity=EquityCurve(ts_, eq, cash_, expo, fees_),
        timeframe="1h",
        initial_cash=10_000.0,
        quote_currency="USDT",
        manifest={"seed": 1},
        final_marks={BTC: actions[-1][2]},
    )
    assert math.isclose(
        r.trades["pnl"].sum(), r.metrics["final_equity"] - 10_000.0, rel_tol=1e-9, abs_tol=1e-6
    )
    assert math.isclose(r.metrics["fees_paid"], fees_[-1], rel_tol=1e-12, abs_tol=1e-12)
    d = tmp_path / f"r{len(actions)}"
    save_result(r, d)
    assert load_result(d) == r


def test_doctests_run() -> None:
    for module in (trades, metrics, result_frames, results, results_io):
        failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert failures == 0, module.__name__


def test_records_may_be_dataclasses_with_enums_and_nested_values() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Decision:
        ts: int
        code: Side
        figures: dict[str, float]

    r = scenario(
        risk_decisions=[Decision(1, Side.BUY, {"limit": 0.25})],
        events=[{"side": Side.SELL, "at": (1, 2)}],
    )
    assert r.risk_decisions.to_dict("records") == [
        {"ts": 1, "code": "buy", "figures": '{"limit": 0.25}'}
    ]
    assert r.events == [{"at": [1, 2], "side": "sell"}] and type(r.events[0]["side"]) is str
    with pytest.raises(ConfigError, match=r"risk_decisions\[0\]\.figures\.x is a builtins\.object"):
        scenario(risk_decisions=[{"figures": {"x": object()}}])
