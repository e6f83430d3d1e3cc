"""The building blocks of every settings model: strict, frozen pydantic bases, the shared
field types (``Timeframe``, ``Symbols``) and the one ``config_hash``.

Each schema lives beside what it configures (``engine/risk/config.py``,
``engine/sim/config.py``, ``research/ml/config.py``, ...) and derives from
:class:`StrictModel`: frozen, unknown keys refused, so a misspelt key is an error, not
a silently ignored setting. Reading files into these models is an adapter's job
(``adapters/config/files.py``). ``config_hash`` gives the stable id of a validated
settings model that goes into every run manifest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

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


def config_hash(config: BaseModel) -> str:
    """Stable sha256 of a config's canonical JSON (sorted keys), for run manifests.

    >>> class Fees(StrictModel):
    ...     fee_rate: float = 0.001
    >>> config_hash(Fees()) == config_hash(Fees(fee_rate=0.001)) != config_hash(Fees(fee_rate=0.002))
    True
    """
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


__all__ = ["StrictModel", "Symbols", "Timeframe", "check_symbols", "check_timeframe", "config_hash"]
