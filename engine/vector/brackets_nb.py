"""Numba kernel of the ``Brackets`` form: entries with a bracket, a take-profit ladder,
a trailing stop and a time stop, one symbol.

The reference is the event engine running ``brackets.BracketSignalStrategy`` (and the
rule strategies that share its order logic, ``brackets.BracketTrader``); the parity
tests in ``tests/property/test_bracket_parity.py`` prove both give the same fills,
trades and equity on every fee side. Every rule below is the simulated broker's, named
where it lives; fills are sized, priced and charged by ``fills_nb``:

- **Entry** at bar ``i``'s close when the position the strategy sees is flat (dust reads
  flat) and ``entries[i]`` with a size ``p``: without a stop-loss a
  ``ctx.target_percent(p)`` market buy (``kernels_nb.simulate_nb``'s rules); with one,
  ``ctx.bracket(quote=min(p * equity, cash))``: the same quote-sized market entry
  (refused under the minimum notional), a sell stop at ``round(close * (1 - stop_loss))``
  and limit take-profits at ``round(close * (1 + d_k))`` (prices rounded at submit,
  ``order_checks``).
- **Arming** (``execution._after_fill``): the legs arm when the entry fills and match
  from the next bar. Leg amounts follow ``groups.Group.sync`` over what the entry
  *received* (its fill less a fee taken from the coin bought): take-profit ``k`` is
  ``round_amount(f_k * received / sum(f))``, the last one takes the remainder (lot-rounded
  when the received amount is not the order's filled amount); the stop-loss covers
  ``received - exited`` (``Group.position_left``: none under one lot or the minimum
  amount, lot-rounded in the same case).
- **Matching a bar** (``execution._match_group``): the open legs reached in the bar
  (stop: at the open when it opened through, else at the stop; limit: at the open,
  taker on the legs' first bar and maker later, else at the limit, maker) are ordered
  by ``matching.path_order`` and the ``IntrabarRule``; each still-open leg sells
  ``min(remaining, position_left, round_amount(holding))`` (reduce-only: cancelled when
  that cap is under the minimums), a stop-loss fill cancels the take-profits,
  take-profits that close the position cancel the stop-loss. The trailing stop (a plain
  order submitted after the legs) is matched after them, against its level from earlier
  bars, then ratchets with the high.
- **Dust** (``run.loop._report_dust``): when the bar's last sell that left an unsellable
  remainder belongs to an exit (legs and stops are reduce-only; the target exit asked for
  the holding) and something is still held, the holding becomes dust: the strategy sees
  a flat position, the round trip ends at that fill and the dust joins the next one.
- **Callbacks** (``BracketTrader``): when the entry fills a trailing stop is placed for
  the position (best price = that bar's close); when a sell leaves the position at 0
  (or dust) every remaining order is cancelled; at a close with a position, ``exits[i]``
  or the time stop cancel every order and send ``ctx.target_percent(0)``.
- **Trades** (``trades.trade_rows``): a round trip spans every fill from flat to flat
  (or to dust); PnL, fees and return accumulate as there.

Fill records use ``fills_nb.FILL_DTYPE``; ``reason`` is ``REASON_ENTRY`` (a target
entry), ``REASON_BRACKET_ENTRY``, ``REASON_EXIT``, ``REASON_STOP_LOSS``,
``REASON_TRAILING`` or ``REASON_TP0 + k`` for take-profit ``k``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tradeloom.engine.vector.fills_nb import (
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
    S_TAKER,
    S_TICK,
    S_TICK_P10,
    _below_minimums,
    _mark_dust,
    _push_fill,
    asked_all_nb,
    buy_nb,
    is_dust_nb,
    order_amount_nb,
    round_amount_nb,
    round_price_nb,
    sell_fill_nb,
)
from tradeloom.engine.vector.kernels_nb import (
    N_ACC,
    REASON_ENTRY,
    REASON_EXIT,
    REASON_STOP_LOSS,
    REASON_TRAILING,
    RULE_ADVERSE_FIRST,
    RULE_FAVORABLE_FIRST,
    _path_time,
    _store_acc_nb,
)

REASON_BRACKET_ENTRY = 8
REASON_TP0 = 16  # take-profit k is REASON_TP0 + k

# trade accumulator slots (trades.trade_rows' per-trade list)
_T_POS, _T_ENOT, _T_EFEE, _T_XNOT, _T_XFEE = range(5)


@njit(cache=True)
def _close_trade_nb(tacc, pnl, cost):
    """``trades._finish``: count, wins, gross wins/losses, sums, best/worst."""
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
def _trade_buy_nb(tr, qty, price, fee, carry):
    """``trade_rows`` for a buy adding ``qty`` to the position (net of a base fee): opens
    or adds to the trade, a new one starting from the ``carry`` an earlier trade left as
    dust; returns True when it opened one."""
    opened = tr[_T_POS] == 0.0 and tr[_T_ENOT] == 0.0
    if opened:
        tr[_T_POS] = carry
    tr[_T_POS] += qty
    tr[_T_ENOT] += qty * price
    tr[_T_EFEE] += fee
    return opened


@njit(cache=True)
def _trade_finish_nb(tr, tacc):
    """``trades._finish`` of the open trade, then its slots cleared."""
    gross = tr[_T_XNOT] - tr[_T_ENOT]
    pnl = gross - (tr[_T_EFEE] + tr[_T_XFEE])
    _close_trade_nb(tacc, pnl, tr[_T_ENOT] + tr[_T_EFEE])
    for q in range(5):
        tr[q] = 0.0


@njit(cache=True)
def _trade_sell_nb(tr, tacc, qty, price, fee):
    """``trade_rows`` for a sell taking ``qty`` from the long (a base fee included);
    returns True when the trade closed."""
    position = tr[_T_POS]
    close_qty = min(qty, position)
    rest = qty - close_qty
    tol = _REL_TOL * max(qty, position)
    if rest <= tol:
        close_qty = qty
    close_fee = fee * (close_qty / qty)
    position -= close_qty
    tr[_T_POS] = position
    tr[_T_XNOT] += close_qty * price
    tr[_T_XFEE] += close_fee
    if abs(position) <= tol:
        _trade_finish_nb(tr, tacc)
        return True
    return False


@njit(cache=True)
def entry_order_amount_nb(o, quote, volume, spec):
    """The amount a quote-sized market entry's *order* records (``fills_nb.order_amount_nb``):
    with ``received`` what a bracket's legs are sized from."""
    return order_amount_nb(o, quote, volume, spec)


