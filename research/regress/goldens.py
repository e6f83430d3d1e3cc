"""Golden regression backtests: results must not drift without a reviewed change.

A regression config (TOML) lists backtest cases; each ``[[case]]`` takes every
field of a backtest config (``tradeloom.research.backtest_settings.BacktestSettings``) plus a unique
``name``::

    goldens = "goldens"            # optional; folder next to this file (default "goldens")

    [[case]]
    name = "sma_btc"
    strategy = "tradeloom.research.strategies.sma_cross:SmaCross"
    symbols = ["BTC/USDT"]
    timeframe = "1h"
    start = "2021-01-01"
    end = "2021-03-01"
    risk_profile = "conservative"  # optional
    params = { fast = 10, slow = 30 }
    broker = { fee_rate = 0.001 }

``run_regress(config, store)`` runs every case **twice** against the market
store and:

- fails the case as *nondeterministic* when the two runs differ in anything
  (orders, fills, trades, equity, metrics, risk decisions, manifest, events);
- compares the run with the golden result saved under ``<goldens>/<name>/``
  (``save_result`` format) and fails it as *drift* on any difference in trades,
  equity, metrics, orders, fills, risk decisions or final positions. The diff
  names the first differing trade (both versions), the metric deltas and the
  first differing row of the other tables (see ``regress_diff``). Values are
  compared exactly: goldens pin the numbers, so a dependency upgrade that moves
  a float is a drift to review and ``--update``;
- fails it as *missing* when there is no golden yet, saying how to create it.

``update=True`` writes the goldens instead (each atomically, only after the
determinism check passed), leaving equal goldens untouched and listing what
changed in the ones it rewrote, so the update can be reviewed in the commit.

Relative strategy file paths (``"strategies/my.py:MyStrategy"``) are read from
the config file's folder, so the config works from any working directory;
``package.module:Class`` specs are imported as usual.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tradeloom.adapters.config.files import read_config_file, validate_config
from tradeloom.engine.config import StrictModel
from tradeloom.engine.errors import ConfigError, TradeloomError
from tradeloom.engine.results.result import BacktestResult
from tradeloom.research.backtest_settings import BacktestSettings
from tradeloom.research.regress.diff import context_lines, drift_lines

Status = Literal["pass", "drift", "missing", "nondeterministic", "updated", "unchanged", "error"]
FAILED: frozenset[str] = frozenset({"drift", "missing", "nondeterministic"})
UPDATE_COMMAND = "tradeloom regress {config} --update --case {case}"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class RegressCase(BacktestSettings):
    """One golden backtest: a unique ``name`` plus every backtest setting."""

    name: str = Field(description="folder name of the golden result: letters, digits, '_', '.', '-'")

    @field_validator("name")
    @classmethod
    def _name_is_a_folder(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                f"case name {value!r} must start with a letter or digit and use only letters, "
                "digits, '_', '.', '-' (it names the golden folder)"
            )
        return value


class RegressConfig(StrictModel):
    """A regression config file: where the goldens live and the cases."""

    goldens: str = Field("goldens", description="golden results folder, relative to the config file")
    case: list[RegressCase] = Field(min_length=1, description="the [[case]] tables")

    @model_validator(mode="after")
    def _names_unique(self) -> RegressConfig:
        seen: set[str] = set()
        for c in self.case:
            if c.name in seen:
                raise ValueError(f"case name {c.name!r} is used twice; names must be unique")
            seen.add(c.name)
        return self


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config with its file location resolved."""

    path: Path
    config: RegressConfig

    @property
    def goldens_dir(self) -> Path:
        return (self.path.parent / self.config.goldens).resolve()

    def golden_dir(self, name: str) -> Path:
        return self.goldens_dir / name


def load_regress_config(path: str | Path) -> LoadedConfig:
    """Read and validate a regression config; ConfigError names the file and field path."""
    p = Path(path)
    data = read_config_file(p)
    if "case" not in data:
        raise ConfigError(
            f"{p}: no [[case]] tables; add at least one, e.g.\n"
            '  [[case]]\n  name = "sma_btc"\n'
            '  strategy = "tradeloom.research.strategies.sma_cross:SmaCross"\n'
            '  symbols = ["BTC/USDT"]\n  start = "2021-01-01"\n  end = "2021-02-01"'
        )
    return LoadedConfig(p.resolve(), validate_config(RegressConfig, data, str(p)))


