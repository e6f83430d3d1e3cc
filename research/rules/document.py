"""A rule set as a document: the canonical dict, its numeric fields, and TOML text.

``to_document`` is the file's layout (indicator parameters flat in their table,
defaults left out), so ``validate_rules(to_document(r)) == r``. Every number in it is
addressable by its dotted path (``indicators.fast.period``, ``exit.take_profit.0.at``,
``entry.when.all.1.right``): ``numeric_fields`` lists them (they become the rule
strategy's params, so sweeps can vary any of them) and ``with_values`` sets some.
``to_toml`` writes the document as TOML that ``tomllib`` reads back to it.

>>> from tradeloom.research.rules.schema import validate_rules
>>> doc = {"symbols": ["BTC/USDT"], "timeframe": "1h",
...        "indicators": {"fast": {"kind": "sma", "period": 10}},
...        "entry": {"when": {"left": "close", "op": ">", "right": "fast"}},
...        "exit": {"stop_loss": 0.02}}
>>> rules = validate_rules(doc)
>>> numeric_fields(rules)
{'indicators.fast.period': 10, 'exit.stop_loss': 0.02, 'sizing.percent': 1.0}
>>> with_values(rules, {"indicators.fast.period": 20}).indicators["fast"].params
{'period': 20}
>>> print(to_toml(rules), end="")
name = "rules"
symbols = ["BTC/USDT"]
timeframe = "1h"
<BLANKLINE>
[indicators.fast]
kind = "sma"
period = 10
<BLANKLINE>
[entry]
side = "long"
when = { left = "close", op = ">", right = "fast" }
<BLANKLINE>
[exit]
stop_loss = 0.02
<BLANKLINE>
[sizing]
kind = "percent_equity"
percent = 1.0
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from tradeloom.research.rules.schema import AllOf, AnyOf, Compare, NotOf, RuleSet, validate_rules

__all__ = ["condition_document", "doc_to_toml", "numeric_fields", "to_document", "to_toml",
           "with_values"]


def condition_document(c: Any) -> dict[str, Any]:
    """A condition as its file table (``for_bars`` only when not 1)."""
    if isinstance(c, Compare):
        out: dict[str, Any] = {"left": c.left, "op": c.op.value, "right": c.right}
    elif isinstance(c, AllOf):
        out = {"all": [condition_document(k) for k in c.all]}
    elif isinstance(c, AnyOf):
        out = {"any": [condition_document(k) for k in c.any]}
    elif isinstance(c, NotOf):
        out = {"not": condition_document(c.not_)}
    else:
        raise TypeError(f"not a condition: {c!r}")
    if c.for_bars != 1:
        out["for_bars"] = c.for_bars
    return out


def to_document(rules: RuleSet) -> dict[str, Any]:
    """The canonical file layout of ``rules`` (see the module docstring)."""
    doc: dict[str, Any] = {"name": rules.name}
    if rules.description:
        doc["description"] = rules.description
    doc["symbols"] = list(rules.symbols)
    doc["timeframe"] = rules.timeframe
    if rules.risk_profile is not None:
        doc["risk_profile"] = rules.risk_profile
    doc["indicators"] = {}
    for name, ind in rules.indicators.items():
        table: dict[str, Any] = {"kind": ind.kind}
        if ind.source != "close":
            table["source"] = ind.source
        table.update(ind.params)
        doc["indicators"][name] = table
    doc["entry"] = {"side": rules.entry.side.value, "when": condition_document(rules.entry.when)}
    ex: dict[str, Any] = {}
    if rules.exit.when is not None:
        ex["when"] = condition_document(rules.exit.when)
    for key in ("stop_loss",):
        if getattr(rules.exit, key) is not None:
            ex[key] = getattr(rules.exit, key)
    if rules.exit.take_profit:
        ex["take_profit"] = [{"at": tp.at, "fraction": tp.fraction} for tp in rules.exit.take_profit]
    for key in ("trailing_stop", "time_stop"):
        if getattr(rules.exit, key) is not None:
            ex[key] = getattr(rules.exit, key)
    doc["exit"] = ex
    doc["sizing"] = rules.sizing.model_dump(mode="json")
    return doc


def _leaves(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, f"{path}.{i}")
    else:
        yield path, node


def numeric_fields(rules: RuleSet) -> dict[str, int | float]:
    """Every number of the document by dotted path, in file order (ints stay ints)."""
    return {p: v for p, v in _leaves(to_document(rules), "")
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def with_values(rules: RuleSet, values: Mapping[str, Any], source: str = "rule file") -> RuleSet:
    """``rules`` with the numbers at these paths replaced, validated again."""
    doc = copy.deepcopy(to_document(rules))
    for path, value in values.items():
        parts = path.split(".")
        node: Any = doc
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return validate_rules(doc, source)


# ----------------------------------------------------------------------------- TOML


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"{v!r} has no TOML form in a rule file")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if k.replace("_", "a").replace("-", "a").isalnum() else json.dumps(k)


def _condition_toml(cond: Mapping[str, Any], indent: str) -> str:
    """A condition inline; ``all``/``any`` lists one child per line (inside a TOML array)."""
    for key in ("all", "any"):
        if key in cond:
            inner = indent + "  "
            kids = "".join(f"{inner}{_condition_toml(k, inner)},\n" for k in cond[key])
            rest = "".join(f", {_key(k)} = {_toml_value(v)}" for k, v in cond.items() if k != key)
            return f"{{ {key} = [\n{kids}{indent}]{rest} }}"
    if "not" in cond:
        rest = "".join(f", {_key(k)} = {_toml_value(v)}" for k, v in cond.items() if k != "not")
        return f"{{ not = {_condition_toml(cond['not'], indent)}{rest} }}"
    return _toml_value(dict(cond))  # a comparison: one inline table


def to_toml(rules: RuleSet) -> str:
    """The rule file as TOML text (the canonical document; comments are not kept)."""
    return doc_to_toml(to_document(rules))


def doc_to_toml(doc: Mapping[str, Any]) -> str:
    """A document in the rule-file layout as TOML text, valid or not (the builder shows
    the file an invalid form would write, next to its problems)."""
    lines = [f"{_key(k)} = {_toml_value(doc[k])}"
             for k in ("name", "description", "symbols", "timeframe", "risk_profile") if k in doc]
    for name, table in (doc.get("indicators") or {}).items():
        lines += ["", f"[indicators.{_key(name)}]"]
        lines += [f"{_key(k)} = {_toml_value(v)}" for k, v in table.items()]
    for section in ("entry", "exit", "sizing"):
        if section not in doc:
            continue
        lines += ["", f"[{section}]"]
        for k, v in doc[section].items():
            text = _condition_toml(v, "") if k == "when" and isinstance(v, Mapping) else _toml_value(v)
            lines.append(f"{_key(k)} = {text}")
    return "\n".join(lines) + "\n"
