"""Load a user's ``Strategy`` class from ``path/to/file.py:ClassName``, ``package.module:ClassName``
or a rule file (``rules.toml`` / ``rules.json``, see ``tradeloom.research.rules``).

Every failure is a ``StrategyError`` that says what was tried and what to fix:
a missing file, a syntax error (with file and line), an import error inside the
file, a missing class (with the Strategy classes the file does define), or a
name that is not a ``Strategy`` subclass. ``ClassName`` may be omitted when the
file defines exactly one Strategy subclass.

>>> load_strategy("tradeloom.engine.strategy.base:Strategy") is Strategy
True
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from tradeloom.engine.errors import StrategyError, TradeloomError
from tradeloom.engine.strategy.base import Strategy


def load_strategy(spec: str) -> type[Strategy]:
    """The Strategy subclass named by ``spec`` (``file.py:Class``, ``module:Class``, ``file.py``
    or a rule file ``rules.toml``)."""
    if not isinstance(spec, str) or not spec.strip():
        raise StrategyError(
            f"strategy spec {spec!r} is empty; use 'path/to/file.py:ClassName' or 'module:ClassName'"
        )
    from tradeloom.research.rules.files import is_rule_file, load_rule_strategy

    if is_rule_file(spec):
        return load_rule_strategy(spec)
    target, _, cls_name = spec.strip().rpartition(":") if ":" in spec else (spec.strip(), "", "")
    # A Windows drive letter ("C:\\x.py") is not a class separator.
    if target and len(target) == 1 and cls_name and ("/" in cls_name or "\\" in cls_name):
        target, cls_name = spec.strip(), ""
    if target.endswith(".py") or "/" in target or "\\" in target:
        module = _load_file(Path(target), spec)
    else:
        module = _load_module(target, spec)
    return _pick_class(module, cls_name, spec)


def strategy_defaults(spec: str) -> dict[str, Any]:
    """Run settings a strategy spec carries itself: a rule file's ``symbols``,
    ``timeframe`` and ``risk_profile``; ``{}`` for Python strategies.

    >>> strategy_defaults("tradeloom.research.strategies.sma_cross:SmaCross")
    {}
    """
    from tradeloom.research.rules.files import is_rule_file, rule_defaults

    if isinstance(spec, str) and is_rule_file(spec):
        try:
            return rule_defaults(spec)
        except TradeloomError as exc:
            raise StrategyError(str(exc)) from None
    return {}


def _load_file(path: Path, spec: str) -> ModuleType:
    if not path.is_file():
        hint = " (it is a directory)" if path.is_dir() else ""
        raise StrategyError(
            f"strategy {spec!r}: file {str(path)!r} not found{hint}; check the path "
            f"(relative paths are read from {str(Path.cwd())!r})"
        )
    resolved = path.resolve()
    name = "tradeloom_user_strategy_" + hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    module_spec = importlib.util.spec_from_file_location(name, resolved)
    if module_spec is None or module_spec.loader is None:
        raise StrategyError(f"strategy {spec!r}: cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise StrategyError(
            f"strategy {spec!r}: syntax error in {exc.filename or str(path)} line {exc.lineno}: "
            f"{exc.msg}; fix the file and re-run"
        ) from exc
    except ImportError as exc:
        sys.modules.pop(name, None)
        raise StrategyError(
            f"strategy {spec!r}: importing {str(path)!r} failed: {exc}; install the missing "
            "package or fix the import"
        ) from exc
    except Exception as exc:
        sys.modules.pop(name, None)
        raise StrategyError(
            f"strategy {spec!r}: {str(path)!r} raised {type(exc).__name__} while importing: {exc}"
        ) from exc
    return module


def _load_module(name: str, spec: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name or (exc.name and name.startswith(exc.name + ".")):
            raise StrategyError(
                f"strategy {spec!r}: no module named {name!r}; give a file path "
                "('path/to/file.py:ClassName') or a module on the Python path"
            ) from exc
        raise StrategyError(
            f"strategy {spec!r}: module {name!r} imports {exc.name!r}, which is not installed"
        ) from exc
    except SyntaxError as exc:
        raise StrategyError(
            f"strategy {spec!r}: syntax error in {exc.filename} line {exc.lineno}: {exc.msg}"
        ) from exc
    except Exception as exc:
        raise StrategyError(
            f"strategy {spec!r}: module {name!r} raised {type(exc).__name__} while importing: {exc}"
        ) from exc


def _pick_class(module: ModuleType, cls_name: str, spec: str) -> type[Strategy]:
    defined = sorted(
        n for n, v in vars(module).items()
        if isinstance(v, type) and issubclass(v, Strategy) and v is not Strategy
        and v.__module__ == module.__name__
    )
    if not cls_name:
        if len(defined) == 1:
            return getattr(module, defined[0])
        found = ", ".join(defined) if defined else "none"
        raise StrategyError(
            f"strategy {spec!r}: name the class as 'file.py:ClassName'; Strategy classes found: {found}"
        )
    obj = getattr(module, cls_name, None)
    if obj is None:
        close = difflib.get_close_matches(cls_name, defined, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        found = ", ".join(defined) if defined else "none"
        raise StrategyError(
            f"strategy {spec!r}: no class {cls_name!r} in {module.__name__}{hint} "
            f"(Strategy classes found: {found})"
        )
    if not (isinstance(obj, type) and issubclass(obj, Strategy)):
        what = type(obj).__name__ if not isinstance(obj, type) else f"class {obj.__name__}"
        raise StrategyError(
            f"strategy {spec!r}: {cls_name!r} is a {what}, not a subclass of "
            "tradeloom.engine.strategy.base.Strategy; subclass Strategy and declare its Params"
        )
    return obj
