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
4. **Balances**: the exchange's totals are compared with the last reconciled snapshot
   plus the stored fills since; a difference above ``policy.tolerance`` (absolute, in
   each asset, or relative ``policy.rel_tolerance``) sets ``ok=False``. The first
   reconciliation of a state file takes the exchange's balances as its baseline.

``ok=False`` (a mismatch, or foreign orders when ``policy.foreign_is_mismatch``) means:
raise an alert and refuse new entries until a person looked (the runner's job).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tradeloom.adapters.ccxt.sender import Sender, order_status, parse_client_order_id
from tradeloom.adapters.live.state import LiveStateStore, OrderRecord

if TYPE_CHECKING:
    from tradeloom.adapters.ccxt.broker import CcxtBroker


@dataclass(frozen=True, slots=True)
class ReconcilePolicy:
    foreign_orders: Literal["report", "cancel"] = "report"
    foreign_is_mismatch: bool = False
    tolerance: float = 1e-8
    rel_tolerance: float = 1e-6


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
    balances, mismatches = _check_balances(sender, store, now_ms, policy)
    problems = [f"{a}: expected {e:.10g}, exchange has {x:.10g}"
                for a, (e, x) in mismatches.items()]
    if foreign:
        problems.append(f"{len(foreign)} foreign open order(s): {', '.join(foreign)} "
                        f"({'cancelled' if cancelled else 'left alone'})")
    ok = not mismatches and not (foreign and policy.foreign_is_mismatch)
    return ReconcileReport(ok, tuple(updated), tuple(adopted), tuple(never_sent),
                           tuple(foreign), tuple(cancelled), len(new_fills), balances,
                           mismatches, tuple(problems))


def _adopted(order: Mapping[str, Any], symbol: str, now_ms: int) -> OrderRecord:
    return OrderRecord(
        client_id=str(order["clientOrderId"]), order_id=-1, symbol=symbol,
        side=str(order["side"]), type=str(order["type"]), amount=float(order["amount"]),
        created_ts=int(order.get("timestamp") or now_ms), status=order_status(order),
        price=order.get("price"), exchange_id=str(order["id"]),
        filled=float(order.get("filled") or 0.0), updated_ts=now_ms, origin="adopted")


def _check_balances(sender: Sender, store: LiveStateStore, now_ms: int,
                    policy: ReconcilePolicy
                    ) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    balance = sender.request("fetch_balance")
    totals = {a: float(v) for a, v in (balance.get("total") or {}).items() if v is not None}
    snapshot = store.load_blob("reconciled_balances")
    mismatches: dict[str, tuple[float, float]] = {}
    if snapshot is not None:
        expected = {a: float(v) for a, v in snapshot["totals"].items()}
        fills, _ = store.fills_after(int(snapshot["fill_row"]))
        for fill in fills:
            spec = sender.markets.get(fill.symbol)
            if spec is None:
                continue
            sign = 1.0 if fill.side == "buy" else -1.0
            expected[spec.base] = expected.get(spec.base, 0.0) + sign * fill.amount
            expected[spec.quote] = (expected.get(spec.quote, 0.0)
                                    - sign * fill.price * fill.amount - fill.fee)
        for asset in sorted(set(expected) | set(totals)):
            want, have = expected.get(asset, 0.0), totals.get(asset, 0.0)
            if abs(want - have) > max(policy.tolerance, policy.rel_tolerance * abs(have)):
                mismatches[asset] = (want, have)
    last_row = store.last_fill_row()
    if not mismatches:
        store.save_blob("reconciled_balances", {"ts": now_ms, "totals": totals,
                                                "fill_row": last_row})
    store.save_balances({a: (float((balance.get(a) or {}).get("free") or 0.0),
                             float((balance.get(a) or {}).get("used") or 0.0))
                         for a in totals}, now_ms)
    return totals, mismatches

