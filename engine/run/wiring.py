"""One engine wiring for every mode: backtest, paper, replay and live.

Why one function: parity between a backtest and a session holds only if both build
the same thing. ``wire_engine`` checks the run (a ``Strategy`` instance, market rules
for every symbol, one quote currency), opens the ``Portfolio`` (or takes the one a
live session opened from the exchange's balances), makes the run's one id counter
(orders the engine creates and orders the broker creates on cancel/replace never
collide, and ids repeat run after run), builds the broker over the portfolio,
applies the wrappers (the journaling ``CommandRecorder`` of paper, replay and live)
and builds the ``Engine``. The modes differ only in what they pass:

========  =====================================================  ======================
mode      broker factory                                         wrapper
========  =====================================================  ======================
backtest  ``simulated_broker(fees=..., slippage=..., ...)``      none
paper     ``simulated_broker()`` (the markets' fees)             ``CommandRecorder``
replay    the same as paper                                      ``CommandRecorder``
live      the session's ``CcxtBroker`` (built before the         ``LiveCommandRecorder``
          portfolio: recovery needs it)
========  =====================================================  ======================

The fee model reaches the risk engine through the broker: ``Engine.start`` binds the
risk gate to ``broker.fees``, the object the broker charges fills with.

>>> from tradeloom.engine.market import MarketSpec
>>> engine = wire_engine(Strategy(), symbols=["BTC/USDT"], timeframe="1m",
...                      markets={"BTC/USDT": MarketSpec("BTC/USDT")},
...                      broker=simulated_broker(), initial_cash=500.0)
>>> engine.portfolio.cash, engine.portfolio.quote, engine.timeframe_ms
(500.0, 'USDT', 60000)
>>> wire_engine(Strategy(), symbols=["BTC/USDT", "ETH/BTC"], timeframe="1m",
...             markets={"BTC/USDT": MarketSpec("BTC/USDT"), "ETH/BTC": MarketSpec("ETH/BTC")},
...             broker=simulated_broker())
Traceback (most recent call last):
...
tradeloom.engine.errors.ConfigError: symbols ['BTC/USDT', 'ETH/BTC'] are quoted in ['BTC', 'USDT'] but a run's portfolio has one quote currency ('BTC'); split them into one run per quote currency
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.costs.fees import FeeAsset
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.ports import Broker, FeeModel, ModelSource, RiskGate, SlippageModel
from tradeloom.engine.run.loop import Engine
from tradeloom.engine.sim.broker import SimulatedBroker
from tradeloom.engine.sim.matching import IntrabarRule
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.timeframes import timeframe_to_ms

#: ``factory(markets, portfolio, id_source) -> broker``: the run's markets (its symbols
#: only), the portfolio as the broker's account view, the run's id counter.
BrokerFactory = Callable[[Mapping[str, MarketSpec], Portfolio, Callable[[], int]], Broker]

#: ``wrap(broker) -> broker``: a wrapper implementing the same port (e.g. the recorder).
BrokerWrapper = Callable[[Broker], Broker]


def simulated_broker(
    *,
    fees: FeeModel | None = None,
    slippage: SlippageModel | None = None,
    intrabar_rule: IntrabarRule = IntrabarRule.ADVERSE_FIRST,
    volume_share: float | None = None,
    fee_asset: FeeAsset | None = None,
) -> BrokerFactory:
    """A factory of ``SimulatedBroker``s with these fill models (defaults: the markets'
    maker/taker fees charged on each market's fee side, no slippage, adverse-first, no
    volume cap); ``fee_asset``: the account pays fees with that asset (BNB)."""

    def make(
        markets: Mapping[str, MarketSpec], portfolio: Portfolio, ids: Callable[[], int]
    ) -> Broker:
        return SimulatedBroker(
            markets, portfolio, fees=fees, slippage=slippage, intrabar_rule=intrabar_rule,
            volume_share=volume_share, id_source=ids, fee_asset=fee_asset,
        )

    return make


def run_quote(
    symbols: Sequence[str], markets: Mapping[str, MarketSpec], quote_currency: str | None = None
) -> str:
    """The run's one quote currency; ``ConfigError`` for a symbol without market rules
    or symbols quoted in different currencies."""
    missing = [s for s in symbols if s not in markets]
    if missing:
        raise ConfigError(
            f"no MarketSpec for {missing}; load the exchange's markets (check the symbols "
            "against the exchange) or pass markets="
        )
    quotes = sorted({markets[s].quote for s in symbols})
    quote = quote_currency or quotes[0]
    if quotes != [quote]:
        raise ConfigError(
            f"symbols {list(symbols)} are quoted in {quotes} but a run's portfolio has one "
            f"quote currency ({quote!r}); split them into one run per quote currency"
        )
    return quote


def wire_engine(
    strategy: Strategy,
    *,
    symbols: Sequence[str],
    timeframe: str,
    markets: Mapping[str, MarketSpec],
    broker: BrokerFactory,
    wrap_broker: BrokerWrapper | None = None,
    initial_cash: float = 10_000.0,
    quote_currency: str | None = None,
    portfolio: Portfolio | None = None,
    risk: RiskGate | None = None,
    seed: int = 0,
    id_source: Callable[[], int] | None = None,
    models: ModelSource | None = None,
) -> Engine:
    """Portfolio + broker (+ wrapper) + Engine for one run, not started (see the module
    docstring). The portfolio gets the run's markets (dust detection). ``portfolio``
    (live: opened from the exchange's balances, with the same markets) replaces
    ``initial_cash``/``quote_currency``; ``id_source`` (live: continuing after every
    stored order id) replaces the fresh counter from 1."""
    if not isinstance(strategy, Strategy):
        raise ConfigError(
            f"strategy must be a Strategy instance, got {type(strategy).__name__}; "
            "instantiate it with its params, e.g. SmaCross(fast=10)"
        )
    symbols = list(symbols)
    quote = run_quote(symbols, markets, quote_currency)
    if portfolio is None:
        portfolio = Portfolio(initial_cash, quote, markets={s: markets[s] for s in symbols})
    elif portfolio.quote != quote:
        raise ConfigError(
            f"the portfolio is in {portfolio.quote!r} but symbols {symbols} are quoted in "
            f"{quote!r}; trade symbols of the account's quote currency"
        )
    ids = id_source if id_source is not None else itertools.count(1).__next__
    inner = broker({s: markets[s] for s in symbols}, portfolio, ids)
    outer = wrap_broker(inner) if wrap_broker is not None else inner
    return Engine(
        strategy, outer, portfolio, symbols=symbols, timeframe_ms=timeframe_to_ms(timeframe),
        markets=dict(markets), risk=risk, seed=seed, id_source=ids, models=models,
    )


__all__ = ["BrokerFactory", "BrokerWrapper", "run_quote", "simulated_broker", "wire_engine"]
