"""Journal payloads for engine values: ``Bar``, ``Order`` commands and updates, ``Fill``.

Why a codec: the runner, the exchange-side adapters and ``replay`` must agree on
one payload shape per kind, and reading a journal back must give the engine's own
types (``read_bars`` -> ``Bar``) so a replay steps the very values the session saw.
Floats are written with ``repr`` precision by ``json`` (round-trip exact).

>>> bar = Bar("BTC/USDT", 0, 60_000, 1.0, 2.0, 0.5, 1.5, 10.0)
>>> bar_from_payload(bar_payload(bar)) == bar
True
"""

from __future__ import annotations

from typing import Any

from tradeloom.adapters.live.journal import JournalRecord
from tradeloom.adapters.store.checks import check_bar
from tradeloom.engine.run.events import TradeTick
from tradeloom.engine.orders import Bar, Fill, Order


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


def bars_of(records: list[JournalRecord], kind: str = "bar") -> list[Bar]:
    """Every ``kind`` record (``bar`` or ``warmup_bar``) as a ``Bar``, in journal order."""
    return [bar_from_payload(r.payload, f"journal record {r.seq}")
            for r in records if r.kind == kind]


__all__ = ["bar_from_payload", "bar_payload", "bars_of", "command_payload", "fill_payload",
           "order_payload", "tick_from_payload", "tick_payload"]
