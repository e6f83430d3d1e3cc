"""The fast path for notebooks: pandas in, ``BacktestResult`` (or a metrics table) out.

Backed by the numba kernels of ``kernels_nb``, which implement the event engine's fill,
fee, sizing and rounding rules exactly; ``SignalStrategy`` and ``TargetWeightStrategy``
below are the same strategies written for the event engine, and
``tests/property/test_kernel_parity.py`` proves both give the same fills, trades and equity.

>>> import numpy as np, pandas as pd
>>> px = np.array([100.0, 101.0, 103.0, 102.0, 104.0])
>>> bars = pd.DataFrame({"ts": np.arange(5) * 60_000, "open": px, "high": px + 1,
...                      "low": px - 1, "close": px, "volume": 10.0})
>>> res = run_signals(bars, entries=[True, False, False, False, False],
...                   exits=[False, False, True, False, False], init_cash=1000.0)
>>> res.fills[["ts", "side", "price"]].values.tolist()
[[60000, 'buy', 101.0], [180000, 'sell', 102.0]]

The bar length (it annualises Sharpe, volatility and Sortino) is the bars' own step
unless ``timeframe=`` says it, and a ``timeframe`` that disagrees with the bars is
refused (``bar_length``). ``run_signals`` returns as soon as the kernel is done; its
frames and metrics are built on first read (``lazy_result``).

Conventions (the event engine's, see ``kernels_nb``): decisions at a bar's close fill at
the next bar's open; long-only spot (the simulated broker and portfolio cannot go
short: ``Portfolio`` refuses a sell beyond the position), so there is no short kernel;
an entry acts only when flat, an exit only when long; entries size as
``ctx.target_percent(symbol, size)``; stops are fractions of the entry fill price,
placed when the entry fills and active from the next bar; open positions at the end
stay open, marked to the last close.

``result.orders`` of a kernel run lists one FILLED order per fill (the kernels keep no
record of refused or cancelled orders); fills, trades, equity and metrics are those of
the event engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from tradeloom.engine.costs.fees import MakerTakerFees
from tradeloom.engine.costs.slippage import (
    FixedBpsSlippage,
    NoSlippage,
    VolumeParticipationSlippage,
)
from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.market import MarketSpec, step_decimals
from tradeloom.engine.orders import Fill, Liquidity, OrderType, Side
from tradeloom.engine.ports import SlippageModel
from tradeloom.engine.results.metrics import MS_PER_YEAR
from tradeloom.engine.results.result import METRIC_KEYS, BacktestResult
from tradeloom.engine.sim.matching import IntrabarRule
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.timeframes import bars_per_year, timeframe_to_ms
from tradeloom.engine.vector import kernels_nb as nb
from tradeloom.engine.vector import weights_nb
from tradeloom.engine.vector.bar_length import resolve_timeframe
from tradeloom.engine.vector.bars_nb import first_bad_rows_nb
from tradeloom.engine.vector.lazy_result import KernelResult, KernelRun

__all__ = [
    "SignalStrategy",
    "TargetWeightStrategy",
    "run_signals",
    "run_target_weights",
    "sweep_signals",
    "sweep_sma_cross",
]

BAR_COLUMNS = ("ts", "open", "high", "low", "close", "volume")
_EMPTY = np.empty(0)  # the SMA arrays simulate_nb reads only in mode 1
DEFAULT_SYMBOL = "BTC/USDT"
STOP_TAG = "stops"  # ctx.oco(tag=...) of SignalStrategy: legs "stops:limit" / "stops:stop"
_RULES = {
    IntrabarRule.ADVERSE_FIRST: nb.RULE_ADVERSE_FIRST,
    IntrabarRule.FAVORABLE_FIRST: nb.RULE_FAVORABLE_FIRST,
    IntrabarRule.OPEN_DISTANCE: nb.RULE_OPEN_DISTANCE,
}


# ----------------------------------------------------------------------------- event-engine twins


class SignalStrategy(Strategy):
    """The event-engine twin of ``run_signals`` (the reference of ``kernels_nb.simulate_nb``).

    At each bar's close: flat and ``entries[i]`` -> ``ctx.target_percent(symbol, size)``;
    long and ``exits[i]`` -> cancel the protective orders, ``ctx.target_percent(symbol, 0)``.
    When the entry fills (``on_fill``) it places, for the position, a stop-loss at
    ``fill.price * (1 - sl_pct)`` and a take-profit limit at ``fill.price * (1 + tp_pct)``
    (both: one OCO, so the ``IntrabarRule`` orders them), or a trailing stop of
    ``trail_pct``. One symbol.
    """

    def __init__(
        self,
        entries: Any,
        exits: Any,
        *,
        size: float = 1.0,
        sl_pct: float | None = None,
        tp_pct: float | None = None,
        trail_pct: float | None = None,
    ) -> None:
        super().__init__()
        self._entries = np.asarray(entries, dtype=bool)
        self._exits = np.asarray(exits, dtype=bool)
        self._size, self._sl, self._tp, self._trail = size, sl_pct, tp_pct, trail_pct
        self._i = 0

    def on_bar(self, ctx: Any, bar: Any) -> None:
        i = self._i
        self._i += 1
        symbol = bar.symbol
        if ctx.position(symbol) == 0.0:
            if self._entries[i]:
                ctx.target_percent(symbol, self._size)
        elif self._exits[i]:
            for order in list(ctx.open_orders(symbol)):
                ctx.cancel(order.id)
            ctx.target_percent(symbol, 0.0)

    def on_fill(self, ctx: Any, fill: Fill) -> None:
        if fill.side is not Side.BUY:
            return
        symbol, price = fill.symbol, fill.price
        amount = ctx.position(symbol)
        sl, tp = self._sl, self._tp
        if sl is not None and tp is not None:
            ctx.oco(symbol, amount, price=price * (1.0 + tp), stop=price * (1.0 - sl), tag=STOP_TAG)
        elif sl is not None:
            ctx.stop_loss(symbol, amount, price * (1.0 - sl))
        elif tp is not None:
            ctx.sell(symbol, amount, price=price * (1.0 + tp), tag="take_profit")
        if self._trail is not None:
            ctx.trailing_stop(symbol, amount, trail_pct=self._trail)


class TargetWeightStrategy(Strategy):
    """The event-engine twin of ``run_target_weights`` (reference of ``simulate_weights_nb``).

    After the last symbol's bar of each step (all marks are that step's closes) it calls
    ``ctx.target_percent(symbol, weights[i, k])`` for every symbol in ``ctx.symbols``
    order; NaN weights mean "no call".
    """

    def __init__(self, weights: Any) -> None:
        super().__init__()
        self._w = np.asarray(weights, dtype=np.float64)
        self._i = 0

    def on_bar(self, ctx: Any, bar: Any) -> None:
        if bar.symbol != ctx.symbols[-1]:
            return
        i = self._i
        self._i += 1
        for k, symbol in enumerate(ctx.symbols):
            w = self._w[i, k]
            if w == w:
                ctx.target_percent(symbol, float(w))


# ----------------------------------------------------------------------------- input checks


def _bars_arrays(bars: pd.DataFrame, where: str) -> dict[str, np.ndarray]:
    if not isinstance(bars, pd.DataFrame):
        raise DataError(f"{where}: bars must be a DataFrame with columns {', '.join(BAR_COLUMNS)}")
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise DataError(
            f"{where}: bars lack columns {missing}; need {', '.join(BAR_COLUMNS)} "
            "(ts = bar open time, int ms UTC)"
        )
    ts = bars["ts"]
    if pd.api.types.is_datetime64_any_dtype(ts):
        ts = ts.astype("datetime64[ms, UTC]" if getattr(ts.dt, "tz", None) else "datetime64[ms]")
        ts = ts.astype("int64")
    out = {"ts": np.ascontiguousarray(np.asarray(ts, dtype=np.int64))}
    for c in BAR_COLUMNS[1:]:
        out[c] = np.ascontiguousarray(np.asarray(bars[c], dtype=np.float64))
    n = out["ts"].shape[0]
    if n < 2:
        raise DataError(f"{where}: need at least 2 bars, got {n}")
    bad = first_bad_rows_nb(out["ts"], out["open"], out["high"], out["low"], out["close"]).tolist()
    if bad[0] >= 0:
        i = bad[0]
        raise DataError(f"{where}: bar ts must strictly increase; row {i} is not after row {i - 1}")
    for c, i in zip(("open", "high", "low", "close"), bad[1:]):
        if i >= 0:
            raise DataError(
                f"{where}: {c} row {i} is {out[c][i]}; prices must be finite and > 0 (drop or fill the bar)"
            )
    return out


def _signal(x: Any, n: int, name: str) -> np.ndarray:
    if isinstance(x, (pd.Series, pd.DataFrame)):
        x = x.to_numpy()
    arr = np.asarray(x)
    if arr.shape != (n,):
        raise DataError(f"{name} has shape {arr.shape}; need one value per bar, shape ({n},)")
    if arr.dtype != np.bool_:
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise DataError(f"{name} has NaN; use False for 'no signal'")
        arr = arr.astype(bool)
    return np.ascontiguousarray(arr)


def _pct(value: float | None, name: str) -> float:
    if value is None:
        return 0.0
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 < value < 1.0):
        raise ConfigError(f"{name}={value!r}: a fraction of the entry price in (0, 1), e.g. 0.02 = 2 %")
    return float(value)


def spec_row(market: MarketSpec, fee: float | MakerTakerFees | None,
              slippage: SlippageModel | None) -> np.ndarray:
    """One ``kernels_nb.SPEC_FIELDS`` row from a market, a fee override and a slippage model
    (the market's fee side says which currency a buy's and a sell's fee is charged in)."""
    if fee is None:
        fees = MakerTakerFees()
    elif isinstance(fee, MakerTakerFees):
        fees = fee
    elif isinstance(fee, (int, float)):
        fees = MakerTakerFees(maker=float(fee), taker=float(fee))
    else:
        raise ConfigError(
            f"fee={fee!r}: give a rate (0.001 = 0.1 %, maker and taker), a MakerTakerFees, "
            "or None for the market's rates; other fee models have no kernel"
        )
    taker = fees.rate(market, Liquidity.TAKER)
    maker = fees.rate(market, Liquidity.MAKER)
    if slippage is None or isinstance(slippage, NoSlippage):
        slip = (nb.SLIP_NONE, 0.0, 0.0, 0.0)
    elif isinstance(slippage, FixedBpsSlippage):
        slip = (nb.SLIP_FIXED_BPS, float(slippage.bps), 0.0, 0.0)
    elif isinstance(slippage, VolumeParticipationSlippage):
        slip = (nb.SLIP_VOLUME, slippage.k_bps, slippage.exponent, slippage.max_bps)
    else:
        raise ConfigError(
            f"slippage={slippage!r} has no kernel; use NoSlippage, FixedBpsSlippage or "
            "VolumeParticipationSlippage, or run the event engine"
        )
    tick = market.tick_size or 0.0
    lot = market.lot_step or 0.0
    return np.array(
        [
            tick,
            10.0 ** step_decimals(tick) if tick else 1.0,
            lot,
            10.0 ** step_decimals(lot) if lot else 1.0,
            market.min_amount,
            market.min_notional,
            taker,
            maker,
            *slip,
            1.0 if market.fee_side.in_base(buy=True) else 0.0,
            1.0 if market.fee_side.in_base(buy=False) else 0.0,
        ],
        dtype=np.float64,
    )


def _market(market: MarketSpec | None, symbol: str | None) -> MarketSpec:
    if market is None:
        return MarketSpec(symbol or DEFAULT_SYMBOL)
    if not isinstance(market, MarketSpec):
        raise ConfigError(f"market must be a MarketSpec, got {type(market).__name__}")
    return market


def _cash(init_cash: float) -> float:
    if not (isinstance(init_cash, (int, float)) and math.isfinite(init_cash) and init_cash > 0):
        raise ConfigError(f"init_cash must be a positive finite number, got {init_cash!r}")
    return float(init_cash)


def stop_fractions(sl_pct: float | None, tp_pct: float | None, trail_pct: float | None) -> tuple[float, float, float]:
    """The kernels' stop-loss, take-profit and trailing fractions (0.0: none), checked."""
    if trail_pct is not None and (sl_pct is not None or tp_pct is not None):
        raise ConfigError(
            "trail_pct cannot be combined with sl_pct/tp_pct: the event engine has no OCO of a "
            "trailing stop and a limit (ctx.oco takes a fixed stop), so the IntrabarRule would not "
            "decide between them; use sl_pct+tp_pct, or trail_pct alone"
        )
    return _pct(sl_pct, "sl_pct"), _pct(tp_pct, "tp_pct"), _pct(trail_pct, "trail_pct")


def size_fraction(size: float) -> float:
    """An order's size as the kernels take it: a fraction of equity in (0, 1], checked."""
    if not (isinstance(size, (int, float)) and math.isfinite(size) and 0.0 < size <= 1.0):
        raise ConfigError(f"size={size!r}: a fraction of equity in (0, 1] (1.0 = all-in)")
    return float(size)


# ----------------------------------------------------------------------------- results


def _tag_type(reason: int, oco: bool) -> tuple[str, OrderType]:
    if reason == nb.REASON_STOP_LOSS:
        return (f"{STOP_TAG}:stop" if oco else "stop_loss"), OrderType.STOP
    if reason == nb.REASON_TAKE_PROFIT:
        return (f"{STOP_TAG}:limit" if oco else "take_profit"), OrderType.LIMIT
    if reason == nb.REASON_TRAILING:
        return "trailing_stop", OrderType.TRAILING_STOP
    return "target", OrderType.MARKET


def build_result(
    records: np.ndarray,
    symbols: Sequence[str],
    ts: np.ndarray,
    closes: np.ndarray,
    block: np.ndarray,
    *,
    timeframe: str,
    tf_ms: int,
    init_cash: float,
    quote: str,
    manifest: dict[str, Any],
    oco: bool,
    tagger: Any = None,
) -> BacktestResult:
    """The ``BacktestResult`` of kernel fill records, built lazily (``lazy_result``).

    ``block`` is the ``(4, n)`` equity block the kernel filled (equity, cash, exposure,
    cumulative fees); ``tagger(reason) -> (tag, OrderType)`` names each fill as
    its event-engine twin does (default: ``SignalStrategy``'s tags).
    """
    if tagger is None:
        def tagger(reason: int) -> tuple[str, OrderType]:
            return _tag_type(reason, oco)
    run = KernelRun(records, tuple(symbols), ts, closes, block, tf_ms, tagger, equity_written=True)
    return KernelResult.of_run(run, timeframe=timeframe, initial_cash=init_cash,
                               quote_currency=quote, manifest=manifest)


def equity_block(n: int) -> np.ndarray:
    """The ``(4, n)`` equity block a recording kernel writes: equity, cash, exposure and
    cumulative fees per bar (``loop.EQUITY_FLOAT_COLUMNS``)."""
    return np.empty((4, n))


# ----------------------------------------------------------------------------- public API


def run_signals(
    bars: pd.DataFrame,
    entries: Any,
    exits: Any,
    *,
    init_cash: float = 10_000.0,
    fee: float | MakerTakerFees | None = None,
    market: MarketSpec | None = None,
    slippage: SlippageModel | None = None,
    size: float = 1.0,
    sl_pct: float | None = None,
    tp_pct: float | None = None,
    trail_pct: float | None = None,
    intrabar_rule: IntrabarRule | str = IntrabarRule.ADVERSE_FIRST,
    timeframe: str | None = None,
) -> BacktestResult:
    """Backtest long-only entry/exit signals of one symbol with the event engine's rules.

    ``entries[i]``/``exits[i]`` are decided at bar ``i``'s close and fill at bar ``i+1``'s
    open. ``size`` is the fraction of equity an entry buys (1.0 = all-in, the fee taken
    from it). ``sl_pct``/``tp_pct`` (fractions of the entry fill price) form one OCO
    ordered by ``intrabar_rule`` when a bar reaches both; ``trail_pct`` is a trailing stop.
    ``fee``: None = the market's maker/taker rates. ``timeframe``: None = the bars' own
    step (``bar_length``: the step most bars take; a given one must agree with it).
    Same result as ``SignalStrategy`` in the event engine (fills, trades, equity,
    metrics); the frames and metrics are built when first read (``lazy_result``).
    """
    arr, spec_m, spec, cash0, frac, (sl, tp, tr), rule = signal_setup(
        bars, "run_signals", market, fee, slippage, init_cash, size, sl_pct, tp_pct, trail_pct, intrabar_rule)
    n = arr["ts"].shape[0]
    timeframe = resolve_timeframe(timeframe, arr["ts"], "run_signals")
    ent = _signal(entries, n, "entries")
    ext = _signal(exits, n, "exits")
    tf_ms = timeframe_to_ms(timeframe)
    block = equity_block(n)
    acc = np.empty(nb.N_ACC)
    records, nf = nb.simulate_nb(
        arr["open"], arr["high"], arr["low"], arr["close"], arr["volume"], arr["ts"], tf_ms, 0,
        ent, ext, _EMPTY, _EMPTY, cash0, frac, spec, sl, tp, tr, rule, True, 0, block[0], block[1], block[2], block[3], acc,
    )
    manifest = {
        "strategy": "fast.run_signals",
        "params": {"size": size, "sl_pct": sl_pct, "tp_pct": tp_pct, "trail_pct": trail_pct,
                   "intrabar_rule": IntrabarRule(intrabar_rule).value},
        "symbols": [spec_m.symbol],
        "timeframe": timeframe,
        "initial_cash": cash0,
        "quote_currency": spec_m.quote,
        "engine": "kernels_nb",
    }
    return build_result(
        records[:nf], [spec_m.symbol], arr["ts"], arr["close"][:, None], block,
        timeframe=timeframe, tf_ms=tf_ms, init_cash=cash0, quote=spec_m.quote, manifest=manifest,
        oco=sl > 0.0 and tp > 0.0,
    )


def run_target_weights(
    bars: Mapping[str, pd.DataFrame],
    weights: pd.DataFrame,
    *,
    init_cash: float = 10_000.0,
    fee: float | MakerTakerFees | None = None,
    markets: Mapping[str, MarketSpec] | None = None,
    slippage: SlippageModel | None = None,
    timeframe: str | None = None,
) -> BacktestResult:
    """Rebalance several symbols to target weights with the event engine's rules.

    ``bars`` maps each symbol to its bars (same ``ts`` for all). ``weights`` has one column
    per symbol and one row per bar: the fraction of equity to hold, decided at that bar's
    close (``ctx.target_percent``), NaN = leave that symbol alone. Buys are capped at the
    cash free at the decision, so money from a sale is spent from the next decision on.
    Same result as ``TargetWeightStrategy`` in the event engine.
    """
    if not isinstance(bars, Mapping) or not bars:
        raise DataError("run_target_weights: bars must be a non-empty {symbol: DataFrame} mapping")
    symbols = sorted(bars)
    if not isinstance(weights, pd.DataFrame):
        raise DataError("run_target_weights: weights must be a DataFrame with one column per symbol")
    missing = [s for s in symbols if s not in weights.columns]
    extra = [c for c in weights.columns if c not in bars]
    if missing or extra:
        raise DataError(f"weights columns must be the symbols {symbols}; missing {missing}, unknown {extra}")
    arrs = [_bars_arrays(bars[s], f"run_target_weights[{s}]") for s in symbols]
    ts = arrs[0]["ts"]
    n = ts.shape[0]
    for s, a in zip(symbols, arrs):
        if a["ts"].shape != ts.shape or not np.array_equal(a["ts"], ts):
            raise DataError(
                f"run_target_weights: {s} bars have other timestamps than {symbols[0]}'s; "
                "align the symbols on one ts grid (the kernel has no missing-bar rule)"
            )
    w = np.ascontiguousarray(weights[symbols].to_numpy(dtype=np.float64))
    if w.shape != (n, len(symbols)):
        raise DataError(f"weights has {w.shape[0]} rows; need one per bar ({n})")
    ok = np.isnan(w) | ((w >= 0.0) & (w <= 1.0))
    if not ok.all():
        i, k = map(int, np.argwhere(~ok)[0])
        raise DataError(
            f"weights[{i}, {symbols[k]!r}] = {w[i, k]}: spot weights are fractions of equity in "
            "[0, 1] (NaN = no change)"
        )
    markets = dict(markets or {})
    specs = [_market(markets.get(s), s) for s in symbols]
    quotes = sorted({m.quote for m in specs})
    if len(quotes) != 1:
        raise ConfigError(f"symbols are quoted in {quotes}; one quote currency per run")
    spec = np.ascontiguousarray(np.stack([spec_row(m, fee, slippage) for m in specs]))
    cols = {c: np.ascontiguousarray(np.stack([a[c] for a in arrs], axis=1)) for c in ("open", "close", "volume")}
    cash0 = _cash(init_cash)
    timeframe = resolve_timeframe(timeframe, ts, "run_target_weights")
    tf_ms = timeframe_to_ms(timeframe)
    block = equity_block(n)
    records, nf = weights_nb.simulate_weights_nb(
        cols["open"], cols["close"], cols["volume"], w, cash0, spec, block[0], block[1], block[2],
        block[3],
    )
    manifest = {
        "strategy": "fast.run_target_weights",
        "params": {},
        "symbols": symbols,
        "timeframe": timeframe,
        "initial_cash": cash0,
        "quote_currency": quotes[0],
        "engine": "kernels_nb",
    }
    return build_result(
        records[:nf], symbols, ts, cols["close"], block, timeframe=timeframe,
        tf_ms=tf_ms, init_cash=cash0, quote=quotes[0], manifest=manifest, oco=False,
    )


def metrics_from_acc(acc: np.ndarray, *, ts: np.ndarray, timeframe: str, init_cash: float) -> pd.DataFrame:
    """``METRIC_KEYS`` columns from the kernels' streaming accumulators (one row per run).

    Equal to ``results.compute_metrics`` of the same run: exactly for the equity, drawdown,
    trade counts, fees and notional; to float rounding (about 1e-13 relative) for the
    averages and ratios, which ``compute_metrics`` sums pairwise and the kernel streams.
    """
    a = {name: acc[:, j] for j, name in enumerate(nb.ACC_FIELDS)}
    tf_ms = timeframe_to_ms(timeframe)
    bpy = bars_per_year(timeframe)
    final = a["final_equity"]
    nr = a["n_returns"]
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = final / init_cash
        years = (int(ts[-1]) + tf_ms - int(ts[0])) / MS_PER_YEAR
        cagr = np.where(growth <= 0, -1.0, growth ** (1.0 / years) - 1.0)
        mean_r = a["sum_r"] / nr
        var = np.maximum(a["sum_r2"] - a["sum_r"] * mean_r, 0.0) / (nr - 1)
        std = np.where(nr >= 2, np.sqrt(var), np.nan)
        sharpe = np.where((nr >= 2) & (std > 0), mean_r / std * math.sqrt(bpy), np.nan)
        dd = np.sqrt(a["down2_r"] / nr)
        sortino = np.where((nr >= 2) & (dd > 0), mean_r / dd * math.sqrt(bpy), np.nan)
        mdd = a["max_drawdown"]
        nt = a["n_closed"]
        has = nt > 0
        gl, gw = a["gross_losses"], a["gross_wins"]
        pf = np.where(gl > 0, gw / gl, np.where(gw > 0, np.inf, np.nan))
        mean_e = a["sum_equity"] / (nr + 1)
        out = {
            "initial_cash": np.full(final.shape, float(init_cash)),
            "final_equity": final,
            "total_return": final / init_cash - 1.0,
            "cagr": cagr,
            "volatility": std * math.sqrt(bpy),
            "sharpe": sharpe,
            "sortino": sortino,
            "calmar": np.where(mdd > 0, cagr / mdd, np.nan),
            "max_drawdown": mdd,
            "max_drawdown_duration_ms": a["dd_ms"],
            "max_drawdown_duration_bars": a["dd_bars"],
            "n_trades": nt,
            "n_open_trades": a["n_open"],
            "win_rate": np.where(has, a["n_wins"] / nt, np.nan),
            "profit_factor": pf,
            "avg_trade_pnl": np.where(has, a["sum_pnl"] / nt, np.nan),
            "avg_trade_return": np.where(has, a["sum_ret"] / nt, np.nan),
            "best_trade_pnl": np.where(has, a["best_pnl"], np.nan),
            "worst_trade_pnl": np.where(has, a["worst_pnl"], np.nan),
            "best_trade_return": np.where(has, a["best_ret"], np.nan),
            "worst_trade_return": np.where(has, a["worst_ret"], np.nan),
            "exposure_time": a["exposure_bars"] / nr,
            "turnover": np.where(mean_e > 0, a["traded_notional"] / mean_e, np.nan),
            "fees_paid": a["fees"],
        }
    return pd.DataFrame({k: np.asarray(out[k], dtype=np.float64) for k in METRIC_KEYS})


class _SignalSetup(NamedTuple):
    """Validated inputs shared by the one-symbol signal kernels (run, sweeps)."""

    arr: dict[str, np.ndarray]
    market: MarketSpec
    spec: np.ndarray
    cash: float
    frac: float
    stops: tuple[float, float, float]
    rule: int


def signal_setup(bars: pd.DataFrame, where: str, market: MarketSpec | None,
                  fee: float | MakerTakerFees | None, slippage: SlippageModel | None,
                  init_cash: float, size: float, sl_pct: Any, tp_pct: Any, trail_pct: Any,
                  intrabar_rule: Any) -> _SignalSetup:
    arr = _bars_arrays(bars, where)
    spec_m = _market(market, None)
    return _SignalSetup(arr, spec_m, spec_row(spec_m, fee, slippage), _cash(init_cash), size_fraction(size),
                        stop_fractions(sl_pct, tp_pct, trail_pct), _RULES[IntrabarRule(intrabar_rule)])


def sweep_sma_cross(
    bars: pd.DataFrame,
    fast: Sequence[int],
    slow: Sequence[int],
    *,
    init_cash: float = 10_000.0,
    fee: float | MakerTakerFees | None = None,
    market: MarketSpec | None = None,
    slippage: SlippageModel | None = None,
    size: float = 1.0,
    sl_pct: float | None = None,
    tp_pct: float | None = None,
    trail_pct: float | None = None,
    intrabar_rule: IntrabarRule | str = IntrabarRule.ADVERSE_FIRST,
    timeframe: str | None = None,
    keep_equity: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, np.ndarray]:
    """Every ``(fast, slow)`` pair with ``fast < slow`` of the SMA crossover, in one kernel call.

    One row per combination: ``fast``, ``slow`` and every metric of ``METRIC_KEYS``. Each
    row equals ``run_signals`` on that pair's crossover signals (and the ``SmaCross``
    example in the event engine), the SMAs computed inside the kernel with the engine's
    summation (bit for bit). ``keep_equity=True`` also returns the ``(n_combos, n_bars)``
    equity curves (memory: 8 bytes per bar per combination).
    """
    arr, _, spec, cash0, frac, (sl, tp, tr), rule = signal_setup(
        bars, "sweep_sma_cross", market, fee, slippage, init_cash, size, sl_pct, tp_pct, trail_pct, intrabar_rule)
    try:
        pairs = [(int(f), int(s)) for f in fast for s in slow]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"fast and slow must be sequences of int periods: {exc}") from exc
    pairs = [(f, s) for f, s in pairs if f < s]
    if not pairs or min(min(p) for p in pairs) < 1:
        raise ConfigError("sweep_sma_cross: no (fast, slow) pair with 1 <= fast < slow; check the ranges")
    timeframe = resolve_timeframe(timeframe, arr["ts"], "sweep_sma_cross")
    f_arr = np.array([p[0] for p in pairs], dtype=np.int64)
    s_arr = np.array([p[1] for p in pairs], dtype=np.int64)
    n = arr["ts"].shape[0]
    eq = np.empty((len(pairs), n if keep_equity else 0))
    acc = nb.sweep_sma_nb(
        arr["open"], arr["high"], arr["low"], arr["close"], arr["volume"], arr["ts"],
        timeframe_to_ms(timeframe), f_arr, s_arr, cash0, frac, spec, sl, tp, tr, rule, eq,
    )
    table = metrics_from_acc(acc, ts=arr["ts"], timeframe=timeframe, init_cash=cash0)
    table.insert(0, "slow", s_arr)
    table.insert(0, "fast", f_arr)
    return (table, eq) if keep_equity else table


