"""The building blocks of every settings model: strict, frozen pydantic bases, the shared
field types (``Timeframe``, ``Symbols``) and the one ``config_hash``.

Each schema lives beside what it configures (``engine/risk/config.py``,
``engine/sim/config.py``, ``research/ml/config.py``, ...) and derives from
:class:`StrictModel`: frozen, unknown keys refused, so a misspelt key is an error, not
a silently ignored setting. Reading files into these models is an adapter's job
(``adapters/config/files.py``). :func:`config_hash` gives the stable id of a validated
settings model (or of a JSON-able mapping of settings) that goes into every run manifest;
it is the one settings hash of the project (deployment specs, risk profiles, model
training configs, feature and label specs, universe rules, backtest manifests).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.timeframes import timeframe_to_ms


def check_timeframe(value: str) -> str:
    """Field validator body shared by every config with a ``timeframe`` ('1h', '15m'...).

    Raises ValueError so pydantic reports it with the file and field path.
    """
    try:
        timeframe_to_ms(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return value


def check_symbols(value: list[str]) -> list[str]:
    """Field validator body shared by every config with ``symbols``: BASE/QUOTE, no repeats."""
    for symbol in value:
        if "/" not in symbol:
            raise ValueError(f"symbol {symbol!r} must look like BASE/QUOTE, e.g. 'BTC/USDT'")
    if len(set(value)) != len(value):
        raise ValueError("symbols must not repeat")
    return value


#: A ccxt timeframe name, checked ('1h', '15m', ...); use as a field type.
Timeframe = Annotated[str, AfterValidator(check_timeframe)]
#: One or more BASE/QUOTE symbols without repeats; use as a field type.
Symbols = Annotated[list[str], Field(min_length=1), AfterValidator(check_symbols)]


class StrictModel(BaseModel):
    """Base for every config section: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def canonical_json(data: Any) -> str:
    """``data`` as canonical JSON: sorted keys, no spaces, ASCII (what ``config_hash`` hashes).

    Non-finite floats are written as ``NaN``/``Infinity`` (deterministic, if not strict JSON):
    refusing them is the settings model's job, not the hash's.

    >>> canonical_json({"b": 1, "a": [1.5, "x"]})
    '{"a":[1.5,"x"],"b":1}'
    """
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def config_hash(config: BaseModel | Mapping[str, Any]) -> str:
    """Stable sha256 (hex) of a validated settings model or a JSON-able mapping of settings.

    A model is hashed as its JSON dump (``model_dump(mode="json")``), so a model and the
    mapping it dumps to have the same hash.

    >>> class Fees(StrictModel):
    ...     fee_rate: float = 0.001
    >>> config_hash(Fees()) == config_hash(Fees(fee_rate=0.001)) != config_hash(Fees(fee_rate=0.002))
    True
    >>> config_hash({"fee_rate": 0.001}) == config_hash(Fees())
    True
    """
    data = config.model_dump(mode="json") if isinstance(config, BaseModel) else config
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


__all__ = ["StrictModel", "Symbols", "Timeframe", "canonical_json", "check_symbols",
           "check_timeframe", "config_hash"]
