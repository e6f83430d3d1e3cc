"""Numba kernel of the funding carry: one spot market and one linear perpetual in one
account, the fast twin of the event engine running ``FundingCarry``.

The reference is ``research.strategies.funding_carry.FundingCarry`` in the event engine
(``tests/property/test_carry_parity.py`` proves the same fills, equity rows, funding
payments, liquidations, margin and dust events). Every rule is the event engine's,
repeated with the float operations in the same order, from the module that states it:

- **One account** (``engine.accounting.portfolio``, ``perps``): one cash balance pays the
  spot leg (``cash -= price * amount + fee``) and margins the short (``cash += realized
  - fee``); the spot holding is not collateral: the cross wallet of the short is the cash.
- **Event order** (``engine.run.events``): at each close time the two bars are stepped in
  symbol-name order (``spot_first``), each one matching its symbol's orders at its open,
  setting its mark, then (the perpetual's bar) the liquidation check, the margin event
  and the strategy's decision; funding at ``T`` comes after the bars closing at ``T``
  (the rate is the strategy's ``ctx.funding_rate`` from then on, paid or not).
- **Decision** (``FundingCarry.on_bar``, on the perpetual's bars, none while an order is
  working): flat, the latest rate ``>= enter`` and no refused entry: ``A = weight *
  equity / (spot mark * (1 + 1 / leverage))`` rounded down to the perpetual's then the
  spot's lot, a spot buy and a perpetual sell of ``A``; short and no spot held: close the
  short ("unwind"); short and the rate ``< exit``: sell the spot held, close the short.
  A spot buy the exchange rejects at submit stops the entries for the run.
- **Submit** (``engine.sim.order_checks.check_order``): the amount rounded down to the
  lot, rejected below the minimum amount or, at the symbol's last close, the minimum
  notional (a perpetual's reduce-only close is exempt from it); a close is capped at the
  position (``perp_funds._perp_reduce_only_error``). Every order takes an id.
- **Spot fills** (``engine.sim.funds``): at the open, taker; the fee in the quote or in
  the base (``MarketSpec.fee_side``); a buy paid from the free quote (the available
  balance while the short is open), cut to what it pays (stepped down one lot) or
  cancelled below the minimums; a sell of the holding (with a base fee: its amount plus
  the fee). A sell leaving an unsellable remainder makes it dust (``Portfolio.set_dust``:
  in equity, not a position), merged back by the next buy.
- **Perpetual fills, liquidation, funding**: ``perp_nb``'s helpers (``margin_fill_nb``,
  ``liquidation_nb``, ``book_fill_nb``), cross margin.
- **Equity** (``Portfolio.equity``, ``Engine.recorded_block``): ``(cash + exposure) +
  hidden``; exposure the spot holding and the short's ``|q|`` at their marks, hidden the
  short's ``q * (mark - entry) - |q| * mark`` and any dust at its mark.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tradeloom.engine.vector.perp_nb import (
    EV_FUNDING,
    EV_LIQUIDATION,
    EV_MARGIN,
    _available,
    _below,
    _fund_nb,
    _lot_down,
    book_fill_nb,
    liquidation_nb,
    margin_fill_nb,
)

#: Legs (column ``leg`` of the fill records).
LEG_SPOT, LEG_PERP = 0, 1
#: Order tags (column ``tag``): carry:spot, carry:perp, carry:exit, carry:unwind, liquidation.
TAG_SPOT, TAG_PERP, TAG_EXIT, TAG_UNWIND, TAG_LIQUIDATION = 0, 1, 2, 3, 4
#: A dust event (after ``perp_nb``'s funding, liquidation and margin events).
EV_DUST = 3
#: Columns of a fill record: bar, leg, side (+1/-1), price, amount, fee (quote value),
#: tag, order id, fee cost (in the fee's currency), 1.0 when the fee is in the base.
FILL_COLS = 10
#: Columns of an event record: kind, ts, then funding (qty, mark, rate, amount),
#: liquidation (qty, price, fee, fill index), margin (used), dust (amount, order id,
#: fill index).
EVENT_COLS = 6
#: Rows of ``params``: enter_rate, exit_rate, weight, leverage.
#: Rows of ``spot``: lot, 10 ** lot decimals, min amount, min notional, fee rate,
#: buy fee in base (1.0/0.0), sell fee in base (1.0/0.0).
#: Rows of ``perp``: lot, 10 ** lot decimals, min amount, min notional, fee rate,
#: the leverage's notional cap, liquidation fee rate.
_EPS = 1e-12


@njit(cache=True)
def submitted_nb(amount, last, lot, lp10, min_amount, min_notional, notional_checked):
    """``check_order`` of a market order: the amount rounded down to the lot, or 0.0
    when it is rejected (under the minimum amount, or the minimum notional at ``last``
    when ``notional_checked``)."""
    a = _lot_down(amount, lot, lp10)
    if a <= 0.0 or a < min_amount:
        return 0.0
    if notional_checked and last * a < min_notional:
        return 0.0
    return a


@njit(cache=True)
def _shortfall(price, amount, reduced, min_amount, min_notional):
    """``Funds._shortfall``: the payable part, or 0.0 below the minimums."""
    if reduced >= amount:
        return amount
    if reduced <= 0.0 or _below(price, reduced, min_amount, min_notional):
        return 0.0
    return reduced


@njit(cache=True)
def _step_down(amount, lot, lp10):
    """One lot less (one float step less without a lot), rounded down to the lot."""
    if lot > 0.0:
        return _lot_down(amount - lot, lot, lp10)
    return np.nextafter(amount, 0.0)


@njit(cache=True)
def spot_buy_nb(price, amount, free, lot, lp10, min_amount, min_notional, rate, in_base):
    """How much of a spot market buy fills (``Funds._affordable``): all of it when the
    free quote pays it (with the fee when the fee is in the quote), else the part it pays."""
    if in_base:
        if price * amount <= free:
            return amount
        reduced = _lot_down(free / price, lot, lp10)
        for _ in range(64):
            if reduced <= 0.0 or price * reduced <= free:
                break
            reduced = _step_down(reduced, lot, lp10)
        return _shortfall(price, amount, reduced, min_amount, min_notional)
    if price * amount + price * amount * rate <= free:
        return amount
    most = free / (price * (1.0 + rate)) if free > 0.0 and price > 0.0 else 0.0
    reduced = _lot_down(most, lot, lp10)
    for _ in range(64):
        if reduced <= 0.0 or price * reduced + price * reduced * rate <= free:
            break
        reduced = _step_down(reduced, lot, lp10)
    return _shortfall(price, amount, reduced, min_amount, min_notional)


@njit(cache=True)
def spot_sell_nb(price, amount, free_base, free_quote, lot, lp10, min_amount, min_notional,
                 rate, in_base):
    """How much of a spot market sell fills (``Funds._affordable``): at most the holding
    (with the fee when it is in the base), the whole holding when they differ by float
    noise; nothing when the fee exceeds the proceeds plus the free quote."""
    if in_base:
        if amount * (1.0 + rate) <= free_base:
            return amount
        reduced = _lot_down(free_base / (1.0 + rate), lot, lp10)
        return _shortfall(price, amount, reduced, min_amount, min_notional)
    if abs(amount - free_base) <= _EPS * amount:
        reduced = free_base
    elif amount <= free_base:
        reduced = amount
    else:
        reduced = _lot_down(free_base, lot, lp10)
        if 0.0 <= free_base - reduced <= _EPS * free_base:
            reduced = free_base
        elif reduced > free_base:
            if reduced - free_base <= _EPS * reduced:
                reduced = free_base
            else:
                reduced = _lot_down(reduced - lot, lot, lp10)
    fee = price * reduced * rate
    if reduced > 0.0 and free_quote + price * reduced - fee < 0.0:
        return 0.0
    if reduced >= amount:
        return reduced
    return _shortfall(price, amount, reduced, min_amount, min_notional)


@njit(cache=True)
def equity_nb(cash, held, dust, mark_s, q, e, mark_p):
    """``(equity, exposure)`` of the account (``Portfolio.equity``; module docstring)."""
    listed = False
    value = 0.0
    if held != 0.0 and not dust:
        value += held * mark_s
        listed = True
    if q != 0.0:
        value += abs(q) * mark_p
        listed = True
    hidden = False
    extra = 0.0
    if q != 0.0:
        extra += q * (mark_p - e) - abs(q) * mark_p
        hidden = True
    if dust and held != 0.0:
        extra += held * mark_s
        hidden = True
    exposure = value if listed else 0.0
    if hidden:
        return (cash + exposure) + extra, exposure
    if listed:
        return cash + exposure, exposure
    return cash, exposure


@njit(cache=True)
def _record(fills, nf, i, leg, side, price, amount, fee, tag, oid, cost, in_base):
    """Write fill record ``nf`` (``FILL_COLS``); returns ``nf + 1``."""
    fills[nf] = np.array((float(i), float(leg), side, price, amount, fee, float(tag), float(oid),
                          cost, 1.0 if in_base else 0.0))
    return nf + 1


@njit(cache=True)
def _event(events, ne, kind, ts, a, b, c, d):
    """Write event record ``ne`` (``EVENT_COLS``); returns ``ne + 1``."""
    events[ne] = np.array((float(kind), float(ts), float(a), float(b), float(c), float(d)))
    return ne + 1


@njit(cache=True)
def simulate_carry_nb(s_open, s_close, p_open, p_high, p_low, p_close, close_ts, spot_first,
                      params, spot, perp, floor, cap, mmr, cum, f_ts, f_rate, f_mark, cash0,
                      fills, events, eq_cash, eq_exposure, eq_equity, eq_fees):
    """Run the carry (module docstring). Writes ``fills`` (``(3n, FILL_COLS)``), ``events``
    (``(m + 3n, EVENT_COLS)``) and the four equity columns; returns ``(n_fills, n_events,
    spot holding, whether it is dust, perpetual position)``."""
    enter, exit_rate, weight, leverage = params[0], params[1], params[2], params[3]
    s_lot, s_lp10, s_min_a, s_min_n, s_rate = spot[0], spot[1], spot[2], spot[3], spot[4]
    s_buy_base, s_sell_base = spot[5] != 0.0, spot[6] != 0.0
    p_lot, p_lp10, p_min_a, p_min_n, p_rate = perp[0], perp[1], perp[2], perp[3], perp[4]
    max_notional, liq_fee = perp[5], perp[6]
    n = close_ts.shape[0]
    m = f_ts.shape[0]
    cash = cash0
    fees = 0.0
    held = 0.0  # spot holding (dust included)
    dust = False
    q = 0.0
    e = 0.0
    mark_s = math.nan
    mark_p = math.nan
    rate_now = math.nan
    refused = False
    next_id = 1
    margin_seen = 0.0
    # the working orders: side 0.0 = none
    s_side, s_amount, s_id, s_tag, s_bar = 0.0, 0.0, 0, 0, -1
    p_side, p_amount, p_id, p_tag, p_reduce = 0.0, 0.0, 0, 0, False
    nf = 0
    ne = 0
    fi = 0
    for i in range(n):
        while fi < m and f_ts[fi] < close_ts[i]:
            rate_now = f_rate[fi]
            cash, ne = _fund_nb(q, f_ts[fi], f_rate[fi], f_mark[fi], mark_p, cash, events, ne)
            fi += 1
        for k in range(2):
            if (k == 0) == spot_first:  # the spot bar
                if s_side != 0.0 and s_bar < i:  # placed at an earlier close
                    p = s_open[i]
                    free = cash
                    if q != 0.0:
                        free, _ = _available(cash, q, e, 0.0, mark_p, 0.0, leverage, True)
                    if s_side > 0.0:
                        a = spot_buy_nb(p, s_amount, free, s_lot, s_lp10, s_min_a, s_min_n,
                                        s_rate, s_buy_base)
                        if a > 0.0:
                            if s_buy_base:
                                cost = a * s_rate
                                fee = cost * p
                                after = cash - p * a
                                held = held + (a - cost)
                            else:
                                fee = p * a * s_rate
                                cost = fee
                                after = cash - (p * a + fee)
                                held = held + a
                            cash = after if after > 0.0 else 0.0
                            dust = False
                            fees += fee
                            nf = _record(fills, nf, i, LEG_SPOT, 1.0, p, a, fee, s_tag, s_id, cost,
                                         s_buy_base)
                    else:
                        a = spot_sell_nb(p, s_amount, held, free, s_lot, s_lp10, s_min_a, s_min_n,
                                         s_rate, s_sell_base)
                        if a > 0.0:
                            if s_sell_base:
                                cost = a * s_rate
                                fee = cost * p
                                held = max(held - (a + cost), 0.0)
                                cash = cash + p * a
                            else:
                                fee = p * a * s_rate
                                cost = fee
                                held = max(held - a, 0.0)
                                cash = cash + (p * a - fee)
                            fees += fee
                            nf = _record(fills, nf, i, LEG_SPOT, -1.0, p, a, fee, s_tag, s_id, cost,
                                         s_sell_base)
                            if held > 0.0:
                                r = _lot_down(held, s_lot, s_lp10)
                                if r <= 0.0 or r < s_min_a or r * p < s_min_n:
                                    dust = True
                                    ne = _event(events, ne, EV_DUST, close_ts[i], held, s_id,
                                                nf - 1, 0.0)
                    s_side = 0.0
                mark_s = s_close[i]
                continue
            # the perpetual's bar
            if p_side != 0.0:
                p = p_open[i]
                want = p_amount
                if p_reduce:
                    want = min(want, abs(q) if (q > 0.0) != (p_side > 0.0) and q != 0.0 else 0.0)
                if want > 0.0:
                    a = margin_fill_nb(cash, q, e, p_side, want, p, p_rate, leverage, True,
                                       max_notional, p_lot, p_lp10, p_min_a, p_min_n)
                    if a > 0.0:
                        fee = p * a * p_rate
                        q, e, realized = book_fill_nb(q, e, p_side * a, p)
                        cash = cash + (realized - fee)
                        fees += fee
                        nf = _record(fills, nf, i, LEG_PERP, p_side, p, a, fee, p_tag, p_id, fee,
                                     False)
                p_side = 0.0
            mark_p = p_close[i]
            if q != 0.0:
                reached, lp, lfee = liquidation_nb(q, e, cash, leverage, True, p_high[i], p_low[i],
                                                   floor, cap, mmr, cum, liq_fee)
                if reached:  # the whole short bought back at the price, the fee capped
                    ne = _event(events, ne, EV_LIQUIDATION, close_ts[i], q, lp, lfee, nf)
                    nf = _record(fills, nf, i, LEG_PERP, 1.0 if q < 0.0 else -1.0, lp, abs(q), lfee,
                                 TAG_LIQUIDATION, next_id, 0.0, False)
                    next_id += 1
                    q, e, realized = book_fill_nb(q, e, -q, lp)
                    cash = cash + (realized - lfee)
                    fees += lfee
            used = abs(q) * e / leverage if q != 0.0 else 0.0
            if used != margin_seen:
                margin_seen = used
                ne = _event(events, ne, EV_MARGIN, close_ts[i], used, 0.0, 0.0, 0.0)
            # the strategy's decision at the perpetual's close (none while an order works)
            if s_side != 0.0 or p_side != 0.0 or not mark_s > 0.0:
                continue
            position = held if not dust else 0.0
            if q == 0.0 and rate_now >= enter and not refused:
                equity, _ = equity_nb(cash, held, dust, mark_s, q, e, mark_p)
                amount = weight * equity / (mark_s * (1.0 + 1.0 / leverage))
                amount = _lot_down(_lot_down(amount, p_lot, p_lp10), s_lot, s_lp10)
                if amount > 0.0:
                    a = submitted_nb(amount, mark_s, s_lot, s_lp10, s_min_a, s_min_n, True)
                    if a > 0.0:
                        s_side, s_amount, s_id, s_tag, s_bar = 1.0, a, next_id, TAG_SPOT, i
                    else:
                        refused = True
                    next_id += 1
                    a = submitted_nb(amount, mark_p, p_lot, p_lp10, p_min_a, p_min_n, True)
                    if a > 0.0:
                        p_side, p_amount, p_id, p_tag, p_reduce = -1.0, a, next_id, TAG_PERP, False
                    next_id += 1
            elif q < 0.0 and (position <= 0.0 or rate_now < exit_rate):
                tag = TAG_UNWIND if position <= 0.0 else TAG_EXIT
                if position > 0.0:
                    a = submitted_nb(position, mark_s, s_lot, s_lp10, s_min_a, s_min_n, True)
                    if a > 0.0:
                        s_side, s_amount, s_id, s_tag, s_bar = -1.0, a, next_id, TAG_EXIT, i
                    next_id += 1
                a = min(submitted_nb(abs(q), mark_p, p_lot, p_lp10, p_min_a, p_min_n, False),
                        abs(q))
                if a > 0.0:
                    p_side, p_amount, p_id, p_tag, p_reduce = 1.0, a, next_id, tag, True
                next_id += 1
        while fi < m and f_ts[fi] == close_ts[i]:
            rate_now = f_rate[fi]
            cash, ne = _fund_nb(q, f_ts[fi], f_rate[fi], f_mark[fi], mark_p, cash, events, ne)
            fi += 1
        eq_cash[i] = cash
        eq_fees[i] = fees
        eq_equity[i], eq_exposure[i] = equity_nb(cash, held, dust, mark_s, q, e, mark_p)
    return nf, ne, held, dust, q


__all__ = ["EVENT_COLS", "EV_DUST", "EV_FUNDING", "EV_LIQUIDATION", "EV_MARGIN", "FILL_COLS",
           "LEG_PERP", "LEG_SPOT", "TAG_EXIT", "TAG_LIQUIDATION", "TAG_PERP", "TAG_SPOT",
           "TAG_UNWIND", "equity_nb", "simulate_carry_nb", "spot_buy_nb", "spot_sell_nb",
           "submitted_nb"]