@njit(cache=True)
def _position_left(received, filled, leg_filled, spec):
    """``Group.position_left``: what the entry received minus every leg's filled (stop-loss
    first); none when under one lot or the minimum amount, lot-rounded when the received
    amount is not the entry's filled amount (a fee taken from the coin bought)."""
    exited = 0.0
    for b in range(leg_filled.shape[0]):
        exited += leg_filled[b]
    left = received - exited
    if not left > 1e-12 * max(1.0, received):
        return 0.0
    rounded = round_amount_nb(left, spec[S_LOT], spec[S_LOT_P10])
    if rounded <= 0.0 or rounded < spec[S_MIN_AMOUNT]:
        return 0.0
    return left if received == filled else rounded


@njit(cache=True)
def _sync_nb(received, filled, planned, weights, leg_open, leg_amt, leg_filled, spec):
    """``Group.sync``: take-profits to their share of what the entry received, stop-loss
    to the rest."""
    lot, lp10 = spec[S_LOT], spec[S_LOT_P10]
    k_n = weights.shape[0]
    factor = received / planned if planned > 0.0 else 0.0
    targets = np.empty(k_n)
    wsum = 0.0
    for k in range(k_n):
        targets[k] = round_amount_nb(weights[k] * factor, lot, lp10)
        wsum += weights[k]
    if k_n > 0 and wsum >= planned * (1.0 - 1e-9):
        head = 0.0
        for k in range(k_n - 1):
            head += targets[k]
        rest = received - head
        targets[k_n - 1] = rest if received == filled else round_amount_nb(rest, lot, lp10)
    for k in range(k_n):
        b = k + 1
        if leg_open[b]:
            want = max(targets[k], leg_filled[b])
            if leg_amt[b] != want:
                leg_amt[b] = want
    if leg_open[0]:
        leg_amt[0] = leg_filled[0] + _position_left(received, filled, leg_filled, spec)



