"""Rule files on disk: read (TOML or JSON), write (TOML, atomically), and turn into a strategy class.

``load_rule_strategy("examples/rules/sma_cross.toml")`` returns a ``RuleStrategy``
subclass named after the file's ``name`` (its strategy id), with one ``Param`` per
number of the file (``numeric_fields``) so sweeps vary any of them
(``--grid indicators.fast.period=5:50:5``). The class lives in a module registered
under the file's path, so ``strategy_ref`` gives worker processes the path to load
again and the backtest manifest hashes the file's text as the strategy's source.

>>> cls = load_rule_strategy(EXAMPLES / "sma_cross.toml")
>>> cls.__name__, sorted(cls.params())
('SmaCross', ['indicators.fast.period', 'indicators.slow.period', 'sizing.percent'])
>>> cls(**{"indicators.fast.period": 20}).ruleset.indicators["fast"].params
{'period': 20}
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import tomllib
import types
from pathlib import Path
from typing import Any

from tradeloom.adapters.store.locations import PROJECT_ROOT
from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.strategy.params import Param
from tradeloom.research.rules.document import numeric_fields, to_toml
from tradeloom.research.rules.schema import RuleSet, validate_rules
from tradeloom.research.rules.strategy import RuleStrategy

__all__ = ["EXAMPLES", "RULE_SUFFIXES", "is_rule_file", "load_rule_strategy", "parse_rule_text",
           "read_rule_file", "rule_defaults", "rule_strategy_class", "write_rule_file"]

RULE_SUFFIXES = (".toml", ".json")
EXAMPLES = PROJECT_ROOT / "examples" / "rules"
_MODULE_PREFIX = "tradeloom_user_strategy_rules_"  # jobs.strategy_ref reads it as a file class


def is_rule_file(spec: str | os.PathLike[str]) -> bool:
    """Whether a strategy spec names a rule file (``.toml``/``.json``, optionally ``:Name``)."""
    text = str(spec).strip()
    target = text.rpartition(":")[0] if re.search(r"\.(toml|json):[^/\\]*$", text, re.I) else text
    return target.lower().endswith(RULE_SUFFIXES)


def _split(spec: str | os.PathLike[str]) -> tuple[Path, str]:
    text = str(spec).strip()
    m = re.search(r"\.(toml|json):([^/\\]*)$", text, re.I)
    if m:
        return Path(text[: m.start(2) - 1]), m.group(2)
    return Path(text), ""


def parse_rule_text(text: str, source: str, fmt: str = "toml") -> RuleSet:
    """A ``RuleSet`` from TOML (or JSON) text; errors name ``source`` and each field path."""
    try:
        data = json.loads(text) if fmt == "json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{source}: not valid {fmt.upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a table of rule settings")
    return validate_rules(data, source)


def read_rule_file(path: str | os.PathLike[str]) -> RuleSet:
    """Read and validate a rule file (``.toml`` or ``.json``)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"rule file {str(p)!r} not found (relative paths are read from "
                          f"{str(Path.cwd())!r})")
    fmt = "json" if p.suffix.lower() == ".json" else "toml"
    return parse_rule_text(p.read_text(encoding="utf-8"), str(p), fmt)


def write_rule_file(rules: RuleSet, path: str | os.PathLike[str]) -> Path:
    """Write ``rules`` as TOML at ``path`` atomically (a temporary file, then a rename)."""
    p = Path(path)
    if p.suffix.lower() != ".toml":
        raise ConfigError(f"{p}: rule files are written as .toml")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(to_toml(rules))
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def _class_name(name: str) -> str:
    if name.isidentifier() and not name[0].islower() and "_" not in name:
        return name
    parts = re.split(r"[^0-9A-Za-z]+", name)
    out = "".join(p[:1].upper() + p[1:] for p in parts if p) or "Rules"
    return out if out[0].isalpha() else f"Rules{out}"


def load_rule_strategy(spec: str | os.PathLike[str], class_name: str = "") -> type[RuleStrategy]:
    """The ``RuleStrategy`` subclass of a rule file (see the module docstring)."""
    path, named = _split(spec)
    try:
        rules = read_rule_file(path)
    except ConfigError as exc:
        raise StrategyError(str(exc)) from None
    cls = rule_strategy_class(rules, path.resolve())
    wanted = class_name or named
    if wanted and wanted != cls.__name__:
        raise StrategyError(f"strategy {str(spec)!r}: the rule file defines {cls.__name__!r} (from "
                            f"its name {rules.name!r}), not {wanted!r}")
    return cls


def rule_strategy_class(rules: RuleSet, path: Path | None = None) -> type[RuleStrategy]:
    """A ``RuleStrategy`` subclass for ``rules`` (read from ``path``, when it was).

    Without a path (rules built in memory, e.g. by tests or the builder) the class's
    module is named after the rules' canonical TOML; worker processes cannot load
    such a class by reference: save the rules to a file to sweep them on a pool.
    """
    key = str(path) if path is not None else to_toml(rules)
    cls_name = _class_name(rules.name)
    module_name = _MODULE_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:12]
    module = types.ModuleType(module_name, f"Rule strategy from {path or 'memory'}")
    if path is not None:
        module.__file__ = str(path)
    attrs: dict[str, Any] = {"__module__": module_name, "__qualname__": cls_name,
                             "__doc__": rules.description or f"Rule strategy {rules.name}",
                             "rules": rules, "rule_file": str(path or ""), "strategy_id": rules.name}
    for key, value in numeric_fields(rules).items():
        attrs[key] = Param(int if isinstance(value, int) else float, value,
                           help=f"the rule file's {key}")
    cls = type(cls_name, (RuleStrategy,), attrs)
    setattr(module, cls_name, cls)
    sys.modules[module_name] = module  # pickling, inspect and strategy_ref find it by name
    return cls


def rule_defaults(spec: str | os.PathLike[str]) -> dict[str, Any]:
    """What a rule file says about the run: ``symbols``, ``timeframe``, ``risk_profile``."""
    path, _ = _split(spec)
    rules = read_rule_file(path)
    return {"symbols": list(rules.symbols), "timeframe": rules.timeframe,
            "risk_profile": rules.risk_profile}
