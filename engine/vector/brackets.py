"""The ``Brackets`` form: its event-engine order logic (the reference) and its kernel runs.

``BracketTrader`` is the order logic of one symbol, shared by the event-engine twin
``BracketSignalStrategy`` (arrays in) and by rule strategies
(``tradeloom.research.rules``, conditions evaluated bar by bar): at each close, flat
and an entry with a valid size -> a target buy, or a bracket when a stop-loss is set;
holding and an exit or the time stop -> cancel every order and go flat. ``on_fill``
places the trailing stop after an entry and cancels what is left after the last sell.
``run_brackets`` / ``sweep_brackets`` run the same decisions through
``brackets_nb`` (see its docstring for every rule it mirrors).

>>> import numpy as np, pandas as pd
>>> px = np.array([100.0, 101.0, 103.0, 99.0, 104.0, 105.0])
>>> bars = pd.DataFrame({"ts": np.arange(6) * 60_000, "open": px, "high": px + 1.5,
...                      "low": px - 1.5, "close": px, "volume": 10.0})
>>> entries = np.array([True, False, False, False, False, False])
>>> exits = BracketExits(stop_loss=0.02, take_profits=((0.02, 0.5), (0.05, 0.5)))
>>> res = run_brackets(bars, entries, np.zeros(6, bool), 1.0, exits, init_cash=1000.0)
>>> # entry at the next open; the first take-profit (102) fills at the open of the bar that
>>> # gaps over it (103), the stop-loss (98) takes the other half when the low reaches it
>>> res.fills[["ts", "tag", "price"]].values.tolist()
[[60000, 'bracket', 101.0], [120000, 'bracket:tp1', 103.0], [180000, 'bracket:sl', 98.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.costs.fees import MakerTakerFees
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.market import FeeSide, MarketSpec
from tradeloom.engine.orders import Fill, OrderType, Side
from tradeloom.engine.results.result import BacktestResult
from tradeloom.engine.sim.matching import IntrabarRule
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.vector import api
from tradeloom.engine.vector import brackets_nb as bnb
from tradeloom.engine.vector import kernels_nb as nb
from tradeloom.engine.vector.form import MAX_TAKE_PROFITS, BracketExits, Brackets, NotVectorizable

__all__ = ["BRACKET_TAG", "BracketSignalStrategy", "BracketTrader", "run_brackets", "sweep_brackets"]

BRACKET_TAG = "bracket"  # ctx.bracket(tag=...): legs "bracket:sl", "bracket:tp1", ...
TRAILING_TAG = "trailing_stop"


class BracketTrader:
    """The ``Brackets`` order logic for one symbol, in the event engine (see module docs).

    The caller counts bars: ``on_fill(ctx, fill, i)`` with the index of the bar whose
    step produced the fill, ``on_bar(ctx, close, i, entry, exit, size)`` at its close.
    """

    __slots__ = ("entry_bar", "fixed_quote", "rules", "symbol", "tag")

    def __init__(self, symbol: str, rules: BracketExits, tag: str = BRACKET_TAG,
                 fixed_quote: float | None = None) -> None:
        self.symbol = symbol
        self.rules = rules
        self.tag = tag
        self.fixed_quote = fixed_quote
        self.entry_bar = -1

    def on_fill(self, ctx: Any, fill: Fill, i: int) -> None:
        symbol = self.symbol
        if fill.side is Side.BUY:
            self.entry_bar = i
            trail = self.rules.trailing
            if trail is not None:
                ctx.trailing_stop(symbol, ctx.position(symbol), trail_pct=trail, tag=TRAILING_TAG)
        elif ctx.position(symbol) == 0.0:
            for order in list(ctx.open_orders(symbol)):
                ctx.cancel(order.id)

    def on_bar(self, ctx: Any, close: float, i: int, entry: bool, exit: bool, size: float) -> None:
        symbol = self.symbol
        rules = self.rules
        if ctx.position(symbol) == 0.0:
            if entry and size == size:
                if self.fixed_quote is not None:
                    equity = ctx.equity
                    if not equity > 0.0:
                        return
                    size = min(1.0, self.fixed_quote / equity)
                if rules.stop_loss is None:
                    ctx.target_percent(symbol, size)
                    return
                spend = min(size * ctx.equity, ctx.cash)
                if spend > 0.0:
                    ctx.bracket(symbol, quote=spend, stop_loss=close * (1.0 - rules.stop_loss),
                                take_profits=[(close * (1.0 + d), f) for d, f in rules.take_profits],
                                tag=self.tag)
            return
        stop = rules.time_stop
        if exit or (stop is not None and self.entry_bar >= 0 and i - self.entry_bar >= stop):
            for order in list(ctx.open_orders(symbol)):
                ctx.cancel(order.id)
            ctx.target_percent(symbol, 0.0)


class BracketSignalStrategy(Strategy):
    """The event-engine twin of ``run_brackets`` (the reference of ``simulate_brackets_nb``).

    ``entries``/``exits`` are per bar, ``size`` a fraction of equity per bar (or one
    value; NaN = no entry), ``rules`` the ``BracketExits``, ``fixed_quote`` a quote
    amount per entry instead of the size. One symbol.
    """

    def __init__(self, entries: Any, exits: Any, size: Any, rules: BracketExits,
                 fixed_quote: float | None = None) -> None:
        super().__init__()
        self._entries = np.asarray(entries, dtype=bool)
        self._exits = np.asarray(exits, dtype=bool)
        n = self._entries.shape[0]
        sz = np.asarray(size, dtype=np.float64)
        self._size = np.full(n, float(sz)) if sz.ndim == 0 else sz
        self._rules = rules
        self._quote = fixed_quote
        self._trader: BracketTrader | None = None
        self._i = 0

    def on_start(self, ctx: Any) -> None:
        self._trader = BracketTrader(ctx.symbols[0], self._rules, fixed_quote=self._quote)

    def on_fill(self, ctx: Any, fill: Fill) -> None:
        self._trader.on_fill(ctx, fill, self._i)  # type: ignore[union-attr]

    def on_bar(self, ctx: Any, bar: Any) -> None:
        i = self._i
        self._i += 1
        self._trader.on_bar(ctx, bar.close, i, bool(self._entries[i]), bool(self._exits[i]),  # type: ignore[union-attr]
                            float(self._size[i]))


def _tagger(reason: int) -> tuple[str, OrderType]:
    if reason == bnb.REASON_BRACKET_ENTRY:
        return BRACKET_TAG, OrderType.MARKET
    if reason == nb.REASON_STOP_LOSS:
        return f"{BRACKET_TAG}:sl", OrderType.STOP
    if reason == nb.REASON_TRAILING:
        return TRAILING_TAG, OrderType.TRAILING_STOP
    if reason >= bnb.REASON_TP0:
        return f"{BRACKET_TAG}:tp{reason - bnb.REASON_TP0 + 1}", OrderType.LIMIT
    return "target", OrderType.MARKET


def _exit_args(rules: BracketExits) -> tuple[float, float, np.ndarray, np.ndarray, int]:
    sl = rules.stop_loss if rules.stop_loss is not None else 0.0
    tr = rules.trailing if rules.trailing is not None else 0.0
    dist = np.array([d for d, _ in rules.take_profits], dtype=np.float64)
    frac = np.array([f for _, f in rules.take_profits], dtype=np.float64)
    return sl, tr, dist, frac, rules.time_stop or 0


def kernel_refusal(market: MarketSpec | None) -> str:
    """Why the bracket kernel cannot run ``market``, or "".

    A market that charges a sell's fee in the coin sold (fee side ``give`` or ``base``)
    is refused: the bracket kernel does not yet follow the event engine there (a random
    parity case with a three-level ladder on lot 0.01 diverged), so such runs take the
    event engine. Quote and get sides (every venue the project ships) run here.

    >>> kernel_refusal(MarketSpec("BTC/USDT", fee_side="get"))
    ''
    >>> kernel_refusal(MarketSpec("BTC/USDT", fee_side="base"))[:53]
    'BTC/USDT charges a sell fee in the coin sold (fee sid'
    """
    if market is not None and FeeSide(market.fee_side) in (FeeSide.GIVE, FeeSide.BASE):
        return (f"{market.symbol} charges a sell fee in the coin sold (fee side "
                f"{FeeSide(market.fee_side).value}); the bracket kernel implements quote and get "
                "fee sides only: the event engine runs it")
    return ""


def run_brackets(
    bars: pd.DataFrame,
    entries: Any,
    exits: Any,
    size: Any,
    rules: BracketExits,
    *,
    init_cash: float = 10_000.0,
    fee: float | MakerTakerFees | None = None,
    market: MarketSpec | None = None,
    slippage: Any = None,
    intrabar_rule: IntrabarRule | str = IntrabarRule.ADVERSE_FIRST,
    timeframe: str | None = None,
    fixed_quote: float | None = None,
) -> BacktestResult:
    """Backtest the ``Brackets`` form on one symbol with the event engine's rules.

    Same fills, trades, equity and metrics as ``BracketSignalStrategy`` in the event
    engine; ``size`` is one fraction of equity or one per bar (NaN = no entry);
    ``fixed_quote`` a quote amount per entry instead.
    """
    why = kernel_refusal(market)
    if why:
        raise NotVectorizable(why)
    arr, spec_m, spec, cash0, _, _, rule = api.signal_setup(
        bars, "run_brackets", market, fee, slippage, init_cash, 1.0, None, None, None, intrabar_rule)
    n = arr["ts"].shape[0]
    timeframe = api.resolve_timeframe(timeframe, arr["ts"], "run_brackets")
    form = Brackets(entries, exits, size, rules, fixed_quote).checked(n)
    sl, tr, dist, frac, tstop = _exit_args(rules)
    tf_ms = timeframe_to_ms(timeframe)
    block = api.equity_block(n)
    acc = np.empty(nb.N_ACC)
    records, nf = bnb.simulate_brackets_nb(
        arr["open"], arr["high"], arr["low"], arr["close"], arr["volume"], arr["ts"], tf_ms,
        form.entries, form.exits, form.size, cash0, spec, sl, tr, dist, frac, tstop, rule,
        fixed_quote or 0.0, True, block[0], block[1], block[2], block[3], acc)
    manifest = {
        "strategy": "fast.run_brackets",
        "params": {"stop_loss": rules.stop_loss, "take_profits": [list(t) for t in rules.take_profits],
                   "trailing": rules.trailing, "time_stop": rules.time_stop,
                   "fixed_quote": fixed_quote,
                   "intrabar_rule": IntrabarRule(intrabar_rule).value},
        "symbols": [spec_m.symbol],
        "timeframe": timeframe,
        "initial_cash": cash0,
        "quote_currency": spec_m.quote,
        "engine": "brackets_nb",
    }
    return api.build_result(
        records[:nf], [spec_m.symbol], arr["ts"], arr["close"][:, None], block,
        timeframe=timeframe, tf_ms=tf_ms, init_cash=cash0, quote=spec_m.quote, manifest=manifest,
        oco=False, tagger=_tagger)


def sweep_brackets(
    bars: pd.DataFrame,
    forms: Sequence[Brackets],
    *,
    init_cash: float = 10_000.0,
    fee: float | MakerTakerFees | None = None,
    market: MarketSpec | None = None,
    slippage: Any = None,
    intrabar_rule: IntrabarRule | str = IntrabarRule.ADVERSE_FIRST,
    timeframe: str | None = None,
    chunk_bytes: int = 256 * 2**20,
) -> pd.DataFrame:
    """One row of ``METRIC_KEYS`` per form, each equal to ``run_brackets`` on it, the
    combinations run in parallel kernel calls of at most ``chunk_bytes`` of arrays."""
    why = kernel_refusal(market)
    if why:
        raise NotVectorizable(why)
    arr, _, spec, cash0, _, _, rule = api.signal_setup(
        bars, "sweep_brackets", market, fee, slippage, init_cash, 1.0, None, None, None, intrabar_rule)
    n = arr["ts"].shape[0]
    if not forms:
        raise ConfigError("sweep_brackets: no forms to run")
    timeframe = api.resolve_timeframe(timeframe, arr["ts"], "sweep_brackets")
    tf_ms = timeframe_to_ms(timeframe)
    per = max(1, chunk_bytes // max(1, 10 * n))
    parts = []
    for lo in range(0, len(forms), per):
        batch = [f.checked(n) for f in forms[lo:lo + per]]
        m = len(batch)
        ent = np.ascontiguousarray(np.stack([f.entries for f in batch]))
        ext = np.ascontiguousarray(np.stack([f.exits for f in batch]))
        size = np.ascontiguousarray(np.stack([f.size for f in batch]))
        sl, tr, tstop, n_tp = np.zeros(m), np.zeros(m), np.zeros(m, np.int64), np.zeros(m, np.int64)
        quote = np.array([f.fixed_quote or 0.0 for f in batch])
        dist, frac = np.zeros((m, MAX_TAKE_PROFITS)), np.zeros((m, MAX_TAKE_PROFITS))
        for j, f in enumerate(batch):
            s, t, d, q, ts_ = _exit_args(f.rules)
            sl[j], tr[j], tstop[j], n_tp[j] = s, t, ts_, d.shape[0]
            dist[j, :d.shape[0]], frac[j, :q.shape[0]] = d, q
        acc = bnb.sweep_brackets_nb(
            arr["open"], arr["high"], arr["low"], arr["close"], arr["volume"], arr["ts"], tf_ms,
            ent, ext, size, cash0, spec, sl, tr, dist, frac, n_tp, tstop, rule, quote)
        parts.append(api.metrics_from_acc(acc, ts=arr["ts"], timeframe=timeframe, init_cash=cash0))
    return pd.concat(parts, ignore_index=True)