@njit(cache=True)
def path_order_nb(rule, o, h, l, price, at_open, count):
    """``matching.path_order`` for a long's exits (adverse = down): the touch indices
    ``0..count-1`` in the order the price reached them (ties keep input order)."""
    d_low = np.inf
    d_high = np.inf
    for j in range(count):
        if not at_open[j]:
            if price[j] < o:
                d_low = min(d_low, o - price[j])
            elif price[j] > o:
                d_high = min(d_high, price[j] - o)
    if rule == RULE_ADVERSE_FIRST:
        first = l
    elif rule == RULE_FAVORABLE_FIRST:
        first = h
    elif d_low == d_high or d_low < d_high:
        first = l
    else:
        first = h
    keys = np.empty(count)
    order = np.empty(count, dtype=np.int64)
    for j in range(count):
        keys[j] = -1.0 if at_open[j] else _path_time(price[j], o, first)
        order[j] = j
    for a in range(1, count):  # insertion sort: stable, count <= 1 + MAX_TAKE_PROFITS
        j = a
        while j > 0 and keys[order[j - 1]] > keys[order[j]]:
            order[j - 1], order[j] = order[j], order[j - 1]
            j -= 1
    return order


@njit(cache=True)
def _book_sell(cash, pos, amt, price, fee, bfee, sell_base):
    """``Portfolio.apply_fill`` for a sell: ``(cash, holding, base sold)``; the holding pays
    ``amount + cost`` when the fee is in base, never below 0 (float overshoot)."""
    if sell_base:
        cash = cash + price * amt
        sold = amt + bfee
    else:
        cash = cash + (price * amt - fee)
        sold = amt
    left = pos - sold
    return cash, (0.0 if left < 0.0 else left), sold


