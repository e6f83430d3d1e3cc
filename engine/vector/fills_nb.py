"""Numba fill primitives of the fast path: how one market buy or one sell is sized,
priced, charged and booked, on every fee side, with the simulated broker's arithmetic.

The run kernels (``kernels_nb``, ``brackets_nb``) call these for every fill; each one
names the event-engine code it repeats, expression for expression, so results agree
bit for bit:

- **Quote-sized buys** (``engine.sim.execution._execute`` with ``quote_amount``,
  ``funds._max_buy``/``_affordable``): with the fee in the quote currency
  (``quote``/``give`` markets) the amount is ``round_amount(quote / (price * (1 +
  rate)))`` and the fill costs ``price * amount + fee``; with the fee in the coin
  received (``get``/``base`` markets: Binance, OKX, Bybit spot) it is
  ``round_amount(quote / price)``, the fill costs the notional and delivers ``amount -
  amount * rate`` (``funds._charge``: the fee cost is ``amount * rate`` base, valued
  ``cost * price``). Either way stepped down until payable, refused under the minimums.
- **Sells** (``funds._affordable``): with the fee in quote (``quote``/``get``) at most
  the holding (float noise sells exactly the holding), proceeds ``price * amount -
  fee``; with the fee in base (``give``/``base``) the holding must cover ``amount *
  (1 + rate)``, else the sell shrinks to ``round_amount(holding / (1 + rate))`` (the rest
  cancelled), proceeds the notional, the holding pays ``amount + cost``.
- **Dust** (``accounting.portfolio._check_dust``, ``run.loop._asked_for_all``): what a
  sell leaves that no order could sell (``MarketSpec.is_dust`` at the fill price) is dust
  when the order asked for the whole holding; the strategy then sees a flat position.

``spec`` rows are ``SPEC_FIELDS`` (one per symbol, built by ``api.spec_row``): a zero
tick or lot means "no rounding"; ``buy_base``/``sell_base`` are 1.0 when a buy (a sell)
pays its fee in the base currency (``MarketSpec.fee_side``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

FILL_DTYPE = np.dtype(
    [
        ("bar", np.int64),  # bar index of the fill (its open time is the fill ts)
        ("col", np.int64),  # symbol column
        ("side", np.int8),  # +1 buy, -1 sell
        ("price", np.float64),
        ("amount", np.float64),
        ("fee", np.float64),  # the fee's value in the quote currency (Fill.fee)
        ("reason", np.int8),  # REASON_*
        ("maker", np.bool_),  # liquidity: True maker, False taker
        ("fee_cost", np.float64),  # what was charged, in the fee's currency (Fill.fee_cost)
        ("fee_base", np.bool_),  # True: charged in the base currency, else in the quote
        ("dust", np.bool_),  # the engine reported dust after this fill (a ``dust`` event)
        ("dust_amount", np.float64),  # the holding the dust event reported
    ],
    align=True,
)

SPEC_FIELDS = (
    "tick", "tick_p10", "lot", "lot_p10", "min_amount", "min_notional",
    "taker", "maker", "slip_model", "slip_a", "slip_b", "slip_c", "buy_base", "sell_base",
)
(S_TICK, S_TICK_P10, S_LOT, S_LOT_P10, S_MIN_AMOUNT, S_MIN_NOTIONAL,
 S_TAKER, S_MAKER, S_SLIP, S_SLIP_A, S_SLIP_B, S_SLIP_C, S_BUY_BASE, S_SELL_BASE) = range(14)

SLIP_NONE, SLIP_FIXED_BPS, SLIP_VOLUME = range(3)

_REL_TOL = 1e-9  # trades.POSITION_RTOL
_EPS = 1e-12  # sim_exec._EPS
_ASKED_RTOL = 1e-9  # run.loop._asked_for_all: the order asked for the lot-rounded holding


# ----------------------------------------------------------------------------- rounding


@njit(cache=True)
def round_price_nb(price, tick, p10):
    """``MarketSpec.round_price``: nearest tick, then the decimal grid of the tick."""
    if tick <= 0.0:
        return price
    v = np.rint(price / tick) * tick
    return np.rint(v * p10) / p10


@njit(cache=True)
def round_amount_nb(amount, lot, p10):
    """``MarketSpec.round_amount``: truncate a (positive) amount to the lot step."""
    if lot <= 0.0:
        return amount
    steps = np.floor(abs(amount) / lot + 1e-9)
    value = np.rint(steps * lot * p10) / p10
    return value if value != 0.0 else 0.0


@njit(cache=True)
def slip_nb(sign, price, amount, volume, spec):
    """``slippage`` models for a taker fill (adverse: buys pay more, sells get less)."""
    model = spec[S_SLIP]
    if model == SLIP_FIXED_BPS:
        return price * (1.0 + sign * spec[S_SLIP_A] * 1e-4)
    if model == SLIP_VOLUME:
        part = amount / volume if volume > 0.0 else 1.0
        impact = min(spec[S_SLIP_C], spec[S_SLIP_A] * part ** spec[S_SLIP_B])
        return price * (1.0 + sign * impact * 1e-4)
    return price


@njit(cache=True)
def _max_amount(budget, price, rate):
    """``MakerTakerFees.max_amount``."""
    if budget <= 0.0 or price <= 0.0:
        return 0.0
    return budget / (price * (1.0 + rate))


@njit(cache=True)
def _max_buy(budget, price, rate, base_fee):
    """``funds._max_buy``: ``max_amount`` with the fee in quote, ``budget / price`` when
    it comes out of the coin received."""
    if not base_fee:
        return _max_amount(budget, price, rate)
    return budget / price if budget > 0.0 and price > 0.0 else 0.0


@njit(cache=True)
def _below_minimums(price, amount, spec):
    """``order_checks.minimums_error`` is non-empty."""
    return amount <= 0.0 or amount < spec[S_MIN_AMOUNT] or price * amount < spec[S_MIN_NOTIONAL]


# ----------------------------------------------------------------------------- buys


@njit(cache=True)
def buy_quote_nb(o, quote, cash, volume, spec):
    """A market buy spending ``quote`` (fee included) at the open ``o``, its fee in the
    quote currency: ``sim_exec._execute`` with ``quote_sized`` and ``_affordable``.
    Returns ``(amount, price, fee)``; amount 0 means the broker cancels it (under the
    minimums or unpayable)."""
    taker, lot, lp10 = spec[S_TAKER], spec[S_LOT], spec[S_LOT_P10]
    want = round_amount_nb(_max_amount(quote, o, taker), lot, lp10)
    if want <= 0.0:
        return 0.0, 0.0, 0.0
    price = slip_nb(1.0, o, want, volume, spec)
    want = round_amount_nb(_max_amount(quote, price, taker), lot, lp10)
    if _below_minimums(price, want, spec):
        return 0.0, 0.0, 0.0
    amount = want
    if not price * amount + price * amount * taker <= cash:
        reduced = round_amount_nb(_max_amount(cash, price, taker), lot, lp10)
        for _ in range(64):  # float noise: step down until truly payable
            if reduced <= 0.0 or price * reduced + price * reduced * taker <= cash:
                break
            if lot <= 0.0:
                reduced = np.nextafter(reduced, 0.0)
            else:
                reduced = round_amount_nb(reduced - lot, lot, lp10)
        if reduced <= 0.0 or _below_minimums(price, reduced, spec):
            return 0.0, 0.0, 0.0
        amount = reduced
    return amount, price, price * amount * taker


@njit(cache=True)
def _buy_base_nb(o, quote, cash, volume, spec):
    """``buy_quote_nb`` on a market charging the buy's fee in the coin received: sized
    ``quote / price``, payable when the notional is (``funds._affordable``'s base-fee
    branch), the fee ``amount * rate`` base valued at the fill price (``funds._charge``).
    Returns ``(amount, price, fee value, fee cost in base)``."""
    taker, lot, lp10 = spec[S_TAKER], spec[S_LOT], spec[S_LOT_P10]
    want = round_amount_nb(_max_buy(quote, o, taker, True), lot, lp10)
    if want <= 0.0:
        return 0.0, 0.0, 0.0, 0.0
    price = slip_nb(1.0, o, want, volume, spec)
    want = round_amount_nb(_max_buy(quote, price, taker, True), lot, lp10)
    if _below_minimums(price, want, spec):
        return 0.0, 0.0, 0.0, 0.0
    amount = want
    if not price * amount <= cash:
        reduced = round_amount_nb(cash / price, lot, lp10)
        for _ in range(64):  # float noise: step down until truly payable
            if reduced <= 0.0 or price * reduced <= cash:
                break
            if lot <= 0.0:
                reduced = np.nextafter(reduced, 0.0)
            else:
                reduced = round_amount_nb(reduced - lot, lot, lp10)
        if reduced < amount:  # funds._shortfall
            if reduced <= 0.0 or _below_minimums(price, reduced, spec):
                return 0.0, 0.0, 0.0, 0.0
            amount = reduced
    cost = amount * taker
    return amount, price, cost * price, cost


@njit(cache=True)
def buy_nb(o, quote, cash, volume, spec):
    """A quote-sized market buy at the open ``o`` on the market's fee side (see the
    module docstring). Returns ``(amount, price, fee, base_fee)``: ``fee`` the value in
    quote, ``base_fee`` the cost taken from the coin received (0.0 for a quote fee);
    amount 0 when the broker cancels it."""
    if spec[S_BUY_BASE] > 0.0:
        return _buy_base_nb(o, quote, cash, volume, spec)
    amount, price, fee = buy_quote_nb(o, quote, cash, volume, spec)
    return amount, price, fee, 0.0


@njit(cache=True)
def order_amount_nb(o, quote, volume, spec):
    """The amount a quote-sized market buy's *order* records (``execution._execute``:
    ``order.amount = want``, and a fill within 1e-12 of it marks the order filled in
    full), even when the fill itself was stepped down by a few ulps to be payable."""
    taker, lot, lp10 = spec[S_TAKER], spec[S_LOT], spec[S_LOT_P10]
    base_fee = spec[S_BUY_BASE] > 0.0
    want = round_amount_nb(_max_buy(quote, o, taker, base_fee), lot, lp10)
    if want <= 0.0:
        return 0.0
    price = slip_nb(1.0, o, want, volume, spec)
    return round_amount_nb(_max_buy(quote, price, taker, base_fee), lot, lp10)


# ----------------------------------------------------------------------------- sells


@njit(cache=True)
def _sell_price(ref, want, volume, spec, taker, limit):
    """The fill price of a sell at reference ``ref``: slippage for a taker, capped at the
    limit of a limit order (``limit > 0``)."""
    price = ref
    if taker:
        price = slip_nb(-1.0, ref, want, volume, spec)
        if limit > 0.0:
            price = max(price, limit)
    return price


@njit(cache=True)
def sell_nb(ref, want, pos, cash, volume, spec, rate, taker, limit):
    """A sell of ``want`` at reference price ``ref``, its fee in the quote currency
    (``sim_exec._execute`` + ``_affordable``).

    ``taker`` applies slippage (capped at ``limit`` when ``limit > 0``, limit orders);
    ``rate`` is the fee rate of the liquidity. Returns ``(amount, price, fee)``, amount 0
    when cancelled."""
    if want <= 0.0:
        return 0.0, 0.0, 0.0
    price = _sell_price(ref, want, volume, spec, taker, limit)
    lot, lp10 = spec[S_LOT], spec[S_LOT_P10]
    if abs(want - pos) <= _EPS * want:
        reduced = pos  # float noise either way: sell exactly the holding (sim_exec)
    elif want <= pos:
        reduced = want
    else:
        reduced = round_amount_nb(pos, lot, lp10)
        if pos - reduced <= _EPS * pos:
            reduced = pos  # the lot rounding only lost float noise: all of it (sim_exec)
        elif reduced > pos:  # float noise of the whole holding: sold exactly (sim_exec)
            if reduced - pos <= _EPS * reduced:
                reduced = pos
            else:
                reduced = max(0.0, round_amount_nb(reduced - lot, lot, lp10))
    fee = price * reduced * rate
    if reduced > 0.0 and cash + price * reduced - fee < 0.0:
        return 0.0, 0.0, 0.0
    if reduced < want and (reduced <= 0.0 or _below_minimums(price, reduced, spec)):  # funds._shortfall: only a real shortfall
        return 0.0, 0.0, 0.0
    return reduced, price, price * reduced * rate


@njit(cache=True)
def _sell_base_nb(ref, want, pos, volume, spec, rate, taker, limit):
    """``sell_nb`` on a market charging the sell's fee in the base currency: the holding
    must cover ``want * (1 + rate)``, else the sell shrinks to what it covers (the rest
    cancelled) or is cancelled under the minimums (``funds._affordable``/``_shortfall``).
    Returns ``(amount, price, fee value, fee cost in base)``."""
    if want <= 0.0:
        return 0.0, 0.0, 0.0, 0.0
    price = _sell_price(ref, want, volume, spec, taker, limit)
    amount = want
    if not want * (1.0 + rate) <= pos:
        reduced = round_amount_nb(pos / (1.0 + rate), spec[S_LOT], spec[S_LOT_P10])
        if reduced < want:
            if reduced <= 0.0 or _below_minimums(price, reduced, spec):
                return 0.0, 0.0, 0.0, 0.0
            amount = reduced
    cost = amount * rate
    return amount, price, cost * price, cost


@njit(cache=True)
def sell_fill_nb(ref, want, pos, cash, volume, spec, rate, taker, limit):
    """A sell on the market's fee side (see ``sell_nb`` and the module docstring).
    Returns ``(amount, price, fee, base_fee)``: ``base_fee`` the cost the holding pays on
    top of the amount (0.0 for a quote fee); amount 0 when cancelled."""
    if spec[S_SELL_BASE] > 0.0:
        return _sell_base_nb(ref, want, pos, volume, spec, rate, taker, limit)
    amount, price, fee = sell_nb(ref, want, pos, cash, volume, spec, rate, taker, limit)
    return amount, price, fee, 0.0


# ----------------------------------------------------------------------------- dust


@njit(cache=True)
def is_dust_nb(amount, price, spec):
    """``MarketSpec.is_dust``: a positive holding no order could sell at ``price`` (under
    the lot step, the minimum amount or the minimum notional once lot-rounded)."""
    if not amount > 0.0:
        return False
    rounded = round_amount_nb(amount, spec[S_LOT], spec[S_LOT_P10])
    return rounded <= 0.0 or rounded < spec[S_MIN_AMOUNT] or rounded * price < spec[S_MIN_NOTIONAL]


@njit(cache=True)
def asked_all_nb(order_amount, amount, base_fee, left, spec):
    """``run.loop._asked_for_all`` for a plain (not reduce-only) sell order of
    ``order_amount`` that filled ``amount`` once, paying ``base_fee`` from the holding and
    leaving ``left``: it asked for the lot-rounded holding it started from."""
    filled = order_amount if order_amount - amount <= _EPS * max(1.0, order_amount) else amount
    taken = filled + base_fee if base_fee != 0.0 else filled
    held = left + taken
    return order_amount >= round_amount_nb(held, spec[S_LOT], spec[S_LOT_P10]) * (1.0 - _ASKED_RTOL)


# ----------------------------------------------------------------------------- records


@njit(cache=True)
def _push(fills, nf, bar, col, side, price, amount, fee, reason, maker):
    """Append one fill record whose fee is charged in the quote currency, doubling the
    array when full; returns the array."""
    return _push_fill(fills, nf, bar, col, side, price, amount, fee, reason, maker, fee, False)


@njit(cache=True)
def _push_fill(fills, nf, bar, col, side, price, amount, fee, reason, maker, fee_cost, fee_base):
    """Append one fill record (``fee_cost`` charged in the base currency when
    ``fee_base``, else in the quote), doubling the array when full; returns the array."""
    if nf == fills.shape[0]:
        grown = np.empty(max(16, 2 * nf), dtype=fills.dtype)
        grown[:nf] = fills[:nf]
        fills = grown
    r = fills[nf]
    r["bar"] = bar
    r["col"] = col
    r["side"] = side
    r["price"] = price
    r["amount"] = amount
    r["fee"] = fee
    r["reason"] = reason
    r["maker"] = maker
    r["fee_cost"] = fee_cost
    r["fee_base"] = fee_base
    r["dust"] = False
    r["dust_amount"] = 0.0
    return fills


@njit(cache=True)
def _mark_dust(fills, k, amount):
    """Record that the engine reported ``amount`` of dust after fill ``k``."""
    r = fills[k]
    r["dust"] = True
    r["dust_amount"] = amount
