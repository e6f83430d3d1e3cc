"""Two runs over the same inputs give byte-identical saved results."""

from __future__ import annotations

from pathlib import Path

from engine_helpers import random_walk

from tradeloom.adapters.store.results_io import save_result
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.strategy.base import Param, Strategy


class Busy(Strategy):
    """Uses everything that could leak nondeterminism: rng, timers, several symbols and order kinds."""

    history = 10
    fast = Param(int, 3)

    def on_start(self, ctx):
        self.fast_sma = ctx.indicator("sma", period=self.fast)
        self.slow_sma = ctx.indicator("sma", period=8)
        ctx.set_timer(every_ms=7 * 60_000, name="shuffle")

    def on_bar(self, ctx, bar):
        if not self.slow_sma.ready:
            return
        if self.fast_sma.value > self.slow_sma.value:
            if ctx.rng.random() < 0.5:
                ctx.target_percent(bar.symbol, 0.3)
            else:
                ctx.buy(bar.symbol, 0.1, price=bar.close * 0.999)
        elif ctx.position(bar.symbol) > 0:
            ctx.sell(bar.symbol, ctx.position(bar.symbol), price=bar.close * 1.001)

    def on_timer(self, ctx, timer):
        orders = ctx.open_orders()
        if orders:
            ctx.cancel(orders[int(ctx.rng.integers(len(orders)))].id)
        ctx.log(f"{len(orders)} open orders")


def _files(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_same_inputs_same_bytes(tmp_path):
    data = {s: random_walk(400, i) for i, s in enumerate(["ETH/USDT", "BTC/USDT", "SOL/USDT"])}
    saved = []
    for run in ("a", "b"):
        res = backtest_arrays(Busy(), data, timeframe="1m", initial_cash=5_000.0, seed=42)
        assert len(res.fills) > 20  # the run really trades
        saved.append(_files(save_result(res, tmp_path / run)))
    assert saved[0].keys() == saved[1].keys() and saved[0]
    for name in saved[0]:
        assert saved[0][name] == saved[1][name], name


def test_the_seed_is_in_the_manifest_and_changes_the_run():
    data = {"BTC/USDT": random_walk(400, 1)}
    a = backtest_arrays(Busy(), data, timeframe="1m", seed=1)
    b = backtest_arrays(Busy(), data, timeframe="1m", seed=2)
    assert (a.manifest["seed"], b.manifest["seed"]) == (1, 2)
    assert not a.equals(b)


def test_input_dict_order_does_not_matter():
    data = {s: random_walk(200, i) for i, s in enumerate(["ETH/USDT", "BTC/USDT"])}
    a = backtest_arrays(Busy(), data, timeframe="1m")
    b = backtest_arrays(Busy(), dict(reversed(list(data.items()))), timeframe="1m")
    assert a.equals(b)
    assert a.equity["equity"].to_numpy().tobytes() == b.equity["equity"].to_numpy().tobytes()


def test_store_backed_runs_repeat_and_record_their_identity(tmp_path):
    import pandas as pd

    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.engine.market import MarketSpec
    from tradeloom.research.backtest import run_backtest

    store = MarketStore(tmp_path / "catalog")
    t0 = 1_704_067_200_000  # 2024-01-01
    for i, symbol in enumerate(["BTC/USDT", "ETH/USDT"]):
        a = random_walk(300, i)
        frame = pd.DataFrame({"ts": a.ts + t0, "open": a.open, "high": a.high, "low": a.low,
                              "close": a.close, "volume": a.volume})
        store.write_bars("binance", "1m", symbol, frame, source="test")
    store.save_markets("binance", {"BTC/USDT": MarketSpec("BTC/USDT", lot_step=1e-5)}, fetched_ts=0)

    def run(**kw):
        return run_backtest(Busy, ["ETH/USDT", "BTC/USDT"], "1m", "2024-01-01T01:00", None,
                            {"fast": "4"}, store, seed=7, **kw)

    a, b = run(), run()
    assert a.equals(b)
    m = a.manifest
    assert m["config"]["params"] == {"fast": 4} and m["config"]["start"] == t0 + 3_600_000
    assert m["config"]["markets"]["BTC/USDT"]["lot_step"] == 1e-5  # from the store's snapshot
    assert m["data_fingerprint"] == store.fingerprint("binance", "1m", ["BTC/USDT", "ETH/USDT"],
                                                      t0 + 3_600_000, None)
    assert len(m["config_hash"]) == 64 and m["seed"] == 7 and m["code_version"]
    assert int(a.equity["ts"].iloc[0]) == t0 + 3_600_000 + 60_000  # first bar closes a minute in
    assert any("no binance market snapshot for ETH/USDT" in e["message"] for e in a.events)
    assert run(initial_cash=20_000.0).manifest["config_hash"] != m["config_hash"]


def test_the_manifest_records_costs_and_risk_as_settings_and_hashes_them(tmp_path):
    """Fee, slippage and risk settings are structured JSON in the manifest (no repr strings),
    and the manifest's config_hash is the one config_hash of that config."""
    import pandas as pd

    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.engine.config import config_hash
    from tradeloom.engine.costs.fees import MakerTakerFees
    from tradeloom.engine.costs.slippage import FixedBpsSlippage
    from tradeloom.engine.risk.config import RiskConfig
    from tradeloom.engine.risk.engine import RiskEngine
    from tradeloom.research.backtest import run_backtest

    store = MarketStore(tmp_path / "catalog")
    a = random_walk(120, 0)
    store.write_bars("binance", "1m", "BTC/USDT", pd.DataFrame(
        {"ts": a.ts + 1_704_067_200_000, "open": a.open, "high": a.high, "low": a.low,
         "close": a.close, "volume": a.volume}), source="test")

    def config(**kw):
        res = run_backtest(Busy, "BTC/USDT", "1m", None, None, None, store, **kw)
        assert res.manifest["config_hash"] == config_hash(res.manifest["config"])
        return res.manifest["config"]

    plain = config()
    assert (plain["fees"], plain["slippage"], plain["risk"]) == (
        {"kind": "maker_taker", "maker": None, "taker": None}, {"kind": "none"}, None)
    costly = config(fees=MakerTakerFees(taker=0.0005), slippage=FixedBpsSlippage(5.0),
                    risk=RiskEngine(RiskConfig(max_position_pct=0.5)))
    assert costly["fees"] == {"kind": "maker_taker", "maker": None, "taker": 0.0005}
    assert costly["slippage"] == {"kind": "fixed_bps", "bps": 5.0}
    assert costly["risk"]["max_position_pct"] == 0.5 and costly["risk"]["long_only"] is False
    assert config_hash(config(slippage=FixedBpsSlippage(6.0))) != config_hash(
        config(slippage=FixedBpsSlippage(5.0)))
