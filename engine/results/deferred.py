"""The ``BacktestResult`` of an event-engine run, with its orders, fills and metrics built
when they are first read.

Turning a run's orders into the ``orders`` frame costs about 3.5 us per order (27 columns
read from every ``Order``, its history written as JSON), the ``fills`` frame about 0.7 us
per fill, and the metrics a few passes over the equity curve: on a run with tens of
thousands of orders that is most of the result build, and a caller reading the trades and
the equity (a notebook, the benchmark) or only the metrics (a sweep) pays for all of it.
``DeferredResult`` builds everything that can fail or that other fields need at once
(``result.build_parts``: the manifest and event checks, the trades and the check of the
final positions, the equity frame) and each of ``orders``, ``fills`` and ``metrics`` on
its first read, at most once, from values fixed when the result was made (a new list of
the orders, the fills' columns), then keeps it as a plain attribute.

Exactness: each deferred field is built by the same function from the same values as
:meth:`BacktestResult.build` builds it, so a ``DeferredResult`` equals (``==``) the
eagerly built result of the same run, frame for frame. The orders are the run's
``Order`` objects: the engine hands them over after ``finish()``, when every order has
reached a final state and nothing changes them any more (``engine.run.backtest.collect``).

Pickling (``copy``, Dask, process pools) builds everything first and travels as a plain
``BacktestResult``.

>>> from tradeloom.engine.results.result import EquityCurve
>>> curve = EquityCurve(ts=[60_000], equity=[100.0], cash=[100.0], exposure=[0.0],
...                     fees_cum=[0.0])
>>> res = DeferredResult.build(orders=[], fills=[], equity=curve, timeframe="1m",
...                            initial_cash=100.0, quote_currency="USDT", manifest={})
>>> res.pending()
['orders', 'fills', 'metrics']
>>> res.metrics["final_equity"], res.pending()
(100.0, ['orders', 'fills'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tradeloom.engine.orders import Fill, Order
from tradeloom.engine.results.result import BacktestResult, EquityCurve, build_parts

__all__ = ["DEFERRED_FIELDS", "DeferredResult"]

DEFERRED_FIELDS = ("orders", "fills", "metrics")
"""The ``BacktestResult`` fields a ``DeferredResult`` builds on first read."""


class DeferredResult(BacktestResult):
    """A ``BacktestResult`` whose ``DEFERRED_FIELDS`` are built on first read (module docs)."""

    @classmethod
    def build(
        cls,
        *,
        orders: Sequence[Order],
        fills: Sequence[Fill],
        equity: EquityCurve,
        timeframe: str,
        initial_cash: float,
        quote_currency: str,
        manifest: Mapping[str, Any],
        risk_decisions: Sequence[Mapping[str, Any]] = (),
        events: Sequence[Mapping[str, Any]] = (),
        final_positions: Mapping[str, float] = {},
        final_marks: Mapping[str, float] = {},
    ) -> DeferredResult:
        """:meth:`BacktestResult.build`'s checks and fields, ``DEFERRED_FIELDS`` pending."""
        fields, pending = build_parts(
            orders=orders, fills=fills, equity=equity, timeframe=timeframe,
            initial_cash=initial_cash, quote_currency=quote_currency, manifest=manifest,
            risk_decisions=risk_decisions, events=events, final_positions=final_positions,
            final_marks=final_marks,
        )
        self = cls.__new__(cls)
        state = self.__dict__
        state.update(fields)
        state["_pending"] = pending
        return self

    def pending(self) -> list[str]:
        """The fields not built yet, in ``DEFERRED_FIELDS`` order (empty once all were read)."""
        return [name for name in DEFERRED_FIELDS if name not in self.__dict__]

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not in __dict__: the pending fields.
        pending = self.__dict__.get("_pending")
        if pending is None or name not in pending:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        value = pending[name]()  # kept pending if building raises: the next read retries
        object.__setattr__(self, name, value)
        del pending[name]
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        state = {name: getattr(self, name) for name in _FIELD_NAMES}
        return _plain_result, (state,)


_FIELD_NAMES = tuple(BacktestResult.__dataclass_fields__)


def _plain_result(state: dict[str, Any]) -> BacktestResult:
    """A ``BacktestResult`` with ``state`` as its fields (what a pickled ``DeferredResult``
    loads as)."""
    result = BacktestResult.__new__(BacktestResult)
    result.__dict__.update(state)
    return result
