"""A session's perpetual settings: the config's ``[perps]`` applied to the engine, and the
settings in force recorded.

Why its own module: paper, live (``app.session``) and ``replay`` must apply the same
``[perps]`` margin mode and leverage to the engine's portfolio before the strategy's
``on_start`` (whose own ``set_leverage``/``set_margin_mode`` calls come after and win),
and the runner journals what is in force once ``on_start`` ran (``perp_settings``
record), so an operator sees the leverage a session traded at.

>>> from tradeloom.engine.accounting.portfolio import Portfolio
>>> from tradeloom.engine.contracts import ContractSpec
>>> from tradeloom.engine.market import MarketSpec
>>> markets = {"BTC/USDT:USDT": MarketSpec("BTC/USDT:USDT", contract=ContractSpec())}
>>> pf = Portfolio(10_000.0, markets=markets)
>>> apply_perp_settings(pf, {"margin_mode": "isolated", "leverage": {"BTC/USDT:USDT": 3}},
...                     markets)
>>> pf.perp("BTC/USDT:USDT").leverage, pf.perp("BTC/USDT:USDT").mode.value
(3.0, 'isolated')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.run.loop import Engine


def apply_perp_settings(portfolio: Portfolio, perps: Mapping[str, Any],
                        markets: Mapping[str, MarketSpec]) -> None:
    """The config's ``[perps]`` (as ``session_info`` records it) in the engine's portfolio,
    before the strategy's ``on_start``: paper, live (after the venue accepted them) and
    replay apply the same settings."""
    mode = perps.get("margin_mode")
    leverage = perps.get("leverage") or {}
    for symbol in sorted(s for s in markets if portfolio.is_perp(s)):
        if mode is not None:
            portfolio.set_margin_mode(symbol, str(mode))
        if symbol in leverage:
            portfolio.set_leverage(symbol, float(leverage[symbol]))


def perp_settings(engine: Engine) -> dict[str, dict[str, object]]:
    """The leverage and margin mode of each perpetual the engine trades (after the
    strategy's ``on_start``): the ``perp_settings`` record."""
    pf = engine.portfolio
    return {s: {"leverage": pf.perp(s).leverage, "margin_mode": pf.perp(s).mode.value}
            for s in engine.symbols if pf.is_perp(s)}


__all__ = ["apply_perp_settings", "perp_settings"]
