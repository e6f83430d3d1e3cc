"""Numba kernel of one linear perpetual driven by signed target weights: leverage,
funding and liquidation, the fast twin of the event engine.

The reference is the event engine running ``engine.vector.perp_api.PerpTargetStrategy``
(``ctx.target_percent`` at bar closes on one perpetual, after ``set_leverage`` and
``set_margin_mode``); ``tests/property/test_perp_parity.py`` proves they give the same
fills, equity, funding payments and liquidations. Every rule is the event engine's,
repeated line for line (the float operations in the same order), from the module that
states it:

- **Decision** (``engine.run.perp_step.PerpSteps.perp_target``): at bar ``i``'s close a
  target ``w`` (not NaN) sends a market order: ``w == 0`` a reduce-only close of the
  position (none when flat); else side ``sign(w * E / close - q)`` with ``E`` the equity,
  none when ``|w * E / close - q| * close <= 1e-9 * E``.
- **Fill** (``engine.sim.perp_funds``): at bar ``i + 1``'s open ``p`` (taker), sized at the
  fill by ``target_notional`` on the equity marked at ``p``; cancelled when the position
  already meets the target on the order's side; refused above the leverage's notional
  cap; cut to what the available balance pays (the same step-down), else cancelled.
- **Booking** (``engine.accounting.perps.book_fill``): one-way, realized PnL and fee
  into cash; initial margin ``|q| * entry / L``.
- **Liquidation** (``engine.run.perp_step``, ``engine.accounting.margin``): after the
  bar's fill, when the bar's low (long) or high (short) reaches Binance's liquidation
  price (isolated: the position's margin; cross: the cash); closes at that price with
  the clearance fee capped at what is left.
- **Funding** (``engine.run.funding_feed``): a payment at ``T`` is booked after the bars
  closing at or before ``T``: ``-q * mark * rate`` (mark NaN: the latest close).
- **Equity rows**: one per bar at its close, ``(cash + |q| * close) + (q * (close -
  entry) - |q| * close)``, as ``Engine.recorded_block`` adds them.
- **Margin events** (``perp_step``): the initial margin in use, when it changed, at each bar.

**Market rules** (``engine.sim.order_checks.check_order`` at submit, ``execution`` and
``perp_funds`` at the fill): a decision's order amount is rounded down to the lot step
and rejected below the minimum amount or, at the close, the minimum notional (its id is
used all the same; a reduce-only close is exempt from the minimum notional, as on
Binance); the threshold for trading at all is the minimum notional. At the
fill the target amount is rounded down to the lot, cancelled below the minimums at the
fill price, and a margin cut steps down one lot at a time and is cancelled below them.
Price ticks play no part: every order is a market order filled at an open, and the
liquidation price is not rounded (as in the event engine).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tradeloom.engine.vector.fills_nb import round_amount_nb

#: Fill kinds (column ``kind`` of the fill records).
KIND_TARGET, KIND_CLOSE, KIND_LIQUIDATION = 0, 1, 2
#: Event kinds (column 0 of the event records).
EV_FUNDING, EV_LIQUIDATION, EV_MARGIN = 0, 1, 2
#: Columns of a fill record: bar, side (+1/-1), price, amount, fee, kind, order id.
FILL_COLS = 7
#: Columns of an event record: kind, ts, then (funding) qty, mark, rate, amount /
#: (liquidation) qty, price, fee, fill index / (margin) used.
EVENT_COLS = 6
_SLACK = 1e-9


@njit(cache=True)
def book_fill_nb(qty, entry, signed, price):
    """``engine.accounting.perps.book_fill``."""
    if qty == 0.0 or (qty > 0.0) == (signed > 0.0):
        new = qty + signed
        return new, (abs(qty) * entry + abs(signed) * price) / abs(new), 0.0
    size = abs(signed)
    held = abs(qty)
    realized = (price - entry) * min(size, held) * (1.0 if qty > 0.0 else -1.0)
    left = size - held
    if abs(left) <= 1e-12 * size:
        return 0.0, 0.0, realized
    if left < 0.0:
        return qty + signed, entry, realized
    return math.copysign(left, signed), price, realized


@njit(cache=True)
def liquidation_price_nb(side, qty, entry, wallet, floor, cap, mmr, cum):
    """``engine.accounting.margin.liquidation_price`` with no other cross positions."""
    qty = abs(qty)
    if qty == 0.0:
        return 0.0 if side > 0 else math.inf
    base = wallet - 0.0 + 0.0 - side * qty * entry
    chosen = math.nan
    for k in range(floor.shape[0]):
        denominator = qty * mmr[k] - side * qty
        price = (base + cum[k]) / denominator
        notional = qty * price
        if price > 0.0 and floor[k] <= notional < cap[k]:
            chosen = price
            break
    if math.isnan(chosen):
        notional = abs(qty * entry)
        k = floor.shape[0] - 1
        for j in range(floor.shape[0]):
            if notional < cap[j]:
                k = j
                break
        chosen = (base + cum[k]) / (qty * mmr[k] - side * qty)
    if side > 0:
        return max(chosen, 0.0)
    return chosen if chosen > 0.0 else math.inf


@njit(cache=True)
def target_notional_nb(pct, equity, leverage, rate, current):
    """``engine.sim.perp_funds.target_notional``."""
    s = 1.0 if pct > 0.0 else -1.0
    budget = abs(pct) * equity / leverage
    u = s * current
    inv = 1.0 / leverage
    n = (budget + rate * u) / (inv + rate)
    if n < u:
        n = (budget - rate * u) / (inv - rate) if inv > rate else 0.0
    return n if n > 0.0 else 0.0


@njit(cache=True)
def _available(cash, qty, entry, signed, price, fee, leverage, cross):
    """``PerpAccount.perp_trial(...).available`` for one symbol marked at ``price``."""
    q, e = qty, entry
    if signed != 0.0:
        q, e, realized = book_fill_nb(qty, entry, signed, price)
        cash += realized - fee
    available = cash
    if q != 0.0:
        u = q * (price - e)
        available -= abs(q) * e / leverage
        if cross and u < 0.0:
            available += u
    return available, q


@njit(cache=True)
def _ok(available):
    return available >= -_SLACK * max(1.0, abs(available))


@njit(cache=True)
def _below(price, amount, min_amount, min_notional):
    """``order_checks.minimums_error`` is non-empty."""
    return amount <= 0.0 or amount < min_amount or price * amount < min_notional


@njit(cache=True)
def _lot_down(amount, lot, lp10):
    """``MarketSpec.round_amount`` of a non-negative amount; 0.0 at or below zero."""
    return round_amount_nb(amount, lot, lp10) if amount > 0.0 else 0.0


@njit(cache=True)
def _fund_nb(q, ts, rate, mark, last_close, cash, events, ne):
    """One funding payment (``engine.run.perp_step``): ``-q * mark * rate`` on a held
    position (mark not positive and finite: the latest close), recorded as an event;
    returns ``(cash, events written)``."""
    mk = mark if mark > 0.0 and math.isfinite(mark) else last_close
    if q != 0.0 and mk > 0.0:
        amount = -(q * mk * rate)
        cash = cash + amount
        events[ne, 0] = EV_FUNDING
        events[ne, 1] = ts
        events[ne, 2] = q
        events[ne, 3] = mk
        events[ne, 4] = rate
        events[ne, 5] = amount
        ne += 1
    return cash, ne


@njit(cache=True)
def margin_fill_nb(cash, q, e, side, want, p, rate, leverage, cross, max_notional, lot, lp10,
                   min_amount, min_notional):
    """How much of a market order of ``want`` on ``side`` (+1 buy, -1 sell) fills at ``p``
    on the position ``(q, e)`` (``engine.sim.perp_funds.PerpFunds._perp_affordable``): all
    of it when it only reduces; nothing above the leverage's notional cap; else all of it
    when the available balance pays, or the part it pays (stepped down one lot at a time,
    nothing below the minimums)."""
    fee = p * want * rate
    available, q1 = _available(cash, q, e, side * want, p, fee, leverage, cross)
    if abs(q1) <= abs(q) and (q1 == 0.0 or (q1 > 0.0) == (q > 0.0)):
        return want
    if abs(q1) * p > max_notional * (1.0 + 1e-12):
        return 0.0
    if _ok(available):
        return want
    closing = abs(q) if (q > 0.0) != (side > 0.0) else 0.0
    base_fee = p * closing * rate if closing else 0.0
    base_av, _ = _available(cash, q, e, side * closing, p, base_fee, leverage, cross)
    per_unit = p * (1.0 / leverage + rate)
    room = max(base_av, 0.0) / per_unit if per_unit > 0.0 else 0.0
    reduced = _lot_down(min(want, closing + room), lot, lp10)
    for _ in range(64):
        if reduced <= 0.0:
            break
        av, _ = _available(cash, q, e, side * reduced, p, p * reduced * rate, leverage, cross)
        if _ok(av):
            break
        if lot > 0.0:
            reduced = _lot_down(reduced - lot, lot, lp10)
        else:
            reduced = np.nextafter(reduced, 0.0)
    if reduced > 0.0 and not _below(p, reduced, min_amount, min_notional):
        return reduced
    return 0.0


@njit(cache=True)
def liquidation_nb(q, e, cash, leverage, cross, high, low, floor, cap, mmr, cum, liq_fee):
    """Whether the bar (``high``, ``low``) liquidates the position ``(q, e)`` (the only
    perpetual of the account, ``cash`` its cross wallet), at which price and with which
    clearance fee (``engine.run.perp_step``, ``PerpAccount.liquidation_fee``):
    ``(reached, price, fee)``."""
    side = 1.0 if q > 0.0 else -1.0
    if cross:
        lp = liquidation_price_nb(side, abs(q), e, cash, floor, cap, mmr, cum)
    else:
        lp = liquidation_price_nb(side, abs(q), e, abs(q) * e / leverage, floor, cap, mmr, cum)
    if q > 0.0:
        reached = lp > 0.0 and low <= lp
    else:
        reached = math.isfinite(lp) and high >= lp
    if not reached:
        return False, lp, 0.0
    full = liq_fee * abs(q) * lp
    realized = q * (lp - e)
    room = (abs(q) * e / leverage if not cross else cash) + realized
    return True, lp, min(full, max(room, 0.0))


@njit(cache=True)
def simulate_perp_nb(open_, high, low, close, close_ts, targets, leverage, cross, rate,
                     max_notional, lot, lp10, min_amount, min_notional, floor, cap, mmr, cum,
                     liq_fee, f_ts, f_rate, f_mark, cash0, fills, events, eq_cash, eq_exposure,
                     eq_equity, eq_fees):
    """Run the targets (module docstring). Writes ``fills`` (``(2n, FILL_COLS)``),
    ``events`` (``(m + 2n, EVENT_COLS)``) and the four equity columns; returns
    ``(n_fills, n_events, final position)``."""
    n = open_.shape[0]
    m = f_ts.shape[0]
    cash = cash0
    fees = 0.0
    q = 0.0
    e = 0.0
    nf = 0
    ne = 0
    fi = 0  # next funding event
    next_id = 1
    pending = 0  # 0 none, 1 target order, 2 close order
    p_pct = 0.0
    p_side = 0.0
    p_amount = 0.0
    p_id = 0
    margin_seen = 0.0
    last_close = math.nan
    for i in range(n):
        # funding between the previous close and this bar's close, booked before its fills
        while fi < m and f_ts[fi] < close_ts[i]:
            cash, ne = _fund_nb(q, f_ts[fi], f_rate[fi], f_mark[fi], last_close, cash, events, ne)
            fi += 1
        # the pending order fills at this bar's open
        if pending != 0:
            p = open_[i]
            fill = 0.0
            if pending == 2:
                if (q > 0.0 and p_side < 0.0) or (q < 0.0 and p_side > 0.0):
                    fill = min(p_amount, abs(q))
            else:
                eq_fill = cash
                if q != 0.0:
                    eq_fill += q * (p - e)
                nn = target_notional_nb(p_pct, eq_fill, leverage, rate, q * p)
                target = math.copysign(nn / p, p_pct)
                want = target - q if p_side > 0.0 else q - target
                want = _lot_down(want, lot, lp10)
                if want > 0.0 and not _below(p, want, min_amount, min_notional):
                    fill = margin_fill_nb(cash, q, e, p_side, want, p, rate, leverage, cross,
                                          max_notional, lot, lp10, min_amount,
                                          min_notional)
            if fill > 0.0:
                fee = p * fill * rate
                q, e, realized = book_fill_nb(q, e, p_side * fill, p)
                cash = cash + (realized - fee)
                fees += fee
                fills[nf, 0] = i
                fills[nf, 1] = p_side
                fills[nf, 2] = p
                fills[nf, 3] = fill
                fills[nf, 4] = fee
                fills[nf, 5] = KIND_CLOSE if pending == 2 else KIND_TARGET
                fills[nf, 6] = p_id
                nf += 1
            pending = 0
        c = close[i]
        last_close = c
        # liquidation on the bar's adverse extreme
        if q != 0.0:
            side = 1.0 if q > 0.0 else -1.0
            reached, lp, lfee = liquidation_nb(q, e, cash, leverage, cross, high[i], low[i],
                                               floor, cap, mmr, cum, liq_fee)
            if reached:
                lq = q
                oid = next_id
                next_id += 1
                events[ne, 0] = EV_LIQUIDATION
                events[ne, 1] = close_ts[i]
                events[ne, 2] = lq
                events[ne, 3] = lp
                events[ne, 4] = lfee
                events[ne, 5] = nf
                ne += 1
                q, e, realized = book_fill_nb(q, e, -q, lp)
                cash = cash + (realized - lfee)
                fees += lfee
                fills[nf, 0] = i
                fills[nf, 1] = -side
                fills[nf, 2] = lp
                fills[nf, 3] = abs(lq)
                fills[nf, 4] = lfee
                fills[nf, 5] = KIND_LIQUIDATION
                fills[nf, 6] = oid
                nf += 1
        used = abs(q) * e / leverage if q != 0.0 else 0.0
        if used != margin_seen:
            margin_seen = used
            events[ne, 0] = EV_MARGIN
            events[ne, 1] = close_ts[i]
            events[ne, 2] = used
            ne += 1
        # the decision at this bar's close
        w = targets[i]
        if not math.isnan(w):
            if w == 0.0:
                if q != 0.0:
                    oid = next_id
                    next_id += 1
                    a = _lot_down(abs(q), lot, lp10)
                    if not _below(c, a, min_amount, 0.0):  # reduce-only: no min notional
                        pending = 2
                        p_side = -1.0 if q > 0.0 else 1.0
                        p_amount = min(a, abs(q))
                        p_id = oid
            else:
                if q != 0.0:
                    equity = (cash + abs(q) * c) + (0.0 + (q * (c - e) - abs(q) * c))
                else:
                    equity = cash
                want_q = w * equity / c
                delta = want_q - q
                if not (abs(delta) * c <= max(min_notional, 1e-9 * equity)):
                    oid = next_id
                    next_id += 1
                    a = _lot_down(abs(delta), lot, lp10)
                    if not _below(c, a, min_amount, min_notional):
                        pending = 1
                        p_side = 1.0 if delta > 0.0 else -1.0
                        p_pct = w
                        p_id = oid
        # funding at exactly this close, after the bar
        while fi < m and f_ts[fi] == close_ts[i]:
            cash, ne = _fund_nb(q, f_ts[fi], f_rate[fi], f_mark[fi], last_close, cash, events, ne)
            fi += 1
        eq_cash[i] = cash
        eq_fees[i] = fees
        if q != 0.0:
            expo = abs(q) * c
            eq_exposure[i] = expo
            eq_equity[i] = (cash + expo) + (0.0 + (q * (c - e) - abs(q) * c))
        else:
            eq_exposure[i] = 0.0
            eq_equity[i] = cash + 0.0
    return nf, ne, q


__all__ = ["EVENT_COLS", "EV_FUNDING", "EV_LIQUIDATION", "EV_MARGIN", "FILL_COLS", "KIND_CLOSE",
           "KIND_LIQUIDATION", "KIND_TARGET", "book_fill_nb", "liquidation_nb",
           "liquidation_price_nb", "margin_fill_nb", "simulate_perp_nb", "target_notional_nb"]