def sweep_signals(
    bars: pd.DataFrame,
    entries: Any,
    exits: Any,
    *,
    init_cash: float = 10_000.0,
    fee: float | MakerTakerFees | None = None,
    market: MarketSpec | None = None,
    slippage: SlippageModel | None = None,
    size: float = 1.0,
    sl_pct: float | None = None,
    tp_pct: float | None = None,
    trail_pct: float | None = None,
    intrabar_rule: IntrabarRule | str = IntrabarRule.ADVERSE_FIRST,
    timeframe: str | None = None,
) -> pd.DataFrame:
    """Many signal sets on the same bars in one kernel call: ``entries``/``exits`` are
    ``(n_bars, n_combos)`` (a DataFrame's columns name the combinations). One row of
    metrics per combination, each equal to ``run_signals`` on that column."""
    arr, _, spec, cash0, frac, (sl, tp, tr), rule = signal_setup(
        bars, "sweep_signals", market, fee, slippage, init_cash, size, sl_pct, tp_pct, trail_pct, intrabar_rule)
    n = arr["ts"].shape[0]
    timeframe = resolve_timeframe(timeframe, arr["ts"], "sweep_signals")
    names = list(entries.columns) if isinstance(entries, pd.DataFrame) else None
    e2 = np.asarray(entries, dtype=bool)
    x2 = np.asarray(exits, dtype=bool)
    if e2.ndim != 2 or e2.shape[0] != n or x2.shape != e2.shape:
        raise DataError(
            f"entries {e2.shape} and exits {x2.shape} must both be (n_bars={n}, n_combos); "
            "one column per combination"
        )
    acc = nb.sweep_signals_nb(
        arr["open"], arr["high"], arr["low"], arr["close"], arr["volume"], arr["ts"],
        timeframe_to_ms(timeframe), np.ascontiguousarray(e2.T), np.ascontiguousarray(x2.T),
        cash0, frac, spec, sl, tp, tr, rule,
    )
    table = metrics_from_acc(acc, ts=arr["ts"], timeframe=timeframe, init_cash=cash0)
    if names is not None:
        table.index = pd.Index(names, name="combination")
    return table

