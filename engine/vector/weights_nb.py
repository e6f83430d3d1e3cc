"""Numba kernel of the ``TargetWeights`` form: rebalancing several symbols of one account.

The reference is the event engine running ``api.TargetWeightStrategy``;
``tests/property/test_kernel_parity.py`` proves both give the same fills, trades and
equity on every fee side. Fills are sized, priced and charged by ``fills_nb`` (the
simulated broker's arithmetic); the account follows ``accounting.portfolio``:

- **Holdings and their order.** ``Portfolio._held`` lists the positions in the order they
  were first bought (again after being flat or dust) and ``_hidden`` the dust holdings in
  the order they became dust; equity sums them in those orders:
  ``(cash + sum(held * close)) + sum(dust * close)`` (``Portfolio.equity``), exposure the
  first sum only.
- **Dust.** A sell that leaves a holding no order could sell, from an order that asked for
  the whole position (``run.loop._asked_for_all``: a target of 0, or a reduce that reached
  the lot-rounded holding), turns it into dust: the strategy sees 0 for it, it stays in
  equity, and the next buy of the symbol merges it back.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tradeloom.engine.vector.fills_nb import (
    FILL_DTYPE,
    S_BUY_BASE,
    S_LOT,
    S_LOT_P10,
    S_MIN_AMOUNT,
    S_MIN_NOTIONAL,
    S_SELL_BASE,
    S_TAKER,
    _mark_dust,
    _push_fill,
    asked_all_nb,
    buy_nb,
    is_dust_nb,
    round_amount_nb,
    sell_fill_nb,
)
from tradeloom.engine.vector.kernels_nb import REASON_REBALANCE

__all__ = ["simulate_weights_nb"]


@njit(cache=True)
def _drop(order, count, k):
    """Remove ``k`` from the first ``count`` entries of ``order`` (kept in order); the new count."""
    for j in range(count):
        if order[j] == k:
            for jj in range(j, count - 1):
                order[jj] = order[jj + 1]
            return count - 1
    return count


@njit(cache=True)
def _value(order, count, pos, mark):
    """``Portfolio.position_value``/``hidden_value``: ``sum(amount * mark)`` in list order."""
    value = 0.0
    for j in range(count):
        value += pos[order[j]] * mark[order[j]]
    return value


@njit(cache=True)
def simulate_weights_nb(open_, close, volume, weights, init_cash, spec, eq_out, cash_out, expo_out,
                        fees_out):
    """Target-weight rebalancing over ``K`` symbols; arrays are ``(n_bars, K)``, columns in
    the engine's symbol order (sorted names). After the last symbol's bar of step ``i`` the
    reference calls ``ctx.target_percent(symbol, weights[i, k])`` for each symbol in order
    (NaN: no call). At step ``i + 1`` each symbol's order fills at its own open, symbol by
    symbol (the engine's bar order), so a buy is never funded by a sale of the same step:
    it was capped at the cash free at the decision. Writes the per-step equity, cash,
    exposure and cumulative fees; returns ``(fills, n_fills)``."""
    n, k_n = close.shape
    fills = np.empty(64, dtype=FILL_DTYPE)
    nf = 0
    cash = init_cash
    fees_cum = 0.0
    pos = np.zeros(k_n)  # base holdings, dust included
    dust = np.zeros(k_n, dtype=np.bool_)
    mark = np.zeros(k_n)
    pending = np.zeros(k_n, dtype=np.int64)
    pend_q = np.zeros(k_n)
    held = np.empty(k_n, dtype=np.int64)  # portfolio._held: first-bought order
    nheld = 0
    hidden = np.empty(k_n, dtype=np.int64)  # portfolio._hidden: the dust holdings
    nhidden = 0
    for i in range(n):
        for k in range(k_n):
            sp = spec[k]
            if pending[k] == 1:
                amt, price, fee, bfee = buy_nb(open_[i, k], pend_q[k], cash, volume[i, k], sp)
                if amt > 0.0:
                    base = sp[S_BUY_BASE] > 0.0
                    if base:
                        cash = cash - price * amt
                        net = amt - bfee
                    else:
                        cash = cash - (price * amt + fee)
                        net = amt
                    if dust[k]:  # the dust merges back: a position again
                        nhidden = _drop(hidden, nhidden, k)
                        dust[k] = False
                        held[nheld] = k
                        nheld += 1
                    elif pos[k] == 0.0:
                        held[nheld] = k
                        nheld += 1
                    pos[k] = pos[k] + net
                    fees_cum += fee
                    fills = _push_fill(fills, nf, i, k, 1, price, amt, fee, REASON_REBALANCE,
                                       False, bfee if base else fee, base)
                    nf += 1
            elif pending[k] == -1:
                amt, price, fee, bfee = sell_fill_nb(open_[i, k], pend_q[k], pos[k], cash,
                                                     volume[i, k], sp, sp[S_TAKER], True, 0.0)
                if amt > 0.0:
                    base = sp[S_SELL_BASE] > 0.0
                    if base:
                        cash = cash + price * amt
                        sold = amt + bfee
                    else:
                        cash = cash + (price * amt - fee)
                        sold = amt
                    left = pos[k] - sold
                    pos[k] = 0.0 if left < 0.0 else left  # portfolio: positive dust is kept
                    fees_cum += fee
                    fills = _push_fill(fills, nf, i, k, -1, price, amt, fee, REASON_REBALANCE,
                                       False, bfee if base else fee, base)
                    nf += 1
                    if pos[k] == 0.0:
                        nheld = _drop(held, nheld, k)
                    elif is_dust_nb(pos[k], price, sp) and asked_all_nb(pend_q[k], amt, bfee,
                                                                        pos[k], sp):
                        nheld = _drop(held, nheld, k)
                        dust[k] = True
                        hidden[nhidden] = k
                        nhidden += 1
                        _mark_dust(fills, nf - 1, pos[k])
            pending[k] = 0
            mark[k] = close[i, k]
        value = _value(held, nheld, pos, mark) if nheld > 0 else 0.0
        if nhidden > 0:
            equity = (cash + value) + _value(hidden, nhidden, pos, mark)
        else:
            equity = cash + value if nheld > 0 else cash
        for k in range(k_n):
            pct = weights[i, k]
            if pct != pct:
                continue
            sp = spec[k]
            min_not = sp[S_MIN_NOTIONAL]
            m_k = mark[k]
            p_k = 0.0 if dust[k] else pos[k]  # ctx.position: dust reads flat
            delta = pct * equity - p_k * m_k
            floor = max(min_not, 1e-9 * equity)
            if delta > 0.0:
                spend = min(delta, cash)
                if spend > floor:
                    pending[k], pend_q[k] = 1, spend
                continue
            sell = p_k if pct == 0.0 else min(-delta / m_k, p_k)
            if sell <= 0.0 or sell * m_k <= (min_not if pct == 0.0 else floor):
                continue
            a = round_amount_nb(sell, sp[S_LOT], sp[S_LOT_P10])
            if a <= 0.0 or a < sp[S_MIN_AMOUNT] or m_k * a < min_not:
                continue
            pending[k], pend_q[k] = -1, a
        eq_out[i] = equity
        cash_out[i] = cash
        expo_out[i] = value
        fees_out[i] = fees_cum
    return fills, nf