@njit(cache=True)
def simulate_brackets_nb(open_, high, low, close, volume, ts, tf_ms, entries, exits, size,
                         init_cash, spec, sl_pct, trail_pct, tp_dist, tp_frac, time_stop, rule,
                         fixed_quote, record, eq_out, cash_out, expo_out, fees_out, acc):
    """One long-only run of the ``Brackets`` form (see the module docstring for every rule).

    ``size[i]`` is the entry's fraction of equity (NaN: no entry), or with
    ``fixed_quote > 0`` ``min(1, fixed_quote / equity)`` at the decision; ``sl_pct``,
    ``trail_pct`` <= 0 and ``time_stop`` <= 0 mean none; ``tp_dist``/``tp_frac`` hold
    the take-profit ladder (empty: none). When ``record`` the per-bar equity, cash,
    exposure and cumulative fees go to ``*_out`` and the fills are returned; the metric
    accumulators (``kernels_nb.ACC_FIELDS``) always go to ``acc``. Returns
    ``(fills, n_fills)``.
    """
    n = close.shape[0]
    k_n = tp_dist.shape[0]
    fills = np.empty(64 if record else 0, dtype=FILL_DTYPE)
    nf = 0
    tick, tp10 = spec[S_TICK], spec[S_TICK_P10]
    lot, lp10 = spec[S_LOT], spec[S_LOT_P10]
    min_amt, min_not = spec[S_MIN_AMOUNT], spec[S_MIN_NOTIONAL]
    taker, maker = spec[S_TAKER], spec[S_MAKER]
    buy_base, sell_base = spec[S_BUY_BASE] > 0.0, spec[S_SELL_BASE] > 0.0
    bracket = sl_pct > 0.0
    want_tr = trail_pct > 0.0
    weights = tp_frac.copy()
    planned = 0.0
    for k in range(k_n):
        planned += weights[k]
    cash = init_cash
    pos = 0.0  # the base holding (dust included)
    dust = False  # the holding is dust: the strategy sees a flat position
    pending = 0  # 1 target buy, 2 bracket entry, -1 target sell
    pend_q = 0.0
    dec_lvl = np.zeros(1 + k_n)  # levels of the pending bracket: stop-loss, take-profits
    # bracket legs: 0 = stop-loss, 1 + k = take-profit k
    leg_open = np.zeros(1 + k_n, dtype=np.bool_)
    leg_lvl = np.zeros(1 + k_n)
    leg_amt = np.zeros(1 + k_n)
    leg_filled = np.zeros(1 + k_n)
    legs_seen = False
    arm_bar = n
    entry_filled = 0.0  # the entry order's filled amount
    received = 0.0  # what it delivered (Group.received: less a base fee)
    # trailing stop
    tr_on = False
    tr_trig = False
    tr_best = 0.0
    tr_lvl = 0.0
    tr_amt = 0.0
    tr_filled = 0.0
    tr_from = n
    entry_bar = -1
    fees_cum = 0.0
    tr = np.zeros(5)
    carry = 0.0  # dust a closed trade left (trade_rows: it joins the next trade)
    in_trade = False
    # metric accumulators (as kernels_nb.simulate_nb)
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
    t_price = np.empty(1 + k_n)
    t_open = np.empty(1 + k_n, dtype=np.bool_)
    t_taker = np.empty(1 + k_n, dtype=np.bool_)
    t_leg = np.empty(1 + k_n, dtype=np.int64)
    for i in range(n):
        o = open_[i]
        h = high[i]
        lo = low[i]
        c = close[i]
        vol = volume[i]
        entered = False
        sold = False
        cand = -1  # the bar's last sell that left an unsellable remainder (a dust candidate)
        cand_all = False  # ... and its order asked for the whole holding
        # ---- 1. the broker matches what was placed at earlier closes
        if pending > 0:
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
                if _trade_buy_nb(tr, net, price, fee, carry):
                    in_trade = True
                    carry = 0.0
                entered = True
                reason = REASON_BRACKET_ENTRY if pending == 2 else REASON_ENTRY
                if record:
                    fills = _push_fill(fills, nf, i, 0, 1, price, amt, fee, reason, False,
                                       bfee if buy_base else fee, buy_base)
                nf += 1
                if pending == 2:  # the legs arm; they match from the next bar
                    want = entry_order_amount_nb(o, pend_q, vol, spec)
                    entry_filled = want if want - amt <= _EPS * max(1.0, want) else amt
                    received = amt - bfee if buy_base else amt
                    for b in range(1 + k_n):
                        leg_open[b] = True
                        leg_lvl[b] = dec_lvl[b]
                        leg_amt[b] = 1.0 if b == 0 else weights[b - 1]
                        leg_filled[b] = 0.0
                    legs_seen = False
                    arm_bar = i
                    _sync_nb(received, entry_filled, planned, weights, leg_open, leg_amt,
                             leg_filled, spec)
        elif pending == -1:
            amt, price, fee, bfee = sell_fill_nb(o, pend_q, pos, cash, vol, spec, taker, True, 0.0)
            if amt > 0.0:
                cash, pos, qty = _book_sell(cash, pos, amt, price, fee, bfee, sell_base)
                fees_cum += fee
                notional += price * amt
                sold = True
                if record:
                    fills = _push_fill(fills, nf, i, 0, -1, price, amt, fee, REASON_EXIT, False,
                                       bfee if sell_base else fee, sell_base)
                nf += 1
                if in_trade and _trade_sell_nb(tr, tacc, qty, price, fee):
                    in_trade = False
                if pos > 0.0 and is_dust_nb(pos, price, spec):
                    cand, cand_all = nf - 1, asked_all_nb(pend_q, amt, bfee, pos, spec)
        else:
            if i > arm_bar:
                # the bracket's legs, as one OCO group
                cnt = 0
                if leg_open[0]:
                    if o <= leg_lvl[0]:
                        t_price[cnt], t_open[cnt], t_taker[cnt], t_leg[cnt] = o, True, True, 0
                        cnt += 1
                    elif lo <= leg_lvl[0]:
                        t_price[cnt], t_open[cnt], t_taker[cnt], t_leg[cnt] = leg_lvl[0], False, True, 0
                        cnt += 1
                any_open = leg_open[0]
                for b in range(1, 1 + k_n):
                    if leg_open[b]:
                        any_open = True
                        if o >= leg_lvl[b]:
                            t_price[cnt], t_open[cnt], t_taker[cnt], t_leg[cnt] = o, True, not legs_seen, b
                            cnt += 1
                        elif h >= leg_lvl[b]:
                            t_price[cnt], t_open[cnt], t_taker[cnt], t_leg[cnt] = leg_lvl[b], False, False, b
                            cnt += 1
                if cnt > 0:
                    order = path_order_nb(rule, o, h, lo, t_price, t_open, cnt)
                    for q in range(cnt):
                        j = order[q]
                        b = t_leg[j]
                        if not leg_open[b]:
                            continue
                        want = leg_amt[b] - leg_filled[b]
                        want = min(want, _position_left(received, entry_filled, leg_filled, spec))
                        capped = round_amount_nb(pos, lot, lp10)  # reduce-only
                        if capped < want:
                            want = capped
                            if capped > 0.0 and _below_minimums(t_price[j], capped, spec):
                                leg_open[b] = False  # cancelled: what is held is dust
                                continue
                        if want <= 0.0:
                            if b > 0 and leg_amt[b] <= leg_filled[b]:
                                continue  # a take-profit sized 0 so far waits
                            leg_open[b] = False
                            continue
                        liq_taker = t_taker[j]
                        rate = taker if liq_taker else maker
                        lim = leg_lvl[b] if b > 0 else 0.0
                        amt, price, fee, bfee = sell_fill_nb(t_price[j], want, pos, cash, vol, spec,
                                                             rate, liq_taker, lim)
                        if amt <= 0.0:
                            leg_open[b] = False
                            continue
                        cash, pos, qty = _book_sell(cash, pos, amt, price, fee, bfee, sell_base)
                        fees_cum += fee
                        notional += price * amt
                        sold = True
                        reason = REASON_STOP_LOSS if b == 0 else REASON_TP0 + b - 1
                        if record:
                            fills = _push_fill(fills, nf, i, 0, -1, price, amt, fee, reason,
                                               not liq_taker, bfee if sell_base else fee, sell_base)
                        nf += 1
                        if in_trade and _trade_sell_nb(tr, tacc, qty, price, fee):
                            in_trade = False
                        if pos > 0.0 and is_dust_nb(pos, price, spec):
                            cand, cand_all = nf - 1, True
                        total = leg_amt[b]
                        leg_filled[b] += amt
                        if total - leg_filled[b] <= _EPS * max(1.0, total):
                            leg_filled[b] = total
                            leg_open[b] = False
                        elif amt != want:
                            leg_open[b] = False  # the broker cancels the unpayable rest
                        # execution._after_fill
                        if b == 0:
                            for bb in range(1, 1 + k_n):
                                leg_open[bb] = False
                        _sync_nb(received, entry_filled, planned, weights, leg_open, leg_amt,
                                 leg_filled, spec)
                        if b > 0 and leg_open[0] and _position_left(
                                received, entry_filled, leg_filled, spec) == 0.0:
                            leg_open[0] = False
                        for bb in range(1, 1 + k_n):
                            if leg_open[bb] and leg_filled[bb] > 0.0 and (
                                    leg_amt[bb] - leg_filled[bb] <= _EPS * max(1.0, leg_amt[bb])):
                                leg_filled[bb] = leg_amt[bb]
                                leg_open[bb] = False
                if any_open:
                    legs_seen = True
            if tr_on and i >= tr_from:
                ref = 0.0
                hit = False
                if tr_trig:
                    ref, hit = o, True
                elif o <= tr_lvl:
                    ref, hit = o, True
                elif lo <= tr_lvl:
                    ref, hit = tr_lvl, True
                if hit:
                    tr_trig = True
                    want = tr_amt - tr_filled
                    capped = round_amount_nb(pos, lot, lp10)  # reduce-only
                    if capped < want:
                        want = capped
                        if capped > 0.0 and _below_minimums(ref, capped, spec):
                            want = -1.0  # cancelled: what is held is dust
                    if want <= 0.0:
                        tr_on = False
                    else:
                        amt, price, fee, bfee = sell_fill_nb(ref, want, pos, cash, vol, spec, taker,
                                                             True, 0.0)
                        if amt <= 0.0:
                            tr_on = False
                        else:
                            cash, pos, qty = _book_sell(cash, pos, amt, price, fee, bfee, sell_base)
                            fees_cum += fee
                            notional += price * amt
                            sold = True
                            if record:
                                fills = _push_fill(fills, nf, i, 0, -1, price, amt, fee,
                                                   REASON_TRAILING, False,
                                                   bfee if sell_base else fee, sell_base)
                            nf += 1
                            if in_trade and _trade_sell_nb(tr, tacc, qty, price, fee):
                                in_trade = False
                            if pos > 0.0 and is_dust_nb(pos, price, spec):
                                cand, cand_all = nf - 1, True
                            tr_filled += amt
                            if tr_amt - tr_filled <= _EPS * max(1.0, tr_amt) or amt != want:
                                tr_on = False
                else:
                    best = max(tr_best, h)
                    if best != tr_best:
                        tr_best = best
                        tr_lvl = round_price_nb(best * (1.0 - trail_pct), tick, tp10)
        pending = 0
        # ---- 2. the loop confirms dust (loop._report_dust), then on_fill reacts
        if cand >= 0 and cand_all and pos > 0.0:
            dust = True
            if record:
                _mark_dust(fills, cand, pos)
            if in_trade:  # trade_rows: the round trip ends at the dust fill
                carry = tr[_T_POS]
                _trade_finish_nb(tr, tacc)
                in_trade = False
        seen = 0.0 if dust else pos  # ctx.position: dust reads flat
        if entered:
            entry_bar = i
            if want_tr:
                a = round_amount_nb(pos, lot, lp10)
                if not (a <= 0.0 or a < min_amt or c * a < min_not):
                    tr_on, tr_trig, tr_filled = True, False, 0.0
                    tr_amt = round_amount_nb(min(a, pos), lot, lp10)
                    tr_best = c
                    tr_lvl = round_price_nb(tr_best * (1.0 - trail_pct), tick, tp10)
                    tr_from = i + 1
        if sold and seen == 0.0:
            for b in range(1 + k_n):
                leg_open[b] = False
            tr_on = False
        # ---- 3. on_bar: the strategy decides at the close
        if seen == 0.0:
            if entries[i]:
                eq = cash + pos * c if dust else cash  # Portfolio.equity: dust counts
                pct = size[i]
                if pct == pct and fixed_quote > 0.0:
                    pct = min(1.0, fixed_quote / eq) if eq > 0.0 else np.nan
                if pct == pct:
                    if not bracket:
                        delta = pct * eq - seen * c
                        if delta > 0.0:
                            spend = min(delta, cash)
                            if spend > max(min_not, 1e-9 * eq):
                                pending, pend_q = 1, spend
                    else:
                        spend = min(pct * eq, cash)
                        if spend > 0.0 and not spend < min_not:
                            pending, pend_q = 2, spend
                            dec_lvl[0] = round_price_nb(c * (1.0 - sl_pct), tick, tp10)
                            for k in range(k_n):
                                dec_lvl[1 + k] = round_price_nb(c * (1.0 + tp_dist[k]), tick, tp10)
        else:
            ext = exits[i] or (time_stop > 0 and entry_bar >= 0 and i - entry_bar >= time_stop)
            if ext:
                for b in range(1 + k_n):
                    leg_open[b] = False
                tr_on = False
                if seen > 0.0 and not seen * c <= min_not:
                    a = round_amount_nb(seen, lot, lp10)
                    if not (a <= 0.0 or a < min_amt or c * a < min_not):
                        pending, pend_q = -1, a
        # ---- 4. the loop records the step
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
        if e != prev_e:
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


