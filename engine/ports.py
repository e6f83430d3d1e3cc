"""The one broker port. Simulated, paper and ccxt brokers implement it.

A strategy never sees which broker it trades through. The engine loop calls
``submit``/``cancel`` with orders that already passed risk checks and receives
fills and order updates back as events.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from tradeloom.engine.orders import Bar, Fill, Order


class Broker(Protocol):
    def submit(self, order: Order, now_ms: int) -> None:
        """Accept (status OPEN) or reject (status REJECTED with ``reason``) the order."""

    def cancel(self, order_id: int, now_ms: int) -> bool:
        """Cancel a working order; ``False`` when it is unknown or already terminal."""

    def open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        """Working orders, oldest first."""

    def on_bar(self, bar: Bar) -> Sequence[Fill]:
        """Simulated brokers match working orders against a bar that just closed.

        Live brokers return fills the exchange reported; their fills arrive as events.
        """
