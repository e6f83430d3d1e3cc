"""What the visual strategy builder (``tradeloom serve``, ``/builder``) does, without HTTP.

The page edits a rule *document* (the dict layout of a rule file, see
``research.rules.document``); everything it asks the server goes through here:

- ``builder_meta``: the catalog's datasets (exchange, timeframe, symbol, range), the
  indicator library (parameters with types and defaults, outputs, inputs), operators,
  bar fields, sizing kinds and risk profiles: what the page's lists offer.
- ``check_document``: validation with every problem's field path (the page shows each
  next to its field) and the TOML the document is (best effort when invalid).
- ``rule_files`` / ``read_document``: the rule files it can load (``examples/rules`` and
  the rules folder), as documents.
- ``save_document``: validated, written atomically as ``<rules folder>/<name>.toml``.
- ``backtest_document``: the document backtested on the catalog through the same
  composition as ``tradeloom backtest`` (a rule file written to a work folder), and the
  HTML report of ``research.reports``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradeloom.adapters.config.risk_profiles import list_profiles
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.indicators.registry import INDICATORS
from tradeloom.research.backtest_settings import BacktestSettings
from tradeloom.research.rules.document import doc_to_toml, to_document, to_toml
from tradeloom.research.rules.files import EXAMPLES, read_rule_file, write_rule_file
from tradeloom.research.rules.schema import (
    FIELDS,
    Op,
    RuleFileError,
    RuleSet,
    param_types,
    validate_rules,
)

__all__ = ["BuilderRun", "backtest_document", "builder_meta", "check_document", "read_document",
           "rule_files", "save_document"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SIZINGS = {
    "percent_equity": {"percent": 1.0},
    "fixed_amount": {"amount": 1000.0},
    "volatility_target": {"target": 0.5, "lookback": 48, "max_percent": 1.0},
    "confidence": {"model": "", "scale": 1.0, "min_confidence": 0.5},
}


def _indicator_meta() -> dict[str, Any]:
    out = {}
    for kind, spec in sorted(INDICATORS.items()):
        sig = inspect.signature(spec.stream.__init__)
        types = param_types(kind)
        params = []
        for name, p in sig.parameters.items():
            if name == "self":
                continue
            required = p.default is inspect.Parameter.empty
            params.append({"name": name, "type": types[name].__name__, "required": required,
                           "default": None if required else p.default})
        out[kind] = {"params": params, "outputs": list(spec.outputs), "inputs": list(spec.inputs),
                     "single_input": len(spec.inputs) == 1}
    return out


def builder_meta(store: Any) -> dict[str, Any]:
    """The lists the page offers (see the module docstring)."""
    datasets = [{"exchange": d.exchange, "timeframe": d.timeframe, "symbol": d.symbol,
                 "first_ts": d.first_ts, "last_ts": d.last_ts}
                for d in store.list_datasets()]
    return {
        "datasets": datasets,
        "indicators": _indicator_meta(),
        "ops": [o.value for o in Op],
        "fields": list(FIELDS),
        "sizing": SIZINGS,
        "risk_profiles": list_profiles(),
    }


def check_document(doc: Any, source: str = "builder") -> dict[str, Any]:
    """``{"ok", "problems": [{"path", "message"}], "toml", "document"}`` for a document."""
    try:
        rules = validate_rules(doc, source)
    except RuleFileError as exc:
        try:
            text = doc_to_toml(doc)
        except (TypeError, ValueError, KeyError, AttributeError):
            text = json.dumps(doc, indent=2)
        return {"ok": False, "problems": [{"path": p, "message": m} for p, m in exc.problems],
                "toml": text, "document": doc}
    return {"ok": True, "problems": [], "toml": to_toml(rules), "document": to_document(rules)}


def rule_files(rules_dir: Path | None) -> list[dict[str, str]]:
    """Rule files the page can load: the examples, then the rules folder's."""
    out = [{"source": "examples", "name": p.name} for p in sorted(EXAMPLES.glob("*.toml"))]
    if rules_dir is not None and rules_dir.is_dir():
        out += [{"source": "rules", "name": p.name} for p in sorted(rules_dir.glob("*.toml"))]
    return out


