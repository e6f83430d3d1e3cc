"""A perpetual swap's contract terms from ccxt: markets plus leverage tiers -> ``ContractSpec``.

Why here: the engine's ``ContractSpec`` (``engine.contracts``) must carry the venue's
terms in backtests (the market snapshot ``tradeloom ingest`` stores) and in paper and
live sessions (read at start), and both read them the same way, at the ccxt edge:

- ``contractSize``, ``linear`` and ``settle`` from ccxt's market (Binance USDⓈ-M: one
  base unit per contract, linear, settled in USDT);
- the liquidation (clearance) fee from the venue's own market info where it publishes
  one (Binance exchangeInfo ``liquidationFee``), else the engine's default;
- the notional brackets from ccxt ``fetch_leverage_tiers`` (Binance ``GET
  /fapi/v1/leverageBracket``): ``minNotional``/``maxNotional``, ``maxLeverage``,
  ``maintenanceMarginRate`` and the maintenance amount ``cum`` (Binance's field, kept in
  the tier's ``info``; when a venue gives none it is derived from the brackets with
  Binance's rule ``cum_n = floor_n * (mmr_n - mmr_{n-1}) + cum_{n-1}``). The last tier's
  cap is open (``inf``): a position beyond the venue's last cap is refused by the venue
  itself, not by a made-up bracket.

A market that is not a swap gets no contract (``None``). A swap without tiers gets the
engine's default brackets, and ``source`` says so.

>>> market = {"swap": True, "linear": True, "settle": "USDT", "contractSize": 1.0,
...           "info": {"liquidationFee": "0.012500"}}
>>> tiers = [{"minNotional": 0, "maxNotional": 50000, "maxLeverage": 125,
...           "maintenanceMarginRate": 0.004, "info": {"cum": "0.0"}},
...          {"minNotional": 50000, "maxNotional": 600000, "maxLeverage": 100,
...           "maintenanceMarginRate": 0.005, "info": {"cum": "50.0"}}]
>>> spec = contract_from_ccxt(market, tiers, exchange_id="binanceusdm")
>>> spec.brackets[1].cum, spec.brackets[1].cap, spec.liquidation_fee, spec.settle
(50.0, inf, 0.0125, 'USDT')
>>> contract_from_ccxt({"spot": True}, None) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tradeloom.engine.contracts import (
    DEFAULT_BRACKETS,
    DEFAULT_LIQUIDATION_FEE,
    ContractSpec,
    LeverageBracket,
)
from tradeloom.engine.errors import ConfigError


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def brackets_from_tiers(tiers: Sequence[Mapping[str, Any]], *, symbol: str = ""
                        ) -> tuple[LeverageBracket, ...]:
    """ccxt leverage tiers (ascending notional) as the engine's brackets (module docstring)."""
    rows = sorted(tiers, key=lambda t: _number(t.get("minNotional")) or 0.0)
    out: list[LeverageBracket] = []
    for i, tier in enumerate(rows):
        floor = _number(tier.get("minNotional")) or 0.0
        cap = _number(tier.get("maxNotional"))
        last = i == len(rows) - 1
        lev, mmr = _number(tier.get("maxLeverage")), _number(tier.get("maintenanceMarginRate"))
        if lev is None or mmr is None:
            raise ConfigError(f"{symbol}: leverage tier {i + 1} lacks maxLeverage or "
                              f"maintenanceMarginRate ({dict(tier)}); the venue's "
                              "fetch_leverage_tiers answer is incomplete")
        info = tier.get("info") or {}
        cum = _number(info.get("cum")) if isinstance(info, Mapping) else None
        if cum is None:
            cum = 0.0 if not out else floor * (mmr - out[-1].mmr) + out[-1].cum
        if out and floor != out[-1].cap:  # a venue rounding its floors: join the tiers
            floor = out[-1].cap
        out.append(LeverageBracket(floor, math.inf if last or cap is None else cap, lev, mmr,
                                   cum))
    return tuple(out)


def contract_from_ccxt(market: Mapping[str, Any], tiers: Sequence[Mapping[str, Any]] | None,
                       *, exchange_id: str = "") -> ContractSpec | None:
    """The ``ContractSpec`` of a ccxt swap market (``None`` for anything else)."""
    if not market.get("swap"):
        return None
    symbol = str(market.get("symbol", ""))
    info = market.get("info") or {}
    fee = _number(info.get("liquidationFee")) if isinstance(info, Mapping) else None
    size = _number(market.get("contractSize")) or 1.0
    brackets = brackets_from_tiers(tiers, symbol=symbol) if tiers else DEFAULT_BRACKETS
    source = (f"{exchange_id or 'venue'} leverage tiers" if tiers else
              "default brackets (the venue's leverage tiers were not available)")
    return ContractSpec(brackets=brackets, contract_size=size,
                        linear=market.get("linear") is not False,
                        settle=str(market.get("settle") or ""),
                        liquidation_fee=DEFAULT_LIQUIDATION_FEE if fee is None else fee,
                        source=source)


__all__ = ["brackets_from_tiers", "contract_from_ccxt"]
