"""The derivatives view of a result: funding payments, liquidations, long/short breakdown.

Funding and liquidations are recorded as the run's events (``engine.run.perp_step``:
``kind`` ``"funding"`` and ``"liquidation"``), so a stored result keeps them without a
new frame; these functions turn them into frames and figures.

- ``funding_frame``: one row per payment: ``ts, symbol, qty, mark, rate, amount``
  (``amount`` > 0 received, < 0 paid).
- ``liquidations_frame``: one row per liquidation: ``ts, symbol, qty, price, fee``.
- ``margin_usage``: the perpetuals' initial margin in use over equity at each equity
  row (from the ``margin`` events, held until the next one).
- ``derivatives_summary``: per symbol funding paid and received, the liquidation count,
  and per side (long/short) the closed trades' count and PnL.

>>> events = [{"ts": 1, "kind": "funding", "symbol": "BTC/USDT:USDT", "qty": -2.0,
...            "mark": 100.0, "rate": 0.0001, "amount": 0.02}]
>>> funding_frame(events)["amount"].tolist()
[0.02]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

FUNDING_COLUMNS = ("ts", "symbol", "qty", "mark", "rate", "amount")
LIQUIDATION_COLUMNS = ("ts", "symbol", "qty", "price", "fee")


def _frame(events: Sequence[Mapping[str, Any]], kind: str, columns: tuple[str, ...]
           ) -> pd.DataFrame:
    rows = [[e[c] for c in columns] for e in events if e.get("kind") == kind]
    frame = pd.DataFrame(rows, columns=list(columns))
    return frame.astype({"ts": "int64", "symbol": "object",
                         **{c: "float64" for c in columns[2:]}})


def funding_frame(events: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The funding payments of a run's events (module docstring)."""
    return _frame(events, "funding", FUNDING_COLUMNS)


def liquidations_frame(events: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The liquidations of a run's events (module docstring)."""
    return _frame(events, "liquidation", LIQUIDATION_COLUMNS)


def has_derivatives(events: Sequence[Mapping[str, Any]]) -> bool:
    """True when a run traded perpetuals (it recorded margin, funding or liquidations)."""
    return any(e.get("kind") in ("margin", "funding", "liquidation") for e in events)


def margin_usage(events: Sequence[Mapping[str, Any]], equity: pd.DataFrame) -> np.ndarray:
    """Initial margin in use over equity at each row of ``equity`` (module docstring).

    >>> eq = pd.DataFrame({"ts": [1, 2, 3], "equity": [100.0, 100.0, 50.0]})
    >>> margin_usage([{"ts": 2, "kind": "margin", "used": 25.0}], eq).tolist()
    [0.0, 0.25, 0.5]
    """
    rows = [(int(e["ts"]), float(e["used"])) for e in events if e.get("kind") == "margin"]
    ts = equity["ts"].to_numpy(dtype=np.int64)
    used = np.zeros(ts.shape)
    if rows:
        at = np.array([r[0] for r in rows], dtype=np.int64)
        vals = np.array([r[1] for r in rows])
        i = np.searchsorted(at, ts, side="right") - 1
        used = np.where(i >= 0, vals[np.maximum(i, 0)], 0.0)
    eq = equity["equity"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(eq > 0.0, used / eq, np.nan)


def derivatives_summary(events: Sequence[Mapping[str, Any]], trades: pd.DataFrame
                        ) -> dict[str, Any]:
    """Funding per symbol (``paid`` as a positive number, ``received``, ``net``), the
    liquidations per symbol, and the closed trades per side (``n``, ``pnl``)."""
    funding = funding_frame(events)
    by_symbol: dict[str, dict[str, float]] = {}
    for symbol, group in funding.groupby("symbol", sort=True):
        amounts = group["amount"]
        by_symbol[str(symbol)] = {
            "paid": float(-amounts[amounts < 0].sum()),
            "received": float(amounts[amounts > 0].sum()),
            "net": float(amounts.sum()),
            "payments": float(len(amounts)),
        }
    liq = liquidations_frame(events)
    closed = trades[~trades["is_open"].astype(bool)] if len(trades) else trades
    sides = {}
    for side in ("long", "short"):
        part = closed[closed["side"] == side] if len(closed) else closed
        sides[side] = {"n": float(len(part)),
                       "pnl": float(part["pnl"].sum()) if len(part) else 0.0}
    return {
        "funding": by_symbol,
        "funding_net": float(funding["amount"].sum()) if len(funding) else 0.0,
        "liquidations": {str(s): float(n) for s, n in liq.groupby("symbol").size().items()},
        "sides": sides,
    }


__all__ = ["FUNDING_COLUMNS", "LIQUIDATION_COLUMNS", "derivatives_summary", "funding_frame",
           "has_derivatives", "liquidations_frame", "margin_usage"]
