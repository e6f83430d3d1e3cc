"""One fee model per run: the simulated broker charges fills with it and the risk
engine's sizing plans fees with the very same object.

Before, the broker got a ``FeeModel`` and the ``RiskEngine`` a separate float
``fee_rate``: with ``maker_fee``/``taker_fee`` set and no ``fee_rate``, fee-aware sizing
approved an order at the market's 0.1 % that the broker, charging 2 %, then cancelled
(``insufficient funds ... need 1018.98 USDT, free 1000.00``).

The scenario of every test here: 1000 USDT, flat bars at 100, a buy of 9.99 BTC
(999 USDT of notional). At 0.1 % it costs 999.999 (fits); at 2 % it costs 1018.98
(does not): fee-aware sizing must resize it to what 1000 USDT pays at 2 %, i.e. a
notional of 1000 / 1.02 = 980.39 (9.8039 BTC), which the broker then fills.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeloom.adapters.config.risk_profiles import risk_config_from_dict
from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.backtest import run_from_settings
from tradeloom.engine.costs.fees import MakerTakerFees
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.risk.config import RiskConfig
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.run.backtest import backtest_arrays, build_engine
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.strategy.base import Strategy
from tradeloom.research.backtest_settings import BacktestSettings

H = 3_600_000
SYM = "BTC/USDT"



class BuyOnce(Strategy):
    """Buys 9.99 BTC on the first bar, nothing after."""

    def on_start(self, ctx):
        self.placed = False

    def on_bar(self, ctx, bar):
        if not self.placed:
            ctx.buy(bar.symbol, 9.99)
            self.placed = True


def flat(n: int = 4, price: float = 100.0) -> BarArrays:
    px = np.full(n, price)
    return BarArrays(np.arange(n, dtype=np.int64) * H, px, px, px, px, np.full(n, 1e6))


def run_engine_level(fees: MakerTakerFees):
    risk = RiskEngine(RiskConfig(fee_aware_sizing=True))
    return backtest_arrays(BuyOnce(), flat(), timeframe="1h", symbol=SYM, initial_cash=1000.0,
                           fees=fees, risk=risk)


def test_sizing_plans_the_fee_the_broker_charges() -> None:
    res = run_engine_level(MakerTakerFees(maker=0.02, taker=0.02))
    assert res.orders["reason"].str.contains("insufficient funds").sum() == 0
    assert res.fills["amount"].tolist() == [pytest.approx(1000.0 / 1.02 / 100.0, rel=1e-12)]
    decision = res.risk_decisions.iloc[0]
    assert decision["code"] == "insufficient_cash" and decision["outcome"] == "resized"
    assert decision["amount"] == pytest.approx(9.803921568627452, rel=1e-12)
    # what was bought was paid for: 980.39 + 2 % = 1000, never more
    assert 0.0 <= res.equity["cash"].tolist()[-1] < 1e-9


def test_the_risk_engine_holds_the_brokers_fee_model_once_started() -> None:
    fees = MakerTakerFees(taker=0.02)
    risk = RiskEngine(RiskConfig(fee_aware_sizing=True))
    engine = build_engine(BuyOnce(), symbols=[SYM], timeframe="1h", fees=fees, risk=risk)
    engine.start(0)
    assert risk.fees is fees is engine.broker.fees


def test_backtest_settings_with_maker_taker_fees_and_no_fee_rate(tmp_path: Path) -> None:
    """The issue's case through the composition root: ``[broker] maker_fee/taker_fee``,
    no ``fee_rate``, a risk profile with fee-aware sizing."""
    store = MarketStore(tmp_path / "catalog")
    frame = pd.DataFrame({"ts": np.arange(4, dtype=np.int64) * H, "open": 100.0, "high": 100.0,
                          "low": 100.0, "close": 100.0, "volume": 1e6})
    store.write_bars("binance", "1h", SYM, frame, source="test")
    source = "from tradeloom.engine.strategy.base import Strategy\n\n\n" + inspect.getsource(BuyOnce)
    (tmp_path / "buy_once.py").write_text(source)
    (tmp_path / "sizing.toml").write_text("fee_aware_sizing = true\n")
    settings = BacktestSettings(
        strategy=f"{tmp_path / 'buy_once.py'}:BuyOnce", symbols=[SYM], timeframe="1h",
        initial_cash=1000.0, broker={"maker_fee": 0.02, "taker_fee": 0.02},
        risk_profile=str(tmp_path / "sizing.toml"))
    res = run_from_settings(settings, store)
    assert res.orders["reason"].str.contains("insufficient funds").sum() == 0
    assert res.fills["amount"].tolist() == [pytest.approx(1000.0 / 1.02 / 100.0, rel=1e-12)]


def test_risk_fee_rate_is_refused_with_its_replacement() -> None:
    with pytest.raises(ConfigError, match=r"risk.fee_rate \(0.001\) was removed.*\[broker\] "
                                          r"fee_rate \(or maker_fee / taker_fee\)"):
        RiskConfig(fee_rate=0.001)


def test_a_profile_setting_fee_rate_names_the_file() -> None:
    with pytest.raises(ConfigError, match=r"^my_profile.toml: risk.fee_rate \(0.002\) was removed"):
        risk_config_from_dict({"fee_aware_sizing": True, "fee_rate": 0.002}, "my_profile.toml")


def test_a_journal_session_record_with_fee_rate_none_still_loads() -> None:
    """Session records written before the removal dump ``fee_rate = None``: replay reads them."""
    assert RiskConfig.model_validate({"fee_aware_sizing": True, "fee_rate": None}) == RiskConfig(
        fee_aware_sizing=True)
