"""Journal payloads for engine values: ``Bar``, ``Order`` commands and updates, ``Fill``.

Why a codec: the runner, the exchange-side adapters and ``replay`` must agree on
one payload shape per kind, and reading a journal back must give the engine's own
types (``read_bars`` -> ``Bar``) so a replay steps the very values the session saw.
Floats are written with ``repr`` precision by ``json`` (round-trip exact).

>>> bar = Bar("BTC/USDT", 0, 60_000, 1.0, 2.0, 0.5, 1.5, 10.0)
>>> bar_from_payload(bar_payload(bar)) == bar
True
>>> from tradeloom.engine.contracts import ContractSpec
>>> perp = MarketSpec("BTC/USDT:USDT", contract=ContractSpec())
>>> MarketSpec(**market_payload(perp)) == perp
True
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tradeloom.adapters.live.journal import JournalRecord
from tradeloom.adapters.store.checks import check_bar
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar, Fill, Liquidity, Order, OrderType, Side, TimeInForce
from tradeloom.engine.run.events import TradeTick


def market_payload(spec: MarketSpec) -> dict[str, Any]:
    """A ``MarketSpec`` as JSON (``MarketSpec(**payload)`` reads it back): a perpetual's
    contract as ``ContractSpec.to_dict`` (its open last bracket cap as ``null``: JSON has
    no infinity)."""
    payload = dataclasses.asdict(spec)
    payload["fee_side"] = spec.fee_side.value
    payload["contract"] = None if spec.contract is None else spec.contract.to_dict()
    return payload


def bar_payload(bar: Bar) -> dict[str, Any]:
    return {"symbol": bar.symbol, "ts": bar.ts, "close_ts": bar.close_ts, "open": bar.open,
            "high": bar.high, "low": bar.low, "close": bar.close, "volume": bar.volume}


def bar_from_payload(p: dict[str, Any], where: str = "journal record") -> Bar:
    """The ``Bar`` of a ``bar``/``warmup_bar`` payload, checked as the store checks bars
    (``DataError`` naming ``where`` for a bar that breaks the OHLC rules)."""
    bar = Bar(str(p["symbol"]), int(p["ts"]), int(p["close_ts"]), float(p["open"]),
              float(p["high"]), float(p["low"]), float(p["close"]), float(p["volume"]))
    return check_bar(bar, where)


def tick_payload(tick: TradeTick) -> dict[str, Any]:
    """A public trade (``trade`` record)."""
    return {"symbol": tick.symbol, "ts": tick.ts, "price": tick.price, "amount": tick.amount}


def tick_from_payload(p: dict[str, Any]) -> TradeTick:
    return TradeTick(str(p["symbol"]), int(p["ts"]), float(p["price"]), float(p["amount"]))


def command_payload(order: Order, now_ms: int, client_id: str) -> dict[str, Any]:
    """A ``submit`` command: what was asked of the broker, before it touched the order."""
    return {"ts": int(now_ms), "order_id": order.id, "client_id": client_id,
            "symbol": order.symbol, "side": order.side.value, "type": order.type.value,
            "amount": order.amount, "quote_amount": order.quote_amount, "price": order.price,
            "stop_price": order.stop_price, "tif": order.tif.value,
            "reduce_only": order.reduce_only, "tag": order.tag, "parent_id": order.parent_id}


def restored_payload(order: Order) -> dict[str, Any]:
    """A working order a restarted live session took over (the ``session`` record's
    ``restored_orders``): the command that made it, with what is filled already."""
    return {**command_payload(order, order.created_ts, order.client_id),
            "filled": order.filled, "status": order.status.value}


def restored_order(p: dict[str, Any]) -> Order:
    """The order of a ``restored_payload``, NEW again with its unfilled rest (for replay:
    the simulated broker takes it over as the live broker did).

    >>> from tradeloom.engine.orders import OrderType, Side
    >>> o = Order(7, "BTC/USDT", Side.BUY, OrderType.LIMIT, 0.02, 1_000, price=100.0,
    ...           client_id="tl-r1-7")
    >>> o.filled = 0.005
    >>> back = restored_order(restored_payload(o))
    >>> back.id, back.amount, back.price, back.client_id, back.created_ts
    (7, 0.015, 100.0, 'tl-r1-7', 1000)
    """
    rest = float(p["amount"]) - float(p.get("filled") or 0.0)
    return Order(int(p["order_id"]), str(p["symbol"]), Side(p["side"]), OrderType(p["type"]),
                 rest, int(p["ts"]), price=p.get("price"), quote_amount=p.get("quote_amount"),
                 stop_price=p.get("stop_price"), tif=TimeInForce(p.get("tif", "GTC")),
                 reduce_only=bool(p.get("reduce_only")), client_id=str(p.get("client_id") or ""),
                 tag=str(p.get("tag") or ""), parent_id=p.get("parent_id"))


def order_payload(order: Order) -> dict[str, Any]:
    """An order update (status after the broker handled it)."""
    return {"order_id": order.id, "client_id": order.client_id, "symbol": order.symbol,
            "side": order.side.value, "type": order.type.value, "status": order.status.value,
            "amount": order.amount, "filled": order.filled, "avg_price": order.avg_price,
            "fee": order.fee, "price": order.price, "reason": order.reason,
            "updated_ts": order.updated_ts}


def fill_payload(fill: Fill) -> dict[str, Any]:
    """A fill: ``fee`` valued in the quote currency, ``fee_cost`` of ``fee_currency`` what
    the venue (or the simulated broker) charged."""
    return {"order_id": fill.order_id, "client_id": fill.client_id, "symbol": fill.symbol,
            "side": fill.side.value, "ts": fill.ts, "price": fill.price, "amount": fill.amount,
            "fee": fill.fee, "fee_currency": fill.fee_currency, "fee_cost": fill.fee_cost,
            "liquidity": fill.liquidity.value}


def fill_from_payload(p: dict[str, Any]) -> Fill:
    """The ``Fill`` of a ``fill`` record as the runner stepped it: at its ``engine_ts``
    (when the engine learnt it) if recorded, else at the exchange's ``ts``; the fee in the
    currency the venue charged it in (a journal written before fee currencies were
    recorded reads as a fee in the quote currency).

    >>> f = Fill(3, "BTC/USDT", Side.BUY, 5_000, 100.0, 0.5, 0.05, Liquidity.MAKER, "c3")
    >>> fill_from_payload({**fill_payload(f), "engine_ts": 6_000}).ts
    6000
    >>> g = Fill(4, "BTC/USDT", Side.BUY, 0, 30000.0, 0.01, 0.3, Liquidity.TAKER,
    ...          fee_currency="BTC", fee_cost=0.00001)
    >>> back = fill_from_payload(fill_payload(g))
    >>> back.fee_currency, back.fee_cost, back.base_change()
    ('BTC', 1e-05, 0.00999)
    """
    ts = p.get("engine_ts")
    return Fill(int(p["order_id"]), str(p["symbol"]), Side(p["side"]),
                int(p["ts"] if ts is None else ts), float(p["price"]), float(p["amount"]),
                float(p["fee"]), Liquidity(p.get("liquidity", "taker")),
                str(p.get("client_id") or ""),
                fee_currency=str(p.get("fee_currency") or ""),
                fee_cost=float(p.get("fee_cost") or 0.0))


def bars_of(records: list[JournalRecord], kind: str = "bar") -> list[Bar]:
    """Every ``kind`` record (``bar`` or ``warmup_bar``) as a ``Bar``, in journal order."""
    return [bar_from_payload(r.payload, f"journal record {r.seq}")
            for r in records if r.kind == kind]


__all__ = ["bar_from_payload", "bar_payload", "bars_of", "command_payload", "fill_from_payload",
           "fill_payload",
           "order_payload", "restored_order", "restored_payload", "tick_from_payload",
           "tick_payload"]
