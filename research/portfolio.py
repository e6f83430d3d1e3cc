"""A portfolio of strategies from a config: ``[[sleeve]]`` tables into a ``StrategyPortfolio``.

In a backtest or paper/live TOML file, instead of one ``strategy`` and its ``params``::

    timeframe = "1h"

    [[sleeve]]
    id = "trend"                                   # optional, default: the class name
    strategy = "research/strategies/sma_cross.py:SmaCross"
    params = { fast = 10, slow = 50 }
    symbols = ["BTC/USDT"]
    budget_pct = 0.5                               # share of the account's equity
    max_position_pct = 0.5                         # optional caps, fractions of equity
    max_open_positions = 1

    [[sleeve]]
    id = "reversion"
    strategy = "research/strategies/rsi_reversion.py:RsiReversion"
    symbols = ["ETH/USDT", "SOL/USDT"]
    budget_pct = 0.4

The tables become one strategy, ``StrategyPortfolio`` (an
``engine.strategy.sleeves.SleevePortfolio`` whose one param, ``spec``, is the sleeves as
JSON), with the run's symbols the union of the sleeves'. Everything downstream - the
manifest, a paper session's journal, replay, regress - sees an ordinary strategy and
its params; each composition root adds the sleeves' budgets and caps to the run's
``RiskEngine`` (``sleeves.portfolio_risk``).

In Python, build the sleeves directly::

    from tradeloom.engine.strategy.sleeves import Sleeve, SleevePortfolio
    book = SleevePortfolio([Sleeve("trend", SmaCross(fast=10), ["BTC/USDT"], 0.5),
                            Sleeve("reversion", RsiReversion(), ["ETH/USDT"], 0.4)])
    run_backtest(book, book.symbols, "1h", "2021-01-01", None, store="datasets/catalog")

>>> spec = portfolio_spec([{"strategy": "tradeloom.research.strategies.sma_cross:SmaCross",
...                         "symbols": ["BTC/USDT"], "budget_pct": 0.5, "params": {"fast": 5}}])
>>> book = StrategyPortfolio(spec=spec)
>>> [(s.id, s.strategy.params_dict(), s.budget_pct) for s in book.sleeves]
[('SmaCross', {'fast': 5, 'slow': 50}, 0.5)]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field, ValidationError

from tradeloom.engine.config import StrictModel, Symbols
from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.strategy.base import Param
from tradeloom.engine.strategy.sleeves import Sleeve, SleevePortfolio
from tradeloom.research.strategy_loader import load_strategy

#: How configs name the portfolio strategy (``strategy = PORTFOLIO_REF`` in a journal).
PORTFOLIO_REF = "tradeloom.research.portfolio:StrategyPortfolio"


class SleeveSettings(StrictModel):
    """One ``[[sleeve]]`` table (see the module docstring)."""

    id: str | None = Field(None, description="sleeve id (default: the strategy's class name)")
    strategy: str = Field(description="'path/to/file.py:Class' or 'package.module:Class'")
    params: dict[str, Any] = Field(default_factory=dict)
    symbols: Symbols
    budget_pct: float = Field(gt=0.0, le=1.0, description="share of the account's equity")
    max_position_pct: float | None = Field(None, gt=0.0, le=1.0)
    max_open_positions: int | None = Field(None, ge=1)


def portfolio_spec(sleeves: Sequence[Mapping[str, Any] | SleeveSettings]) -> str:
    """The sleeves as the canonical JSON of ``StrategyPortfolio(spec=...)`` (validated)."""
    items = []
    for i, raw in enumerate(sleeves):
        try:
            one = raw if isinstance(raw, SleeveSettings) else SleeveSettings.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"sleeve[{i}].{where}: {err['msg']}") from None
        items.append(one.model_dump(mode="json"))
    return json.dumps(items, sort_keys=True, separators=(",", ":"))


class StrategyPortfolio(SleevePortfolio):
    """A ``SleevePortfolio`` built from its ``spec`` (the ``[[sleeve]]`` tables as JSON)."""

    spec = Param(str, "[]", help="the sleeves as JSON (see tradeloom.research.portfolio)")

    def __init__(self, **params: Any) -> None:
        super(SleevePortfolio, self).__init__(**params)  # Strategy: params, then validate()

    def validate(self) -> None:
        try:
            raw = json.loads(self.spec)
        except json.JSONDecodeError as exc:
            raise StrategyError(f"spec is not valid JSON ({exc})") from None
        if not isinstance(raw, list) or not raw:
            raise StrategyError("spec must be a JSON list of sleeves (the [[sleeve]] tables)")
        sleeves = []
        for i, item in enumerate(json.loads(portfolio_spec(raw))):
            cls = load_strategy(item["strategy"])
            try:
                strategy = cls(**item["params"])
            except StrategyError as exc:
                raise StrategyError(f"sleeve[{i}] ({item['strategy']}): {exc}") from None
            sleeves.append(Sleeve(item["id"] or cls.__name__, strategy, item["symbols"],
                                  item["budget_pct"], item["max_position_pct"],
                                  item["max_open_positions"]))
        self._set_sleeves(sleeves)


def portfolio_fields(data: dict[str, Any], where: str) -> dict[str, Any]:
    """A config's ``sleeve`` tables turned into ``strategy``, ``params`` and ``symbols``
    (the other keys kept); ``data`` unchanged without them. For the settings models'
    before-validators."""
    sleeves = data.get("sleeve")
    if sleeves is None:
        return data
    if not isinstance(sleeves, list) or not sleeves:
        raise ConfigError(f"{where}: [[sleeve]] must be a list of tables, one per strategy")
    if data.get("strategy") not in (None, "", PORTFOLIO_REF):
        raise ConfigError(f"{where}: give either strategy (one strategy) or [[sleeve]] tables "
                          "(a portfolio), not both")
    if data.get("params"):
        raise ConfigError(f"{where}: with [[sleeve]] tables, params go into each sleeve "
                          "(params = {...} in its table)")
    spec = portfolio_spec(sleeves)
    union = sorted({s for item in json.loads(spec) for s in item["symbols"]})
    given = data.get("symbols")
    if given and sorted(given) != union:
        raise ConfigError(f"{where}: symbols {list(given)} differ from the sleeves' symbols "
                          f"{union}; leave symbols out with [[sleeve]] tables")
    out = {k: v for k, v in data.items() if k != "sleeve"}
    out.update(strategy=PORTFOLIO_REF, params={"spec": spec}, symbols=union)
    return out


__all__ = ["PORTFOLIO_REF", "SleeveSettings", "StrategyPortfolio", "portfolio_fields",
           "portfolio_spec"]