def _file(source: str, name: str, rules_dir: Path | None) -> Path:
    if not name.endswith(".toml") or not _NAME.match(name[:-5]):
        raise ConfigError(f"rule file name {name!r}: letters, digits, _ and -, ending in .toml")
    if source == "examples":
        return EXAMPLES / name
    if source == "rules" and rules_dir is not None:
        return rules_dir / name
    raise ConfigError(f"unknown rule file source {source!r}: examples or rules")


def read_document(source: str, name: str, rules_dir: Path | None) -> dict[str, Any]:
    """A rule file as ``check_document`` reports it (its canonical document and TOML)."""
    path = _file(source, name, rules_dir)
    rules = read_rule_file(path)
    return {"ok": True, "problems": [], "toml": to_toml(rules), "document": to_document(rules),
            "file": {"source": source, "name": name}}


def save_document(doc: Any, name: str, rules_dir: Path) -> dict[str, Any]:
    """Validate ``doc`` and write it as ``rules_dir/<name>.toml``; problems instead when invalid."""
    stem = name[:-5] if name.endswith(".toml") else name
    if not _NAME.match(stem):
        raise ConfigError(f"file name {name!r}: use letters, digits, _ and - (e.g. my_breakout)")
    checked = check_document(doc, f"{stem}.toml")
    if not checked["ok"]:
        return checked
    path = write_rule_file(validate_rules(doc), rules_dir / f"{stem}.toml")
    return {**checked, "file": {"source": "rules", "name": path.name}, "path": str(path)}


@dataclass(frozen=True)
class BuilderRun:
    """A finished builder backtest: its id, metrics, counts and the report file."""

    run_id: str
    metrics: dict[str, float]
    trades: int
    fills: int
    report: Path
    engine_note: str


def backtest_document(doc: Any, store: Any, workdir: Path, *, start: str | None = None,
                      end: str | None = None, exchange: str = "binance") -> BuilderRun:
    """Backtest the document on the catalog as ``tradeloom backtest <file>`` would, and
    write its report; ``RuleFileError`` (with the problems) when the document is invalid."""
    from tradeloom.app.backtest import run_from_settings
    from tradeloom.engine.timeutil import parse_utc_ms
    from tradeloom.research.reports.report import render_report

    rules: RuleSet = validate_rules(doc, "builder")
    text = to_toml(rules)
    run_id = hashlib.sha256(json.dumps([text, start, end, exchange]).encode()).hexdigest()[:16]
    workdir.mkdir(parents=True, exist_ok=True)
    path = write_rule_file(rules, workdir / f"builder-{run_id}.toml")
    settings = BacktestSettings(strategy=str(path), symbols=list(rules.symbols),
                                timeframe=rules.timeframe, exchange=exchange, start=start, end=end,
                                risk_profile=rules.risk_profile)
    result = run_from_settings(settings, store)
    bars = store.read_bars(exchange, rules.timeframe, list(rules.symbols),
                           parse_utc_ms(start, "start") if start else None,
                           parse_utc_ms(end, "end") if end else None)
    report = render_report(result, workdir / f"report-{run_id}.html", bars=bars,
                           title=f"{rules.name}: rule strategy backtest")
    note = (f"risk profile {rules.risk_profile} applied" if rules.risk_profile else "no risk profile")
    return BuilderRun(run_id, {k: float(v) for k, v in result.metrics.items()}, len(result.trades),
                      len(result.fills), report, note)


def metrics_json(metrics: Mapping[str, float]) -> dict[str, float | None]:
    """Metrics with NaN/inf as null (JSON has no NaN)."""
    return {k: (v if v == v and abs(v) != float("inf") else None) for k, v in metrics.items()}