@dataclass(frozen=True)
class CaseOutcome:
    """What happened to one case; ``details`` explain a failure, ``notes`` add context."""

    name: str
    status: Status
    golden: str
    seconds: float
    details: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "golden": self.golden,
            "seconds": round(self.seconds, 3),
            "details": list(self.details),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class RegressReport:
    """All case outcomes of one regress run, with its exit code and readable text."""

    config: str
    update: bool
    outcomes: list[CaseOutcome]
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[CaseOutcome]:
        return [o for o in self.outcomes if o.status == "error"]

    @property
    def failures(self) -> list[CaseOutcome]:
        return [o for o in self.outcomes if o.failed]

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failures

    @property
    def exit_code(self) -> int:
        """0 all passed, 1 drift (or missing golden, nondeterminism), 2 a case could not run."""
        return 2 if self.errors else 1 if self.failures else 0

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        parts = ", ".join(f"{n} {s}" for s, n in counts.items())
        return f"{len(self.outcomes)} case(s): {parts}"

    def format(self) -> str:
        """The report as plain text: one status line per case, then its details."""
        lines = [f"regress {self.config}" + ("  (--update)" if self.update else "")]
        width = max(len(o.name) for o in self.outcomes) if self.outcomes else 0
        for o in self.outcomes:
            lines.append(f"  {o.status.upper():<16} {o.name:<{width}}  {o.seconds:6.2f} s")
            lines.extend(f"      {d}" for d in o.details)
            if o.notes:
                lines.append("      context (not compared):")
                lines.extend(f"        {n}" for n in o.notes)
        lines.extend(f"  note: {n}" for n in self.notes)
        lines.append(self.summary())
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "update": self.update,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "notes": list(self.notes),
            "cases": [o.to_dict() for o in self.outcomes],
        }


def resolve_strategy_spec(spec: str, base: Path) -> str:
    """``spec`` with a relative strategy *file* path made absolute against ``base``.

    >>> resolve_strategy_spec("pkg.mod:Cls", Path("/cfg"))
    'pkg.mod:Cls'
    >>> resolve_strategy_spec("/abs/s.py:Cls", Path("/cfg"))
    '/abs/s.py:Cls'
    """
    target, sep, cls_name = spec.rpartition(":") if ":" in spec else (spec, "", "")
    is_file = target.endswith(".py") or "/" in target or "\\" in target
    if not is_file or Path(target).is_absolute():
        return spec
    path = base / target
    if not path.is_file():
        raise ConfigError(
            f"strategy {spec!r}: file {str(path)!r} not found; relative strategy paths in a "
            f"regress config are read from the config's folder {str(base)!r}"
        )
    return f"{path}{sep}{cls_name}"


def case_settings(case: RegressCase, base: Path) -> BacktestSettings:
    """The BacktestSettings of a case, its strategy path resolved against ``base``."""
    data = case.model_dump(exclude={"name"})
    data["strategy"] = resolve_strategy_spec(case.strategy, base)
    return BacktestSettings.model_validate(data)


def select_cases(config: RegressConfig, names: Sequence[str] | None) -> list[RegressCase]:
    """The cases named (in config order), all when ``names`` is empty; unknown names are errors."""
    if not names:
        return list(config.case)
    known = [c.name for c in config.case]
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"no case named {name!r}; {hint}cases: {', '.join(known)}")
    wanted = set(names)
    return [c for c in config.case if c.name in wanted]


#: ``run(settings, store) -> BacktestResult``: how a case is run (the application layer
#: passes ``tradeloom.app.backtest.run_from_settings``, the same call ``tradeloom backtest`` makes).
RunCase = Callable[[BacktestSettings, Any], BacktestResult]


def run_case_twice(settings: BacktestSettings, store: Any,
                   run: RunCase) -> tuple[BacktestResult, list[str]]:
    """Run the case two times; returns the first result and how the second differed."""
    first = run(settings, store)
    second = run(settings, store)
    return first, first.diff(second)