@njit(cache=True, parallel=True)
def sweep_brackets_nb(open_, high, low, close, volume, ts, tf_ms, entries, exits, size, init_cash,
                      spec, sl_pct, trail_pct, tp_dist, tp_frac, n_tp, time_stop, rule, fixed_quote):
    """Many ``Brackets`` runs in one call (``prange`` over combinations). ``entries``,
    ``exits`` and ``size`` are ``(n_combos, n_bars)``; ``sl_pct``, ``trail_pct``,
    ``n_tp`` and ``time_stop`` one value per combination; ``tp_dist``/``tp_frac``
    ``(n_combos, max_levels)`` with the first ``n_tp[j]`` used; ``fixed_quote`` one
    per combination (<= 0: size by ``size``). Returns the
    ``(n_combos, N_ACC)`` accumulators."""
    m = entries.shape[0]
    acc = np.empty((m, N_ACC))
    empty = np.empty(0)
    for j in prange(m):
        k = n_tp[j]
        simulate_brackets_nb(open_, high, low, close, volume, ts, tf_ms, entries[j], exits[j],
                             size[j], init_cash, spec, sl_pct[j], trail_pct[j],
                             tp_dist[j, :k].copy(), tp_frac[j, :k].copy(), time_stop[j], rule,
                             fixed_quote[j], False, empty, empty, empty, empty, acc[j])
    return acc
