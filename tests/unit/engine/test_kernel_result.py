"""A kernel run's lazily built result (``engine/vector/lazy_result.py``) equals the result
``BacktestResult.build`` makes from ``Fill``/``Order`` objects of the same fill records,
which is how ``run_signals`` built it before: frame for frame, metric for metric.

``reference`` below is that former construction, kept here as the specification.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest

from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Fill, Liquidity, Order, OrderStatus, Side
from tradeloom.engine.results.result import BacktestResult, EquityCurve
from tradeloom.engine.vector import api as fast
from tradeloom.engine.vector.brackets import run_brackets
from tradeloom.engine.vector.form import BracketExits
from tradeloom.engine.vector.lazy_result import LAZY_FIELDS, KernelResult


def bars(seed: int, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o = np.r_[100.0, c[:-1]] * np.exp(rng.normal(0, 0.002, n))
    return pd.DataFrame({"ts": np.arange(n, dtype=np.int64) * 3_600_000, "open": o,
                         "high": np.maximum(o, c) * 1.004, "low": np.minimum(o, c) * 0.996,
                         "close": c, "volume": rng.uniform(1, 50, n)})


def signals(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    return rng.random(n) < 0.08, rng.random(n) < 0.08


def reference(res: KernelResult) -> BacktestResult:
    """The eager build: one Fill and one FILLED Order per record, then BacktestResult.build.

    A record's fee is charged in the base currency when ``fee_base`` (the holding moves
    by the amount net of it), else in the quote; a record marked ``dust`` left a holding
    the strategy sees as flat (the run's ``dust`` events, which end the round trip)."""
    run = res._run
    fills, orders = [], []
    pos = dict.fromkeys(run.symbols, 0.0)
    dust = dict.fromkeys(run.symbols, False)
    for k, r in enumerate(run.records.tolist()):
        bar, col, side_i, price, amount, fee, reason, maker, cost, fee_base, dusted, _ = r
        symbol = run.symbols[col]
        side = Side.BUY if side_i > 0 else Side.SELL
        ts = int(run.ts[bar])
        tag, otype = run.tagger(reason)
        liq = Liquidity.MAKER if maker else Liquidity.TAKER
        currency = symbol.partition("/")[0] if fee_base else res.quote_currency
        fill = Fill(k + 1, symbol, side, ts, price, amount, fee, liq, tag=tag, strategy_id="fast",
                    fee_currency=currency, fee_cost=cost)
        fills.append(fill)
        orders.append(Order(id=k + 1, symbol=symbol, side=side, type=otype, amount=amount, created_ts=ts,
                            tag=tag, strategy_id="fast", status=OrderStatus.FILLED, filled=amount,
                            avg_price=price, fee=fee, updated_ts=ts, history=[(ts, "filled")]))
        left = pos[symbol] + fill.base_change()
        pos[symbol] = 0.0 if left < 0.0 else left
        dust[symbol] = bool(dusted) or (dust[symbol] and side is Side.SELL)
    curve = EquityCurve(ts=run.ts + run.tf_ms, equity=run.block[0], cash=run.block[1],
                        exposure=run.block[2], fees_cum=run.block[3])
    return BacktestResult.build(
        orders=orders, fills=fills, equity=curve, timeframe=res.timeframe,
        initial_cash=res.initial_cash, quote_currency=res.quote_currency, manifest=res.manifest,
        events=res.events,
        final_positions={s: p for s, p in pos.items() if p != 0.0 and not dust[s]},
        final_marks={s: float(run.closes[-1, j]) for j, s in enumerate(run.symbols)},
    )


def assert_same(res: KernelResult) -> None:
    expected = reference(res)
    assert res.diff(expected) == []
    assert res == expected


class TestEqualsTheEagerBuild:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_signals(self, seed):
        ent, ext = signals(seed)
        assert_same(fast.run_signals(bars(seed), ent, ext, fee=0.001))

    def test_signals_with_a_stop_loss_take_profit_oco_and_market_rounding(self):
        ent, ext = signals(4)
        market = MarketSpec("ETH/USDT", tick_size=0.01, lot_step=0.001, min_notional=5.0)
        res = fast.run_signals(bars(4), ent, ext, market=market, sl_pct=0.01, tp_pct=0.015)
        assert set(res.fills["tag"]) >= {"stops:stop", "stops:limit"}
        assert_same(res)

    def test_trailing_stop_with_an_open_position_at_the_end(self):
        ent = np.zeros(400, bool)
        ent[[10, 398]] = True
        res = fast.run_signals(bars(5), ent, np.zeros(400, bool), trail_pct=0.02)
        assert res.final_positions  # the last entry is still held
        assert_same(res)

    def test_target_weights_of_two_symbols(self):
        data = {"BTC/USDT": bars(6), "ETH/USDT": bars(7)}
        w = pd.DataFrame({"BTC/USDT": np.where(np.arange(400) % 40 == 0, 0.5, np.nan),
                          "ETH/USDT": np.where(np.arange(400) % 60 == 5, 0.3, np.nan)})
        assert_same(fast.run_target_weights(data, w, fee=0.001))

    def test_brackets_with_a_take_profit_ladder(self):
        ent, ext = signals(8)
        rules = BracketExits(stop_loss=0.02, take_profits=((0.01, 0.5), (0.03, 0.5)))
        assert_same(run_brackets(bars(8), ent, ext, 1.0, rules))

    @pytest.mark.parametrize("fee_side", ["get", "give", "base"])
    def test_fees_in_the_base_currency_and_dust(self, fee_side):
        ent, ext = signals(12)
        market = MarketSpec("ETH/USDT", tick_size=0.01, lot_step=0.01, min_amount=0.01,
                            min_notional=5.0, fee_side=fee_side)
        res = fast.run_signals(bars(12), ent, ext, market=market, sl_pct=0.01, tp_pct=0.015)
        assert "ETH" in set(res.fills["fee_currency"])
        assert [e["kind"] for e in res.events] == ["dust"] * len(res.events) and res.events
        assert_same(res)


class TestLaziness:
    def test_nothing_is_built_until_read(self):
        ent, ext = signals(9)
        res = fast.run_signals(bars(9), ent, ext)
        assert res.pending() == list(LAZY_FIELDS)

    def test_metrics_build_the_trades_and_equity_they_need_and_no_more(self):
        ent, ext = signals(9)
        res = fast.run_signals(bars(9), ent, ext)
        _ = res.metrics  # reading it builds them
        assert sorted(res.pending()) == ["equity", "fills", "final_positions", "orders", "risk_decisions"]

    def test_equity_values_need_no_frame(self):
        ent, ext = signals(9)
        res = fast.run_signals(bars(9), ent, ext)
        values = res.equity_values()
        assert res.pending() == list(LAZY_FIELDS)
        assert values.tolist() == res.equity["equity"].tolist()

    def test_a_field_is_built_once(self):
        ent, ext = signals(9)
        res = fast.run_signals(bars(9), ent, ext)
        assert res.trades is res.trades

    def test_changing_the_equity_frame_does_not_change_later_metrics(self):
        ent, ext = signals(10)
        res = fast.run_signals(bars(10), ent, ext)
        expected = reference(res).metrics
        res.equity.loc[:, "equity"] = 0.0
        assert res.metrics == expected

    def test_pickle_and_copy_give_an_equal_plain_result(self):
        ent, ext = signals(11)
        res = fast.run_signals(bars(11), ent, ext)
        back = pickle.loads(pickle.dumps(res))
        assert type(back) is BacktestResult and back == res
        assert copy.deepcopy(res) == res

    def test_unknown_attributes_still_raise(self):
        ent, ext = signals(9)
        res = fast.run_signals(bars(9), ent, ext)
        with pytest.raises(AttributeError, match="no attribute 'equty'"):
            res.equty  # noqa: B018