def run_regress(
    config: str | Path | LoadedConfig,
    store: Any,
    *,
    run: RunCase,
    update: bool = False,
    cases: Sequence[str] | None = None,
    update_command: str = UPDATE_COMMAND,
) -> RegressReport:
    """Run the config's cases against ``store`` (a MarketStore or catalog path) and compare.

    ``run`` runs one case's settings (``tradeloom.app.regress.run_regress`` passes the
    backtest command's own ``run_from_settings``).

    Raises ConfigError for an unreadable config or an unknown case name; a case
    that cannot run (bad strategy, missing data) is reported with status
    ``error`` and the other cases still run. ``update_command`` is the advice
    printed for a missing or drifted golden (``{config}`` and ``{case}`` are
    filled in), so the pytest plugin can point at its own ``--tradeloom-update``.
    """
    loaded = config if isinstance(config, LoadedConfig) else load_regress_config(config)
    if isinstance(store, (str, Path)):
        from tradeloom.adapters.store.market_store import MarketStore

        store = MarketStore(store)
    selected = select_cases(loaded.config, cases)
    outcomes = [_run_one(loaded, case, store, run, update, update_command) for case in selected]
    notes = _stale_goldens(loaded) if not cases else []
    return RegressReport(_display(loaded.path), update, outcomes, notes)


_NONDETERMINISTIC = (
    "the two runs differ (same config, same data); the strategy or a model depends on "
    "something besides its inputs (wall clock, unseeded random, set/dict order, id()):"
)


def _run_one(
    loaded: LoadedConfig, case: RegressCase, store: Any, run: RunCase, update: bool,
    update_command: str,
) -> CaseOutcome:
    """Run one case twice, then compare with (or, with ``update``, write) its golden."""
    golden_dir = loaded.golden_dir(case.name)
    fix = update_command.format(config=_display(loaded.path), case=case.name)
    started = time.perf_counter()
    try:
        settings = case_settings(case, loaded.path.parent)
        result, run_diff = run_case_twice(settings, store, run)
        if run_diff:
            status, details, notes = "nondeterministic", [_NONDETERMINISTIC, *run_diff], []
        elif update:
            status, details, notes = _write_golden(golden_dir, result)
        else:
            status, details, notes = _compare_golden(golden_dir, result, fix)
    except TradeloomError as exc:
        status, details, notes = "error", [f"{type(exc).__name__}: {exc}"], []
    seconds = time.perf_counter() - started
    return CaseOutcome(case.name, status, _display(golden_dir), seconds, details, notes)


def _write_golden(golden_dir: Path, result: BacktestResult) -> tuple[Status, list[str], list[str]]:
    """Save ``result`` as the golden unless an equal one is there; say what changed."""
    from tradeloom.adapters.store.results_io import load_result, save_result

    golden = load_result(golden_dir) if (golden_dir / "result.json").is_file() else None
    changes = drift_lines(golden, result) if golden is not None else []
    if golden is not None and not changes:
        return "unchanged", [], []
    save_result(result, golden_dir)
    if golden is None:
        return "updated", [f"created {_display(golden_dir)}"], []
    return "updated", [f"rewrote {_display(golden_dir)}; it changed:", *changes], []


def _compare_golden(golden_dir: Path, result: BacktestResult, fix: str) -> tuple[Status, list[str], list[str]]:
    """Compare ``result`` with the saved golden: pass, drift (with the diff) or missing."""
    from tradeloom.adapters.store.results_io import load_result

    if not (golden_dir / "result.json").is_file():
        advice = (
            f"no golden result at {_display(golden_dir)}; create it with  {fix}  (same catalog), "
            "then review and commit the files"
        )
        return "missing", [advice], []
    golden = load_result(golden_dir)
    lines = drift_lines(golden, result)
    if not lines:
        return "pass", [], []
    return "drift", [*lines, f"if the change is intended, rewrite the golden:  {fix}"], context_lines(golden, result)


def _stale_goldens(loaded: LoadedConfig) -> list[str]:
    root = loaded.goldens_dir
    if not root.is_dir():
        return []
    names = {c.name for c in loaded.config.case}
    stale = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in names)
    return [f"golden folder {_display(root / n)} belongs to no case; delete it if the case is gone" for n in stale]


def _display(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter messages)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
