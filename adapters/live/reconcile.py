"""Reconciliation: make the local live state equal the exchange's, and say where it was not.

``reconcile(broker, store, now_ms, policy)`` runs on the broker's sender thread (the one
thread using the ccxt client), at start and every few minutes:

1. **Open orders** of every traded symbol, by client id:
   - known to the state: status and exchange id updated from the exchange;
   - ours but unknown (prefix ``tl`` + this run id; possible only if the state lost a
     write, e.g. a restored backup): **adopted**, stored with ``origin="adopted"``, and
     the sequence moved past its number so the id is never reused;
   - anything else (manual orders, other bots, other runs) is **foreign**: left alone
     and reported (``policy.foreign_orders="report"``, the default) or cancelled
     (``"cancel"``). Foreign orders never enter the strategy's state.
2. **Working orders the exchange does not list as open** are looked up by client id:
   finished ones get their final status; ones it never received (a send that never
   arrived) become ``rejected`` and are reported as ``never_sent``.
3. **Trades since the last seen trade id** per symbol are stored (de-duplicated by trade
   id); ``new_fills`` counts those the state did not have.
4. **Balances**: the exchange's totals of the assets the runner trades (the quote
   currency, the traded symbols' base currencies, and every currency a stored fill
   paid a fee in, such as BNB) are compared with the last reconciled snapshot plus the
   stored fills since, each fill moving its base by the amount net of a base fee, its
   quote by the notional (less a quote fee), and its fee currency by the fee charged.
   A difference is dust, not a mismatch, within the asset's stated tolerance
   (``tolerances``): the market's lot step for a base currency, plus the venue's fee
   rounding (``FEE_QUANTUM``, 1e-8: Binance reports commissions with 8 decimals) per
   fill since the snapshot, and never less than ``policy.tolerance`` or
   ``policy.rel_tolerance`` of the balance. A difference above it sets ``ok=False``
   and the snapshot stays where it was: every later reconciliation (a restart
   included) recomputes from the venue's trades and balances afresh and blocks again
   until the difference is explained or a person accepts the exchange's state
   (``accept_exchange_state``, ``tradeloom reconcile CONFIG --accept``, audited). The
   first reconciliation of a state file takes the exchange's balances as its baseline.

5. **Perpetual positions** (swap markets; ``adapters.ccxt.positions``): a futures
   account's positions are not balances, so perpetual fills move no base or quote
   balance in step 4, and the futures wallet (USDT: the venue's realized PnL, fees and
   funding move it) is compared in step 6, not there. Instead
   the venue's positions (``fetch_positions``) are compared with the last reconciled
   positions plus the stored perpetual fills since, within half a lot step (Binance
   positions are exact multiples of the lot step: no dust on a swap). A position the
   venue closed by itself - no longer there, and no fill of ours explains it - is a
   **liquidation**, reported in ``liquidations`` (priced from the venue's ``autoclose``
   trades, else at its mark) for the runner to book, never a silent difference; any
   other difference is a mismatch.
6. **The futures wallet** (``adapters.live.wallet_check``): the venue's wallet balance
   of each settle currency (Binance ``walletBalance``; read by name where the venue
   keeps it apart from spot, ``adapters.ccxt.wallets``) is compared with the last
   reconciled wallet moved by the stored perpetual fills since (realized PnL booked on
   the snapshot's positions and entry prices, less the fees) and the venue's funding
   payments the snapshot's wallet did not hold, within the balances' stated tolerance
   (``fee_quantum`` per fill and once more, at least ``policy.tolerance``, or
   ``policy.rel_tolerance`` of the wallet).
   A difference is a mismatch named ``"<settle> futures wallet"``. A liquidation found
   in step 5 moves it by its close at the trade's price less its fee, the insurance
   clearance included (Binance books the clearance apart, as ``INSURANCE_CLEAR``
   income: ``positions.clearance_fee``).

   Which payments a wallet holds is read, not inferred from times: the snapshot's time
   is the runner's clock (a bar close, which is a funding time; the local clock may run
   ahead of the venue's within the allowed drift), while the venue stamps a payment
   with the funding time (or its booking time) and credits it when it settles it. A
   payment stamped before the snapshot's time can be missing from the wallet the
   snapshot read: a reconciliation at 08:00:00 can read a wallet without the 08:00
   payment.
   The funding history is read before and after the wallets; when both reads list the
   same payments, the wallets hold exactly those (``_settled_balances``; this assumes
   a venue credits a payment no later than it lists it), and the snapshot records them
   (``funding_seen``). The next check counts each payment the snapshot had not seen,
   stamped up to ``FUNDING_SETTLEMENT_MS`` before it. While payments keep arriving
   through ``SETTLED_READS`` reads (``SETTLE_PAUSE_S`` apart), the futures wallet
   cannot be compared: the report is not ok (entries wait for the next
   reconciliation, which compares it), a problem says why, and the snapshot stays.

``ok=False`` (a mismatch, or foreign orders when ``policy.foreign_is_mismatch``) means:
raise an alert and refuse new entries until a person looked (the runner's job).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from tradeloom.adapters.ccxt.funding import payment_key
from tradeloom.adapters.ccxt.positions import (
    VenueLiquidation,
    VenuePosition,
    clearance_fee,
    liquidation_order_ids,
    positions_from_ccxt,
    positions_params,
    same_size,
    venue_liquidation,
)
from tradeloom.adapters.ccxt.sender import Sender, order_status, parse_client_order_id
from tradeloom.adapters.ccxt.wallets import Wallet, futures_wallet, wallet_layout
from tradeloom.adapters.live.state import FillRecord, LiveStateStore, OrderRecord
from tradeloom.adapters.live.wallet_check import expected_futures_wallet
from tradeloom.engine.errors import TransientExchangeError
from tradeloom.engine.market import MarketSpec

if TYPE_CHECKING:
    from tradeloom.adapters.ccxt.broker import CcxtBroker


#: The venue's rounding of a reported fee (Binance: commissions with 8 decimals): each
#: fill since the last snapshot may leave this much of a difference per asset.
FEE_QUANTUM = 1e-8

#: How long after its funding time a venue may still be settling a payment (step 6): a
#: payment stamped up to this long before the last snapshot, and not seen by it, counts.
FUNDING_SETTLEMENT_MS = 3_600_000

#: Reads of the wallets between two equal funding histories (step 6) before the futures
#: wallet's comparison is left to the next reconciliation; and the pause before reading
#: again when the history changed around a read (a venue settles symbols one by one).
SETTLED_READS = 3
SETTLE_PAUSE_S = 0.5

#: A funding payment as step 6 reads it: key (``funding.payment_key``) -> (symbol, time
#: ms, amount in the settle currency).
Payments = dict[str, tuple[str, int, float]]


@dataclass(frozen=True, slots=True)
class ReconcilePolicy:
    foreign_orders: Literal["report", "cancel"] = "report"
    foreign_is_mismatch: bool = False
    tolerance: float = 1e-8
    rel_tolerance: float = 1e-6
    fee_quantum: float = FEE_QUANTUM


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    ok: bool
    updated: tuple[str, ...] = ()
    adopted: tuple[str, ...] = ()
    never_sent: tuple[str, ...] = ()
    foreign: tuple[str, ...] = ()
    cancelled_foreign: tuple[str, ...] = ()
    new_fills: int = 0
    balances: Mapping[str, float] = field(default_factory=dict)
    mismatches: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    #: Differences within tolerance (dust, fee rounding): asset -> (expected, exchange).
    dust: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    #: Perpetuals: the venue's positions (symbol -> signed base amount, open ones only).
    positions: Mapping[str, float] = field(default_factory=dict)
    #: Perpetual positions the venue closed by itself (liquidations), for the runner to book.
    liquidations: tuple[VenueLiquidation, ...] = ()


def reconcile(broker: CcxtBroker, store: LiveStateStore, now_ms: int,
              policy: ReconcilePolicy = ReconcilePolicy(), *, timeout_s: float = 60.0,
              apply_updates: bool = True) -> ReconcileReport:
    """Reconcile ``store`` with the exchange behind ``broker`` (see the module docstring).

    ``apply_updates=False`` (the runner, calling from a worker thread): the status changes
    and fills found stay queued for the broker's owner thread (``collect``/the engine's
    ``drain_updates``) instead of being drained here, where the engine would miss them.
    """
    broker.flush(timeout_s)
    report = broker.call(lambda _client: _run(broker.sender, store, now_ms, policy), timeout_s)
    if apply_updates:
        broker.drain_updates()  # status changes of orders this process knows
    return report


def _run(sender: Sender, store: LiveStateStore, now_ms: int,
         policy: ReconcilePolicy) -> ReconcileReport:
    updated: list[str] = []
    adopted: list[str] = []
    never_sent: list[str] = []
    foreign: list[str] = []
    cancelled: list[str] = []
    fills_mark = store.last_fill_row()
    symbols = sorted(set(sender.markets) | {r.symbol for r in store.orders(working_only=True)})
    for symbol in symbols:
        open_ids: set[str] = set()
        for order in sender.request("fetch_open_orders", symbol):
            cid = str(order.get("clientOrderId") or "")
            open_ids.add(cid)
            record = store.order(cid) if cid else None
            parsed = parse_client_order_id(cid)
            if record is not None:
                status = order_status(order)
                if record.status != status or record.exchange_id != str(order["id"]):
                    store.update_order(cid, status=status, exchange_id=str(order["id"]))
                    updated.append(cid)
            elif parsed is not None and parsed[0] == store.run_id:
                store.save_order(_adopted(order, symbol, now_ms))
                store.ensure_seq_after(parsed[1])
                adopted.append(cid)
            else:
                foreign.append(cid or str(order["id"]))
                if policy.foreign_orders == "cancel":
                    sender.request("cancel_order", order["id"], symbol)
                    cancelled.append(cid or str(order["id"]))
        for record in store.orders(working_only=True, symbol=symbol):
            if record.client_id in open_ids:
                continue
            found = sender.lookup_order(record)
            if found is None:
                store.update_order(record.client_id, status="rejected",
                                   reason="never reached the exchange (reconcile)")
                never_sent.append(record.client_id)
            else:
                store.update_order(record.client_id, status=order_status(found),
                                   exchange_id=str(found["id"]))
                updated.append(record.client_id)
        sender.fetch_trades(symbol)
    new_fills, _ = store.fills_after(fills_mark)
    perps = _perps(sender)
    snapshot = store.load_blob("reconciled_positions") if perps else None
    start = min(now_ms, int(snapshot["ts"]) if snapshot is not None else now_ms)
    spot_balance, futures_balance, payments = _settled_balances(
        sender, perps, start - FUNDING_SETTLEMENT_MS)
    balances, mismatches, dust = _check_balances(sender, spot_balance, store, now_ms, policy)
    positions, liquidations = _check_positions(sender, perps, snapshot, futures_balance,
                                               payments, store, now_ms, mismatches, policy)
    problems = [f"{a}: expected {e:.10g}, exchange has {x:.10g} (difference {x - e:+.10g}); "
                "if the exchange is right (a deposit, a withdrawal, a manual trade), accept "
                "its state: tradeloom reconcile CONFIG --accept"
                for a, (e, x) in mismatches.items()]
    if payments is None:
        problems.append(f"the futures wallet was not compared: funding payments were still "
                        f"being settled through {SETTLED_READS} reads of it; new entries "
                        "wait for the next reconciliation, which compares it")
    if foreign:
        problems.append(f"{len(foreign)} foreign open order(s): {', '.join(foreign)} "
                        f"({'cancelled' if cancelled else 'left alone'})")
    ok = not mismatches and payments is not None and \
        not (foreign and policy.foreign_is_mismatch)
    return ReconcileReport(ok, tuple(updated), tuple(adopted), tuple(never_sent),
                           tuple(foreign), tuple(cancelled), len(new_fills), balances,
                           mismatches, tuple(problems), dust, positions, tuple(liquidations))


def _adopted(order: Mapping[str, Any], symbol: str, now_ms: int) -> OrderRecord:
    return OrderRecord(
        client_id=str(order["clientOrderId"]), order_id=-1, symbol=symbol,
        side=str(order["side"]), type=str(order["type"]), amount=float(order["amount"]),
        created_ts=int(order.get("timestamp") or now_ms), status=order_status(order),
        price=order.get("price"), exchange_id=str(order["id"]),
        filled=float(order.get("filled") or 0.0), updated_ts=now_ms, origin="adopted")


def expected_balances(snapshot: Mapping[str, Any], fills: list[FillRecord],
                      markets: Mapping[str, MarketSpec]) -> dict[str, float]:
    """The snapshot's totals moved by ``fills``: base by the amount net of a base fee,
    quote by the notional (less a quote fee), a third fee asset by the fee charged.

    >>> from tradeloom.engine.market import MarketSpec
    >>> buy = FillRecord("1", "c", 1, "BTC/USDT", "buy", 0, 30000.0, 0.01, 0.3,
    ...                  fee_currency="BTC", fee_cost=0.00001)
    >>> expected_balances({"totals": {"USDT": 1000.0}}, [buy],
    ...                   {"BTC/USDT": MarketSpec("BTC/USDT")})
    {'USDT': 700.0, 'BTC': 0.00999}
    """
    expected = {a: float(v) for a, v in snapshot["totals"].items()}
    for fill in fills:
        spec = markets.get(fill.symbol)
        if spec is None or spec.contract is not None:  # a perpetual moves a position
            continue
        sign = 1.0 if fill.side == "buy" else -1.0
        currency = fill.fee_currency or spec.quote
        cost = fill.fee_cost if fill.fee_currency else fill.fee
        base_fee = cost if currency == spec.base else 0.0
        quote_fee = cost if currency == spec.quote else 0.0
        expected[spec.base] = expected.get(spec.base, 0.0) + sign * fill.amount - base_fee
        expected[spec.quote] = (expected.get(spec.quote, 0.0)
                                - sign * fill.price * fill.amount - quote_fee)
        if currency not in (spec.base, spec.quote):
            expected[currency] = expected.get(currency, 0.0) - cost
    return expected


def tolerances(assets: Iterable[str], markets: Mapping[str, MarketSpec], fills_since: int,
               policy: ReconcilePolicy) -> dict[str, float]:
    """Per asset, the difference that is dust and fee rounding, not a mismatch: the lot
    step of a market trading it as base (what a lot rounding can leave), plus the venue's
    fee rounding once per fill since the snapshot and once more, at least
    ``policy.tolerance``. Two fills: 1e-05 + 3 x 1e-08.

    >>> from tradeloom.engine.market import MarketSpec
    >>> tolerances(["BTC", "USDT"], {"BTC/USDT": MarketSpec("BTC/USDT", lot_step=0.00001)},
    ...            2, ReconcilePolicy())
    {'BTC': 1.003e-05, 'USDT': 3e-08}
    """
    lots: dict[str, float] = {}
    for spec in markets.values():
        if spec.lot_step:
            lots[spec.base] = max(lots.get(spec.base, 0.0), spec.lot_step)
    rounding = policy.fee_quantum * (fills_since + 1)
    return {a: round(max(policy.tolerance, lots.get(a, 0.0) + rounding), 15) for a in assets}


def traded_assets(markets: Mapping[str, MarketSpec], fills: Iterable[FillRecord], *,
                  separate_wallets: bool = False) -> set[str]:
    """The assets of the spot wallet the runner accounts for: each spot market's base and
    quote and every currency a spot fill paid a fee in. On a venue with one wallet per
    client the settle currency of a perpetual is left out (the venue's PnL, fees and
    funding move it; step 5 compares positions instead); with ``separate_wallets``
    (``adapters.ccxt.wallets``: Binance spot beside USDⓈ-M) the spot wallet's quote is
    moved by spot fills alone, and is compared.

    >>> from tradeloom.engine.contracts import ContractSpec
    >>> carry = {"BTC/USDT": MarketSpec("BTC/USDT"),
    ...          "BTC/USDT:USDT": MarketSpec("BTC/USDT:USDT", contract=ContractSpec())}
    >>> sorted(traded_assets(carry, [])), sorted(traded_assets(carry, [], separate_wallets=True))
    (['BTC'], ['BTC', 'USDT'])
    """
    spot = [spec for spec in markets.values() if spec.contract is None]
    settle = {spec.quote for spec in markets.values() if spec.contract is not None}
    assets = {a for spec in spot for a in (spec.base, spec.quote)}
    spot_symbols = {spec.symbol for spec in spot}
    assets.update(f.fee_currency for f in fills if f.fee_currency and f.symbol in spot_symbols)
    return assets if separate_wallets else assets - settle


def _perps(sender: Sender) -> dict[str, MarketSpec]:
    """The perpetual (swap) markets the runner trades, by symbol in sorted order."""
    return {s: spec for s, spec in sorted(sender.markets.items()) if spec.contract is not None}


def _funding_paid(sender: Sender, perps: Mapping[str, MarketSpec], start: int) -> Payments:
    """The venue's funding payments of ``perps`` stamped after ``start`` (ccxt
    ``fetch_funding_history``: Binance ``GET /fapi/v1/income``, ``FUNDING_FEE``)."""
    out: Payments = {}
    for symbol in perps:
        for row in sender.request("fetch_funding_history", symbol, start + 1, 1000):
            ts, amount = row.get("timestamp"), row.get("amount")
            if ts is not None and amount is not None and int(ts) > start:
                out[payment_key(symbol, row)] = (symbol, int(ts), float(amount))
    return out


def _settled_balances(sender: Sender, perps: Mapping[str, MarketSpec], start: int
                      ) -> tuple[Mapping[str, Any], Mapping[str, Any], Payments | None]:
    """The wallets (``_wallet_balances``) and the funding payments stamped after
    ``start`` that they hold: the history read before and after the wallets lists the
    same payments (a payment settled between two reads shows in the second, and the
    wallets are read again, ``SETTLE_PAUSE_S`` later). ``None`` for the payments when
    they kept arriving through ``SETTLED_READS`` reads."""
    if not perps:
        spot, futures = _wallet_balances(sender)
        return spot, futures, {}
    before = _funding_paid(sender, perps, start)
    for attempt in range(SETTLED_READS):
        if attempt:
            sender.sleep(SETTLE_PAUSE_S)
        spot, futures = _wallet_balances(sender)
        after = _funding_paid(sender, perps, start)
        if after.keys() == before.keys():
            return spot, futures, after
        before = after
    return spot, futures, None


def _wallet_balances(sender: Sender) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """``fetch_balance`` of the spot wallet (step 4) and of the futures wallet (step 6):
    one request when the two are one wallet (the same params) or no perpetual trades."""
    layout = wallet_layout(sender.client.id, sender.markets)
    spot_params, futures_params = layout.params(Wallet.SPOT), layout.params(Wallet.FUTURES)
    spot = sender.request("fetch_balance", spot_params)
    if futures_params == spot_params or not layout.trades(Wallet.FUTURES):
        return spot, spot
    return spot, sender.request("fetch_balance", futures_params)


def _check_balances(sender: Sender, balance: Mapping[str, Any], store: LiveStateStore,
                    now_ms: int, policy: ReconcilePolicy
                    ) -> tuple[dict[str, float], dict[str, tuple[float, float]],
                               dict[str, tuple[float, float]]]:
    totals = {a: float(v) for a, v in (balance.get("total") or {}).items() if v is not None}
    snapshot = store.load_blob("reconciled_balances")
    mismatches: dict[str, tuple[float, float]] = {}
    dust: dict[str, tuple[float, float]] = {}
    if snapshot is not None:
        fills, _ = store.fills_after(int(snapshot["fill_row"]))
        expected = expected_balances(snapshot, fills, sender.markets)
        separate = wallet_layout(sender.client.id, sender.markets).separate
        assets = (traded_assets(sender.markets, fills, separate_wallets=separate)
                  | set(snapshot.get("fee_assets", [])))
        limits = tolerances(assets, sender.markets, len(fills), policy)
        for asset in sorted(assets):
            want, have = expected.get(asset, 0.0), totals.get(asset, 0.0)
            diff = abs(want - have)
            if diff > max(limits[asset], policy.rel_tolerance * abs(have)):
                mismatches[asset] = (want, have)
            elif diff > 0.0:
                dust[asset] = (want, have)
    if not mismatches:
        save_baseline(store, totals, now_ms, sender.markets)
    store.save_balances({a: (float((balance.get(a) or {}).get("free") or 0.0),
                             float((balance.get(a) or {}).get("used") or 0.0))
                         for a in totals}, now_ms)
    return totals, mismatches, dust


def _check_positions(sender: Sender, perps: Mapping[str, MarketSpec],
                     snapshot: Mapping[str, Any] | None, futures_balance: Mapping[str, Any],
                     payments: Payments | None, store: LiveStateStore, now_ms: int,
                     mismatches: dict[str, tuple[float, float]], policy: ReconcilePolicy
                     ) -> tuple[dict[str, float], list[VenueLiquidation]]:
    """Steps 5 and 6 of the module docstring for ``perps`` against the last positions
    ``snapshot``; position and futures wallet mismatches are added to ``mismatches``.
    ``payments``: the funding the wallets hold (``_settled_balances``); ``None`` leaves
    step 6 and the snapshot to the next time."""
    if not perps:
        return {}, []
    rows = sender.request("fetch_positions", list(perps), positions_params(sender.client.id))
    venue = positions_from_ccxt(rows, {s: spec.lot_step for s, spec in perps.items()})
    have = {s: p.qty for s, p in venue.items()}
    wallets = _futures_wallets(futures_balance, perps)
    liquidations: list[VenueLiquidation] = []
    found: dict[str, tuple[float, float]] = {}
    if snapshot is not None:
        fills, _ = store.fills_after(int(snapshot["fill_row"]))
        want = {s: float(q) for s, q in snapshot["positions"].items()}
        for fill in fills:
            if fill.symbol in perps:
                sign = 1.0 if fill.side == "buy" else -1.0
                want[fill.symbol] = want.get(fill.symbol, 0.0) + sign * fill.amount
        for symbol, spec in perps.items():
            expected, actual = want.get(symbol, 0.0), have.get(symbol, 0.0)
            if same_size(expected, actual, spec.lot_step):
                continue
            if actual == 0.0:  # the venue closed it by itself: a liquidation
                since = int(snapshot["ts"])
                trades = sender.request("fetch_my_trades", symbol, since, None, {})
                orders = sender.request("fetch_orders", symbol, since, None, {})
                liq = venue_liquidation(
                    symbol, expected, trades, since=since, mark=_mark(sender, rows, symbol),
                    now=now_ms, order_ids=liquidation_order_ids(orders))
                liquidations.append(replace(liq, fee=liq.fee + _clearance(sender, symbol,
                                                                          since)))
            else:
                found[symbol] = (expected, actual)
        if "wallets" in snapshot and payments is not None:
            found.update(_check_wallets(snapshot, fills, perps, wallets, payments,
                                        liquidations, policy))
    mismatches.update(found)
    if not found and payments is not None:
        store.save_blob("reconciled_positions",
                        _positions_blob(store, now_ms, venue, wallets, payments))
    return have, liquidations


def _positions_blob(store: LiveStateStore, now_ms: int, venue: Mapping[str, VenuePosition],
                    wallets: Mapping[str, float], payments: Payments) -> dict[str, Any]:
    """The step-5/6 snapshot: the venue's positions, entries and futures wallets, the
    last stored fill, and the funding payments the wallets hold that a later check
    could still meet (``funding_seen``: stamped within ``FUNDING_SETTLEMENT_MS``)."""
    seen = sorted(k for k, (_, ts, _) in payments.items()
                  if ts > now_ms - FUNDING_SETTLEMENT_MS)
    return {"ts": now_ms, "positions": {s: p.qty for s, p in venue.items()},
            "entries": {s: p.entry for s, p in venue.items()}, "wallets": dict(wallets),
            "fill_row": store.last_fill_row(), "funding_seen": seen}


def _futures_wallets(balance: Mapping[str, Any], perps: Mapping[str, MarketSpec]
                     ) -> dict[str, float]:
    """The futures wallet balance of each settle currency (``wallets.futures_wallet``)."""
    return {settle: futures_wallet(balance, settle)
            for settle in sorted({spec.quote for spec in perps.values()})}


def unseen_funding(snapshot: Mapping[str, Any], payments: Payments,
                   symbols: Iterable[str]) -> float:
    """The funding of ``symbols`` the snapshot's wallet did not hold: each payment not in
    its ``funding_seen``, stamped up to ``FUNDING_SETTLEMENT_MS`` before it (a snapshot
    written before ``funding_seen`` existed: each payment stamped after it).

    >>> snap = {"ts": 1700035200000, "funding_seen": ["7"]}
    >>> paid = {"7": ("X", 1700006400000, 0.6), "8": ("X", 1700035200000, 1.2)}
    >>> unseen_funding(snap, paid, ["X"])  # the 08:00 payment settled after the snapshot
    1.2
    >>> unseen_funding({"ts": 1700035200000}, paid, ["X"])  # no funding_seen: by time
    0.0
    """
    since, wanted = int(snapshot["ts"]), set(symbols)
    seen = snapshot.get("funding_seen")
    total = 0.0
    for key, (symbol, ts, amount) in sorted(payments.items(), key=lambda kv: (kv[1][1], kv[0])):
        if seen is None:
            unseen = ts > since
        else:
            unseen = ts > since - FUNDING_SETTLEMENT_MS and key not in seen
        if symbol in wanted and unseen:
            total += amount
    return total


def _check_wallets(snapshot: Mapping[str, Any], fills: list[FillRecord],
                   perps: Mapping[str, MarketSpec], wallets: Mapping[str, float],
                   payments: Payments, liquidations: list[VenueLiquidation],
                   policy: ReconcilePolicy) -> dict[str, tuple[float, float]]:
    """Step 6: each futures wallet against the snapshot moved by the perpetual fills, the
    funding payments it did not hold and the liquidations since
    (``adapters.live.wallet_check``)."""
    out: dict[str, tuple[float, float]] = {}
    for settle, have in wallets.items():
        symbols = {s: spec.quote for s, spec in perps.items() if spec.quote == settle}
        funding = unseen_funding(snapshot, payments, symbols)
        want = expected_futures_wallet(
            float(snapshot["wallets"].get(settle, 0.0)), snapshot["positions"],
            snapshot.get("entries", {}), fills, symbols, funding=funding,
            liquidations=[liq for liq in liquidations if liq.symbol in symbols])
        count = sum(1 for f in fills if f.symbol in symbols)
        limit = max(policy.tolerance, policy.fee_quantum * (count + 1),
                    policy.rel_tolerance * abs(have))
        if abs(want - have) > limit:
            out[f"{settle} futures wallet"] = (want, have)
    return out


def _clearance(sender: Sender, symbol: str, since: int) -> float:
    """Binance's insurance clearance of ``symbol``'s liquidation since ``since``
    (``positions.clearance_fee``; other venues book none apart from the trade)."""
    if not sender.client.id.startswith("binance"):
        return 0.0
    rows = sender.request("fapiPrivateGetIncome", {
        "symbol": sender.client.market(symbol)["id"], "incomeType": "INSURANCE_CLEAR",
        "startTime": since + 1})
    return clearance_fee(rows)


def _mark(sender: Sender, rows: list[Mapping[str, Any]], symbol: str) -> float:
    """The venue's mark price of ``symbol``: its position row's, else the premium index's
    (ccxt ``fetch_funding_rate``: Binance ``GET /fapi/v1/premiumIndex`` ``markPrice``)."""
    for row in rows:
        if row.get("symbol") == symbol and row.get("markPrice"):
            return float(row["markPrice"])
    return float(sender.request("fetch_funding_rate", symbol)["markPrice"])


def save_baseline(store: LiveStateStore, totals: Mapping[str, float], now_ms: int,
                  markets: Mapping[str, MarketSpec], *, accepted_by: str | None = None) -> None:
    """The exchange's ``totals`` as the snapshot later reconciliations start from (after
    the last stored fill)."""
    fills = store.fills()
    blob: dict[str, Any] = {"ts": now_ms, "totals": dict(totals),
                            "fill_row": store.last_fill_row(),
                            "fee_assets": sorted(traded_assets(markets, fills)
                                                 - {a for s in markets.values()
                                                    for a in (s.base, s.quote)})}
    if accepted_by is not None:
        blob["accepted_by"] = accepted_by
    store.save_blob("reconciled_balances", blob)


def accept_exchange_state(broker: CcxtBroker, store: LiveStateStore, now_ms: int, *,
                          actor: str, timeout_s: float = 60.0) -> tuple[ReconcileReport,
                                                                          dict[str, float]]:
    """A person accepts the exchange's balances as the truth: reconcile (orders, trades),
    then the exchange's totals become the snapshot, whatever differed. Returns the
    reconciliation as it stood before (its ``mismatches`` are what was accepted) and the
    totals accepted. The caller audits it (``tradeloom reconcile --accept``)."""
    report = reconcile(broker, store, now_ms, timeout_s=timeout_s)

    def accept(_client: Any) -> dict[str, float]:
        perps = _perps(broker.sender)
        balance, futures_balance, payments = _settled_balances(
            broker.sender, perps, now_ms - FUNDING_SETTLEMENT_MS)
        if payments is None:
            raise TransientExchangeError(
                f"funding payments were still being settled through {SETTLED_READS} reads "
                "of the futures wallet, so the exchange's state could not be read whole; "
                "nothing was accepted: run `tradeloom reconcile CONFIG --accept` again in "
                "a minute")
        totals = {a: float(v) for a, v in (balance.get("total") or {}).items()
                  if v is not None}
        save_baseline(store, totals, now_ms, broker.sender.markets, accepted_by=actor)
        if perps:  # the venue's positions and futures wallet become the baseline too
            rows = broker.sender.request("fetch_positions", sorted(perps),
                                         positions_params(broker.client.id))
            venue = positions_from_ccxt(rows, {s: m.lot_step for s, m in perps.items()})
            store.save_blob("reconciled_positions", _positions_blob(
                store, now_ms, venue, _futures_wallets(futures_balance, perps), payments))
        return totals

    return report, broker.call(accept, timeout_s)
