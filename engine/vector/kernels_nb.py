"""Numba kernels of the fast path: plain arrays in, record arrays and accumulators out.

The reference every kernel must match is the event engine (``loop.Engine`` driving
``sim_broker.SimulatedBroker`` and ``portfolio.Portfolio``) running the strategies
``api.SignalStrategy`` / ``api.TargetWeightStrategy``; ``tests/property/test_kernel_parity.py``
proves they produce the same fills, trades and equity on every fee side. The Python API
is in ``api.py``; nothing here validates input (the API does). How one fill is sized,
priced and charged is in ``fills_nb`` (shared with ``brackets_nb`` and ``weights_nb``).

Rules mirrored, each from the module that states it:

- **Fill time** (``loop``, ``sim_broker``): decisions at bar ``i``'s close, market fills
  at bar ``i + 1``'s open; an order pending at the last bar expires unfilled.
- **Sizing** (``context.target_percent``, ``loop.Engine.target``): an increase is a
  market buy of ``quote = min(pct * equity - pos * mark, cash)``, not sent when
  ``<= max(min_notional, 1e-9 * equity)``; the broker sizes it at the fill price
  (``fills_nb.buy_nb``: ``quote / (price * (1 + fee))`` with the fee in quote,
  ``quote / price`` with the fee taken from the coin bought), refuses it under the
  minimums, and steps it down until payable. A target of 0 sells the position, lot-
  rounded, unless it is worth ``<= min_notional``.
- **Stops** (``matching``): a sell stop fills at the stop, or at the open when the bar
  opens through it (taker); a sell limit (take-profit) fills at the open when the bar
  opens through it (taker on its first bar, maker later) or at the limit when the high
  reaches it (maker). When both legs of the stop-loss/take-profit OCO are reached on
  both sides of the open, ``matching.path_order``'s ``IntrabarRule`` decides (codes
  ``RULE_*``). Protective orders are placed at the entry fill's bar close and match
  from the next bar. A trailing stop trails from the close of the entry bar, is checked
  against the level of earlier bars, then ratchets with the bar's high. Reduce-only
  stops sell at most the lot-rounded holding and are cancelled when that is under the
  minimums (``execution._execute``).
- **Fees, slippage, rounding** (``fees``, ``slippage``, ``market``): fee =
  ``price * amount * rate`` in quote, or ``amount * rate`` in base valued at the fill
  price, on the market's fee side; slippage adverse for takers only (fixed bps or volume
  participation); prices to the tick (nearest), amounts down to the lot step.
- **Accounting** (``portfolio``): buy ``cash -= price * amount + fee`` (a base fee:
  ``cash -= price * amount``, the holding grows by ``amount - cost``); sell ``cash +=
  price * amount - fee`` (a base fee: the holding pays ``amount + cost``); a negative
  overshoot becomes 0. What an exit leaves that no order could sell is **dust**
  (``fills_nb.is_dust_nb``): it stays in the balance and in equity (``(cash + exposure)
  + dust * close``), not in exposure, the strategy sees a flat position, the round trip
  ends at that fill (``trades``: the dust joins the next trade), and the next buy merges
  it back. A round trip also ends within ``trades.POSITION_RTOL`` of flat; equity
  ``cash + sum(position * close)`` summed in first-bought order.

``spec`` rows (one per symbol) are ``SPEC_FIELDS``; a zero tick or lot means "no
rounding" (``MarketSpec``'s ``None``). Recording kernels write the per-bar equity,
cash, exposure and cumulative fees (the rows of ``api.equity_block``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tradeloom.engine.indicators.series_nb import sma_nb
from tradeloom.engine.vector.fills_nb import (  # noqa: F401 (re-exported: the kernels' vocabulary)
    _EPS,
    _REL_TOL,
    FILL_DTYPE,
    S_BUY_BASE,
    S_LOT,
    S_LOT_P10,
    S_MAKER,
    S_MIN_AMOUNT,
    S_MIN_NOTIONAL,
    S_SELL_BASE,
    S_SLIP,
    S_SLIP_A,
    S_SLIP_B,
    S_SLIP_C,
    S_TAKER,
    S_TICK,
    S_TICK_P10,
    SLIP_FIXED_BPS,
    SLIP_NONE,
    SLIP_VOLUME,
    SPEC_FIELDS,
    _below_minimums,
    _mark_dust,
    _max_amount,
    _push,
    _push_fill,
    asked_all_nb,
    buy_nb,
    buy_quote_nb,
    is_dust_nb,
    round_amount_nb,
    round_price_nb,
    sell_fill_nb,
    sell_nb,
    slip_nb,
)

REASON_ENTRY, REASON_EXIT, REASON_STOP_LOSS, REASON_TAKE_PROFIT, REASON_TRAILING, REASON_REBALANCE = range(6)
RULE_ADVERSE_FIRST, RULE_FAVORABLE_FIRST, RULE_OPEN_DISTANCE = range(3)

#: Columns of the per-run metric accumulators (finished into metrics by ``fast``).
ACC_FIELDS = (
    "final_equity", "n_returns", "sum_r", "sum_r2", "down2_r", "max_drawdown",
    "dd_ms", "dd_bars", "n_closed", "n_open", "n_wins", "gross_wins", "gross_losses",
    "sum_pnl", "sum_ret", "best_pnl", "worst_pnl", "best_ret", "worst_ret",
    "exposure_bars", "traded_notional", "fees", "sum_equity", "n_fills",
)
N_ACC = len(ACC_FIELDS)


@njit(cache=True)
def _store_acc_nb(acc, prev_e, n_returns, sum_r, sum_r2, down2, max_dd, dd_ms, dd_bars, tacc,
                  in_trade, expo_bars, notional, fees_cum, sum_e, nf):
    """Write one run's running totals into ``acc`` in the ``ACC_FIELDS`` layout.

    The one place the layout is written, so every kernel that reports totals (and
    ``fast.metrics_from_acc`` that reads them) agrees on it.
    """
    acc[0] = prev_e
    acc[1] = n_returns
    acc[2] = sum_r
    acc[3] = sum_r2
    acc[4] = down2
    acc[5] = max_dd
    acc[6] = dd_ms
    acc[7] = dd_bars
    acc[8] = tacc[0]
    acc[9] = 1.0 if in_trade else 0.0
    for q in range(1, 10):
        acc[9 + q] = tacc[q]
    acc[19] = expo_bars
    acc[20] = notional
    acc[21] = fees_cum
    acc[22] = sum_e
    acc[23] = nf


@njit(cache=True)
def _close_trade(tacc, pnl, cost):
    """A round trip closed (``trades.Trade``: ``pnl = gross - fees``, ``return_pct = pnl /
    (entry_notional + entry_fees)``): count, wins, gross wins/losses, sums, best/worst."""
    ret = pnl / cost if cost > 0.0 else np.nan
    tacc[0] += 1.0
    if pnl > 0.0:
        tacc[1] += 1.0
        tacc[2] += pnl
    elif pnl < 0.0:
        tacc[3] += -pnl
    tacc[4] += pnl
    tacc[5] += ret
    tacc[6] = max(tacc[6], pnl)
    tacc[7] = min(tacc[7], pnl)
    tacc[8] = max(tacc[8], ret)
    tacc[9] = min(tacc[9], ret)


@njit(cache=True)
def _path_time(price, o, first):
    """``matching.path_time`` along ``o -> first -> second``."""
    if min(o, first) <= price <= max(o, first):
        return abs(price - o)
    return abs(first - o) + abs(price - first)


@njit(cache=True)
def tp_first_nb(rule, o, h, l, tp_price, tp_open, sl_price, sl_open):
    """``matching.path_order`` for the OCO [take-profit limit, stop-loss stop] of a long:
    True when the take-profit (index 0) trades first."""
    if rule == RULE_ADVERSE_FIRST:
        first = l
    elif rule == RULE_FAVORABLE_FIRST:
        first = h
    else:
        d_low = o - sl_price if (not sl_open and sl_price < o) else np.inf
        if not tp_open and tp_price < o:
            d_low = min(d_low, o - tp_price)
        d_high = tp_price - o if (not tp_open and tp_price > o) else np.inf
        if not sl_open and sl_price > o:
            d_high = min(d_high, sl_price - o)
        if d_low == d_high or d_low < d_high:
            first = l
        else:
            first = h
    k_tp = -1.0 if tp_open else _path_time(tp_price, o, first)
    k_sl = -1.0 if sl_open else _path_time(sl_price, o, first)
    return k_tp <= k_sl



# ----------------------------------------------------------------------------- one run


@njit(cache=True)
def simulate_nb(open_, high, low, close, volume, ts, tf_ms, mode, entries, exits, sma_f, sma_s,
                init_cash, frac, spec, sl_pct, tp_pct, trail_pct, rule, record, col,
                eq_out, cash_out, expo_out, fees_out, acc):
    """One long-only spot run of a signal strategy; the reference is the event engine
    running ``api.SignalStrategy`` (see the module docstring for every rule).

    ``mode`` 0 reads ``entries``/``exits``; mode 1 trades the crossover of two SMAs given
    as arrays (``indicators_nb.sma_nb``, the engine's SMA bit for bit), ``d = sma_f - sma_s``:
    up when ``d_prev <= 0 < d``, down when ``d_prev >= 0 > d`` (``research.strategies.SmaCross``).
    Entries act when the position the strategy sees is flat (dust reads flat), exits when
    long. ``sl_pct``/``tp_pct``/``trail_pct`` <= 0 mean "none". When ``record`` the
    per-bar equity, cash, exposure and cumulative fees go to ``*_out`` and the fills are
    returned; the metric accumulators (``ACC_FIELDS``) always go to ``acc``. Returns
    ``(fills, n_fills)``.
    """
    n = close.shape[0]
    fills = np.empty(64 if record else 0, dtype=FILL_DTYPE)
    nf = 0
    tick, tp10 = spec[S_TICK], spec[S_TICK_P10]
    lot, lp10 = spec[S_LOT], spec[S_LOT_P10]
    min_amt, min_not = spec[S_MIN_AMOUNT], spec[S_MIN_NOTIONAL]
    taker, maker = spec[S_TAKER], spec[S_MAKER]
    buy_base, sell_base = spec[S_BUY_BASE] > 0.0, spec[S_SELL_BASE] > 0.0
    want_sl, want_tp, want_tr = sl_pct > 0.0, tp_pct > 0.0, trail_pct > 0.0
    cash = init_cash
    pos = 0.0  # the base holding (dust included)
    dust = False  # the holding is dust: the strategy sees a flat position
    pending = 0  # +1 buy quote, -1 sell amount
    pend_q = 0.0
    sl_on = False
    oco = False  # the stop-loss and take-profit are one OCO (ctx.oco), not lone orders
    tp_on = False
    tr_on = False
    tp_seen = False
    sl_lvl = 0.0
    tp_lvl = 0.0
    tr_best = 0.0
    tr_lvl = 0.0
    stop_amt = 0.0
    stops_from = n + 1
    fees_cum = 0.0
    # trade accumulators (trades.trade_rows: one entry fill, then the exit fills)
    en_not = 0.0
    en_fee = 0.0
    ex_not = 0.0
    ex_fee = 0.0
    in_trade = False
    # metric accumulators
    prev_e = init_cash
    nr = 0
    sum_r = 0.0
    sum_r2 = 0.0
    down2 = 0.0
    peak = init_cash
    max_dd = 0.0
    pk_val = init_cash
    pk_k = 0
    pk_t = ts[0] if n > 0 else 0
    under = False
    dd_ms = 0
    dd_bars = 0
    tacc = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -np.inf, np.inf, -np.inf, np.inf])
    expo_bars = 0
    notional = 0.0
    sum_e = init_cash
    prev_d = np.nan
    for i in range(n):
        o = open_[i]
        h = high[i]
        lo = low[i]
        c = close[i]
        vol = volume[i]
        # ---- 1. the broker matches what was placed at earlier closes
        if pending != 0 or ((sl_on or tp_on or tr_on) and i >= stops_from):  # else nothing to match
            s_amt = 0.0  # a sell fill of this bar: amount, price, fee, base fee, ...
            s_px = 0.0
            s_fee = 0.0
            s_bfee = 0.0
            s_reason = REASON_EXIT
            s_maker = False
            s_order = 0.0  # the sell order's amount
            s_all = False  # reduce-only: an exit whatever it leaves (loop._asked_for_all)
            if pending == 1:
                amt, price, fee, bfee = buy_nb(o, pend_q, cash, vol, spec)
                if amt > 0.0:
                    if buy_base:
                        cash = cash - price * amt
                        net = amt - bfee
                    else:
                        cash = cash - (price * amt + fee)
                        net = amt
                    pos = pos + net  # a dust holding merges back into the position
                    dust = False
                    fees_cum += fee
                    notional += price * amt
                    en_not = net * price
                    en_fee = fee
                    ex_not = 0.0
                    ex_fee = 0.0
                    in_trade = True
                    if record:
                        fills = _push_fill(fills, nf, i, col, 1, price, amt, fee, REASON_ENTRY,
                                           False, bfee if buy_base else fee, buy_base)
                    nf += 1
                    # protective orders, placed in on_fill at this bar's close
                    if want_sl or want_tp:
                        sl_lvl = round_price_nb(price * (1.0 - sl_pct), tick, tp10)
                        tp_lvl = round_price_nb(price * (1.0 + tp_pct), tick, tp10)
                        a = round_amount_nb(pos, lot, lp10)
                        bad_amt = a <= 0.0 or a < min_amt
                        ok_sl = want_sl and not bad_amt and not sl_lvl * a < min_not
                        ok_tp = want_tp and not bad_amt and not tp_lvl * a < min_not
                        if want_sl and want_tp and not (ok_sl and ok_tp):
                            ok_sl = False  # an OCO is rejected whole when one leg is
                            ok_tp = False
                        sl_on, tp_on, tp_seen, stop_amt = ok_sl, ok_tp, False, a
                        oco = ok_sl and ok_tp
                    if want_tr:
                        a = round_amount_nb(pos, lot, lp10)
                        if not (a <= 0.0 or a < min_amt or c * a < min_not):
                            tr_on = True
                            stop_amt = round_amount_nb(min(a, pos), lot, lp10)
                            tr_best = c
                            tr_lvl = round_price_nb(tr_best * (1.0 - trail_pct), tick, tp10)
                    stops_from = i + 1
            elif pending == -1:
                s_amt, s_px, s_fee, s_bfee = sell_fill_nb(o, pend_q, pos, cash, vol, spec, taker,
                                                          True, 0.0)
                s_order = pend_q
            elif (sl_on or tp_on or tr_on) and i >= stops_from:
                reason = -1
                ref = 0.0
                liq_taker = True
                lim = 0.0
                sl_hit = False
                sl_px = 0.0
                tp_hit = False
                tp_px = 0.0
                tp_taker = False
                if tr_on:
                    if o <= tr_lvl:
                        reason, ref = REASON_TRAILING, o
                    elif lo <= tr_lvl:
                        reason, ref = REASON_TRAILING, tr_lvl
                    else:
                        best = max(tr_best, h)
                        if best != tr_best:
                            tr_best = best
                            tr_lvl = round_price_nb(best * (1.0 - trail_pct), tick, tp10)
                else:
                    sl_open = False
                    if sl_on:
                        if o <= sl_lvl:
                            sl_hit, sl_open, sl_px = True, True, o
                        elif lo <= sl_lvl:
                            sl_hit, sl_px = True, sl_lvl
                    tp_open = False
                    if tp_on:
                        if o >= tp_lvl:
                            tp_hit, tp_open, tp_px = True, True, o
                        elif h >= tp_lvl:
                            tp_hit, tp_px = True, tp_lvl
                    use_tp = tp_hit and (
                        not sl_hit or tp_first_nb(rule, o, h, lo, tp_px, tp_open, sl_px, sl_open)
                    )
                    tp_taker = tp_open and not tp_seen
                    if use_tp:
                        reason, ref, lim = REASON_TAKE_PROFIT, tp_px, tp_lvl
                        liq_taker = tp_taker
                    elif sl_hit:
                        reason, ref = REASON_STOP_LOSS, sl_px
                    tp_seen = True
                if reason >= 0:
                    want = stop_amt
                    s_all = reason != REASON_TAKE_PROFIT and not oco  # a lone stop: reduce-only
                    if s_all:
                        capped = round_amount_nb(pos, lot, lp10)
                        if capped < want:
                            want = capped
                            if capped > 0.0 and _below_minimums(ref, capped, spec):
                                want = 0.0  # cancelled: what is held is dust
                    rate = taker if liq_taker else maker
                    s_amt, s_px, s_fee, s_bfee = sell_fill_nb(ref, want, pos, cash, vol, spec, rate,
                                                              liq_taker, lim)
                    s_reason, s_maker, s_order = reason, not liq_taker, stop_amt
                    if s_amt > 0.0 or not oco:
                        sl_on = tp_on = tr_on = False
                    elif reason == REASON_STOP_LOSS:
                        # an OCO leg the broker cancelled (unpayable, or under the minimums
                        # once shrunk to the holding): its sibling keeps working and trades
                        # next in this bar when reached (execution._match_group)
                        sl_on = False
                        if tp_hit:
                            s_amt, s_px, s_fee, s_bfee = sell_fill_nb(
                                tp_px, stop_amt, pos, cash, vol, spec,
                                taker if tp_taker else maker, tp_taker, tp_lvl)
                            s_reason, s_maker = REASON_TAKE_PROFIT, not tp_taker
                            tp_on = False
                    else:
                        tp_on = False
                        if sl_hit:
                            s_amt, s_px, s_fee, s_bfee = sell_fill_nb(
                                sl_px, stop_amt, pos, cash, vol, spec, taker, True, 0.0)
                            s_reason, s_maker = REASON_STOP_LOSS, False
                            sl_on = False
            if s_amt > 0.0:
                if sell_base:
                    cash = cash + s_px * s_amt
                    sold = s_amt + s_bfee
                else:
                    cash = cash + (s_px * s_amt - s_fee)
                    sold = s_amt
                was = pos
                left = pos - sold
                pos = 0.0 if left < 0.0 else left
                fees_cum += s_fee
                notional += s_px * s_amt
                if record:
                    fills = _push_fill(fills, nf, i, col, -1, s_px, s_amt, s_fee, s_reason, s_maker,
                                       s_bfee if sell_base else s_fee, sell_base)
                nf += 1
                ex_not += sold * s_px
                ex_fee += s_fee
                # portfolio._check_dust, confirmed by loop._report_dust for an exit
                dust = pos > 0.0 and is_dust_nb(pos, s_px, spec) and (
                    s_all or asked_all_nb(s_order, s_amt, s_bfee, pos, spec))
                if dust and record:
                    _mark_dust(fills, nf - 1, pos)
                if in_trade and (pos <= _REL_TOL * max(sold, was) or dust):  # trades.POSITION_RTOL
                    in_trade = False
                    _close_trade(tacc, (ex_not - en_not) - (en_fee + ex_fee), en_not + en_fee)
        pending = 0
        # ---- 2. the strategy decides at the close
        if mode == 0:
            ent = entries[i]
            ext = exits[i]
        else:
            d = sma_f[i] - sma_s[i]
            ent = prev_d <= 0.0 and 0.0 < d
            ext = prev_d >= 0.0 and 0.0 > d
            prev_d = d
        seen = 0.0 if dust else pos  # ctx.position: dust reads flat
        if seen == 0.0:
            if ent:
                eq = cash + pos * c if dust else cash  # Portfolio.equity: dust counts
                delta = frac * eq - seen * c
                if delta > 0.0:
                    spend = min(delta, cash)
                    if spend > max(min_not, 1e-9 * eq):
                        pending, pend_q = 1, spend
        elif ext:
            sl_on = tp_on = tr_on = False  # the strategy cancels its protective orders
            if seen > 0.0 and not seen * c <= min_not:
                a = round_amount_nb(seen, lot, lp10)
                if not (a <= 0.0 or a < min_amt or c * a < min_not):
                    pending, pend_q = -1, a
        # ---- 3. the loop records the step
        if dust:  # (cash + exposure) + the dust's value (loop.recorded_block)
            expo = 0.0
            e = (cash + expo) + pos * c
        else:
            expo = pos * c if pos != 0.0 else 0.0
            e = cash + expo
        if record:
            eq_out[i] = e
            cash_out[i] = cash
            expo_out[i] = expo
            fees_out[i] = fees_cum
        nr += 1
        sum_e += e
        if e != prev_e:  # flat and no fill: r == 0 and the drawdown is unchanged
            r = e / prev_e - 1.0
            sum_r += r
            sum_r2 += r * r
            if r < 0.0:
                down2 += r * r
            prev_e = e
            if e > peak:
                peak = e
            elif e < peak:
                dd = 1.0 - e / peak
                max_dd = max(max_dd, dd)
        t = ts[i] + tf_ms
        if e >= pk_val:
            if under:
                dd_ms = max(dd_ms, t - pk_t)
                dd_bars = max(dd_bars, i + 1 - pk_k)
                under = False
            pk_val, pk_k, pk_t = e, i + 1, t
        else:
            under = True
        if expo > 0.0:
            expo_bars += 1
    if under and n > 0:
        dd_ms = max(dd_ms, ts[n - 1] + tf_ms - pk_t)
        dd_bars = max(dd_bars, n - pk_k)
    _store_acc_nb(acc, prev_e, nr, sum_r, sum_r2, down2, max_dd, dd_ms, dd_bars, tacc, in_trade,
                  expo_bars, notional, fees_cum, sum_e, nf)
    return fills, nf


# ----------------------------------------------------------------------------- sweeps


@njit(cache=True, parallel=True)
def sma_table_nb(close, periods):
    """``indicators_nb.sma_nb`` of ``close`` for each period, ``(n_periods, n_bars)``."""
    out = np.empty((periods.shape[0], close.shape[0]))
    for j in prange(periods.shape[0]):
        out[j] = sma_nb(close, periods[j])
    return out



@njit(cache=True)
def _sma_run_nb(open_, close, volume, ts, tf_ms, sma_f, sma_s, init_cash, frac, spec, acc):
    """``simulate_nb(mode=1)`` without protective orders and without recording, bit for bit
    (the sweep's common case). The same fills and accounting; the per-bar bookkeeping is
    leaner with identical results: a flat stretch (nothing held, nothing pending, equity
    unchanged) only accumulates equity and watches for the next up-cross; the drawdown
    depth is only recomputed for a new low under the current peak (``1 - e / peak`` is
    monotone in ``e``); the last-peak time is read from ``ts`` only when it moves. A dust
    holding is no flat stretch: its value moves the equity every bar."""
    n = close.shape[0]
    lot, lp10 = spec[S_LOT], spec[S_LOT_P10]
    min_amt, min_not = spec[S_MIN_AMOUNT], spec[S_MIN_NOTIONAL]
    taker = spec[S_TAKER]
    buy_base, sell_base = spec[S_BUY_BASE] > 0.0, spec[S_SELL_BASE] > 0.0
    cash = init_cash
    pos = 0.0
    dust = False
    pending = 0
    pend_q = 0.0
    fees_cum = 0.0
    en_not = 0.0
    en_fee = 0.0
    ex_not = 0.0
    ex_fee = 0.0
    in_trade = False
    nf = 0
    prev_e = init_cash
    sum_r = 0.0
    sum_r2 = 0.0
    down2 = 0.0
    peak = init_cash  # == simulate_nb's pk_val (both track the running max of e)
    low = init_cash  # lowest e seen under the current peak
    max_dd = 0.0
    pk_k = 0
    pk_t = ts[0] if n > 0 else 0
    under = False
    dd_ms = 0
    dd_bars = 0
    tacc = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -np.inf, np.inf, -np.inf, np.inf])
    expo_bars = 0
    notional = 0.0
    sum_e = init_cash
    prev_d = np.nan
    i = 0
    while i < n:
        # ---- 1. the broker matches what was placed at the previous close
        if pending == 1:
            amt, price, fee, bfee = buy_nb(open_[i], pend_q, cash, volume[i], spec)
            if amt > 0.0:
                if buy_base:
                    cash = cash - price * amt
                    net = amt - bfee
                else:
                    cash = cash - (price * amt + fee)
                    net = amt
                pos = pos + net
                dust = False
                fees_cum += fee
                notional += price * amt
                en_not = net * price
                en_fee = fee
                ex_not = 0.0
                ex_fee = 0.0
                in_trade = True
                nf += 1
        elif pending == -1:
            amt, price, fee, bfee = sell_fill_nb(open_[i], pend_q, pos, cash, volume[i], spec,
                                                 taker, True, 0.0)
            if amt > 0.0:
                if sell_base:
                    cash = cash + price * amt
                    sold = amt + bfee
                else:
                    cash = cash + (price * amt - fee)
                    sold = amt
                was = pos
                left = pos - sold
                pos = 0.0 if left < 0.0 else left
                fees_cum += fee
                notional += price * amt
                nf += 1
                ex_not += sold * price
                ex_fee += fee
                dust = pos > 0.0 and is_dust_nb(pos, price, spec) and asked_all_nb(
                    pend_q, amt, bfee, pos, spec)
                if in_trade and (pos <= _REL_TOL * max(sold, was) or dust):
                    in_trade = False
                    _close_trade(tacc, (ex_not - en_not) - (en_fee + ex_fee), en_not + en_fee)
        pending = 0
        # ---- 2. the strategy decides at the close
        c = close[i]
        d = sma_f[i] - sma_s[i]
        ent = prev_d <= 0.0 and 0.0 < d
        ext = prev_d >= 0.0 and 0.0 > d
        prev_d = d
        seen = 0.0 if dust else pos
        if seen == 0.0:
            if ent:
                eq = cash + pos * c if dust else cash
                delta = frac * eq - seen * c
                if delta > 0.0:
                    spend = min(delta, cash)
                    if spend > max(min_not, 1e-9 * eq):
                        pending, pend_q = 1, spend
        elif ext and seen > 0.0 and not seen * c <= min_not:
            a = round_amount_nb(seen, lot, lp10)
            if not (a <= 0.0 or a < min_amt or c * a < min_not):
                pending, pend_q = -1, a
        # ---- 3. the step's metrics
        if dust:
            expo = 0.0
            e = (cash + expo) + pos * c
        else:
            expo = pos * c if pos != 0.0 else 0.0
            e = cash + expo
        sum_e += e
        if e != prev_e:
            r = e / prev_e - 1.0
            sum_r += r
            r2 = r * r
            sum_r2 += r2
            down2 += r2 if r < 0.0 else 0.0  # branch-free: down2 >= +0.0, so + 0.0 is exact
            prev_e = e
        if e >= peak:
            t = ts[i] + tf_ms
            if under:
                dd_ms = max(dd_ms, t - pk_t)
                dd_bars = max(dd_bars, i + 1 - pk_k)
                under = False
            peak, low, pk_k, pk_t = e, e, i + 1, t
        else:
            under = True
            if e < low:
                low = e
                dd = 1.0 - e / peak
                max_dd = max(max_dd, dd)
        if expo > 0.0:
            expo_bars += 1
        i += 1
        if pos == 0.0 and pending == 0 and e == prev_e:
            # flat stretch: each bar adds e and a zero return until the next up-cross
            start = i
            while i < n:
                d = sma_f[i] - sma_s[i]
                if prev_d <= 0.0 and 0.0 < d:
                    break
                prev_d = d
                sum_e += e
                i += 1
            if i > start and e >= peak:
                pk_k, pk_t = i, ts[i - 1] + tf_ms
    if under and n > 0:
        dd_ms = max(dd_ms, ts[n - 1] + tf_ms - pk_t)
        dd_bars = max(dd_bars, n - pk_k)
    _store_acc_nb(acc, prev_e, n, sum_r, sum_r2, down2, max_dd, dd_ms, dd_bars, tacc, in_trade,
                  expo_bars, notional, fees_cum, sum_e, nf)


@njit(cache=True, parallel=True)
def sweep_sma_nb(open_, high, low, close, volume, ts, tf_ms, fast, slow, init_cash, frac, spec,
                 sl_pct, tp_pct, trail_pct, rule, equity_out):
    """Many SMA-crossover runs in one call (``prange`` over combinations), each exactly
    ``simulate_nb(mode=1)``. Each distinct period's SMA is computed once (``sma_nb``;
    memory: 8 bytes per bar per distinct period). Returns the ``(n_combos, N_ACC)``
    accumulators; fills are not kept. ``equity_out`` is ``(n_combos, n_bars)`` to keep
    every equity curve, or ``(n_combos, 0)`` (the API's default) to keep none. Without
    kept curves or protective orders each run is ``_sma_run_nb`` (the same results, a
    leaner loop), combinations interleaved across the threads."""
    m = fast.shape[0]
    n = close.shape[0]
    periods = np.unique(np.concatenate((fast, slow)))
    smas = sma_table_nb(close, periods)
    fi = np.searchsorted(periods, fast)
    si = np.searchsorted(periods, slow)
    acc = np.empty((m, N_ACC))
    keep = equity_out.shape[1] == n
    dummy_b = np.zeros(0, dtype=np.bool_)
    if not keep and sl_pct <= 0.0 and tp_pct <= 0.0 and trail_pct <= 0.0:
        half = (m + 1) // 2
        for k in prange(m):
            j = 2 * k if k < half else 2 * (k - half) + 1  # interleave: neighbours differ in cost
            _sma_run_nb(open_, close, volume, ts, tf_ms, smas[fi[j]], smas[si[j]], init_cash, frac,
                        spec, acc[j])
        return acc
    for j in prange(m):
        cash_o = np.empty(n if keep else 0)
        expo_o = np.empty(n if keep else 0)
        fees_o = np.empty(n if keep else 0)
        eq_o = equity_out[j] if keep else np.empty(0)
        simulate_nb(open_, high, low, close, volume, ts, tf_ms, 1, dummy_b, dummy_b,
                    smas[fi[j]], smas[si[j]], init_cash, frac, spec, sl_pct, tp_pct, trail_pct,
                    rule, keep, 0, eq_o, cash_o, expo_o, fees_o, acc[j])
    return acc


@njit(cache=True, parallel=True)
def sweep_signals_nb(open_, high, low, close, volume, ts, tf_ms, entries, exits, init_cash, frac,
                     spec, sl_pct, tp_pct, trail_pct, rule):
    """Many signal runs in one call: ``entries``/``exits`` are ``(n_combos, n_bars)``
    (one row per combination); returns the ``(n_combos, N_ACC)`` accumulators."""
    m = entries.shape[0]
    acc = np.empty((m, N_ACC))
    empty = np.empty(0)
    for j in prange(m):
        simulate_nb(open_, high, low, close, volume, ts, tf_ms, 0, entries[j], exits[j], empty, empty,
                    init_cash, frac, spec, sl_pct, tp_pct, trail_pct, rule, False, 0,
                    empty, empty, empty, empty, acc[j])
    return acc


# ----------------------------------------------------------------------------- the floor


@njit(cache=True)
def floor_crossover_nb(open_, close, fast, slow, init_cash, fee):
    """The benchmark floor: the least an SMA crossover backtest can do (cumulative-sum
    SMAs, all-in at the next open, proportional fee, no rounding, no checks)."""
    n = close.shape[0]
    cs = np.empty(n + 1)
    cs[0] = 0.0
    for i in range(n):
        cs[i + 1] = cs[i] + close[i]
    cash = init_cash
    pos = 0.0
    pend = 0
    prev_d = np.nan
    for i in range(n):
        if pend == 1:
            pos = cash / (open_[i] * (1.0 + fee))
            cash = 0.0
        elif pend == -1:
            cash = pos * open_[i] * (1.0 - fee)
            pos = 0.0
        pend = 0
        if i + 1 >= slow:
            d = (cs[i + 1] - cs[i + 1 - fast]) / fast - (cs[i + 1] - cs[i + 1 - slow]) / slow
            if prev_d <= 0.0 < d and pos == 0.0:
                pend = 1
            elif prev_d >= 0.0 > d and pos > 0.0:
                pend = -1
            prev_d = d
    return cash + pos * close[n - 1]


@njit(cache=True, parallel=True)
def floor_sweep_nb(open_, close, fast, slow, init_cash, fee):
    """The floor for a sweep: ``floor_crossover_nb`` per combination, ``prange``."""
    m = fast.shape[0]
    out = np.empty(m)
    for j in prange(m):
        out[j] = floor_crossover_nb(open_, close, fast[j], slow[j], init_cash, fee)
    return out
