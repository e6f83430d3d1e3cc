"""Deprecated import paths: modules that moved when the package was regrouped by subject.

Issue 13 moved every module into subpackages (``tradeloom.engine.fast`` became
``tradeloom.engine.vector.api``, ``tradeloom.research.registry`` became
``tradeloom.research.ml.registry``, ...). So that scripts and notebooks written against
the old paths keep running for a while, importing an old path imports the new module,
registers it under the old name too, and emits a ``DeprecationWarning`` naming the new
path. The table is the one record of the move; new code must use the new paths.

>>> import importlib, sys, warnings
>>> _ = sys.modules.pop("tradeloom.engine.fast", None)  # as in a fresh process
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     old = importlib.import_module("tradeloom.engine.fast")
>>> import tradeloom.engine.vector.api as new
>>> old is new, "tradeloom.engine.vector.api" in str(caught[0].message)
(True, True)
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: Old module path -> the module that holds its code now.
MOVED: dict[str, str] = {
    "tradeloom.adapters.alert_sinks": "tradeloom.adapters.ops.alert_sinks",
    "tradeloom.adapters.alerts": "tradeloom.adapters.ops.alerts",
    "tradeloom.adapters.audit": "tradeloom.adapters.ops.audit",
    "tradeloom.adapters.bar_merge": "tradeloom.adapters.store.bar_merge",
    "tradeloom.adapters.catalog": "tradeloom.adapters.store.catalog",
    "tradeloom.adapters.ccxt_broker": "tradeloom.adapters.ccxt.broker",
    "tradeloom.adapters.ccxt_sender": "tradeloom.adapters.ccxt.sender",
    "tradeloom.adapters.checks": "tradeloom.adapters.store.checks",
    "tradeloom.adapters.deploy_actions": "tradeloom.app.deployment",
    "tradeloom.adapters.deployments": "tradeloom.research.promotion.deployments",
    "tradeloom.adapters.exchange": "tradeloom.adapters.ccxt.exchange",
    "tradeloom.adapters.importer": "tradeloom.adapters.store.importer",
    "tradeloom.adapters.ingest": "tradeloom.adapters.store.ingest",
    "tradeloom.adapters.journal": "tradeloom.adapters.live.journal",
    "tradeloom.adapters.journal_codec": "tradeloom.adapters.live.journal_codec",
    "tradeloom.adapters.live_feed": "tradeloom.adapters.ccxt.bar_feed",
    "tradeloom.adapters.live_reconcile": "tradeloom.adapters.live.reconcile",
    "tradeloom.adapters.live_recovery": "tradeloom.adapters.live.recovery",
    "tradeloom.adapters.live_state": "tradeloom.adapters.live.state",
    "tradeloom.adapters.live_triggers": "tradeloom.adapters.ccxt.triggers",
    "tradeloom.adapters.paper": "tradeloom.adapters.live.paper",
    "tradeloom.adapters.paper_evidence": "tradeloom.app.paper_evidence",
    "tradeloom.adapters.parquet_io": "tradeloom.adapters.store.parquet_io",
    "tradeloom.adapters.reader": "tradeloom.adapters.store.reader",
    "tradeloom.adapters.recorder": "tradeloom.adapters.live.recorder",
    "tradeloom.adapters.replay": "tradeloom.adapters.live.replay",
    "tradeloom.adapters.results_io": "tradeloom.adapters.store.results_io",
    "tradeloom.adapters.runner": "tradeloom.adapters.live.runner",
    "tradeloom.adapters.safety": "tradeloom.adapters.live.safety",
    "tradeloom.adapters.schema": "tradeloom.adapters.store.schema",
    "tradeloom.adapters.session": "tradeloom.app.session",
    "tradeloom.adapters.stage_timing": "tradeloom.adapters.live.stage_timing",
    "tradeloom.adapters.status": "tradeloom.adapters.ops.status",
    "tradeloom.adapters.status_publisher": "tradeloom.adapters.ops.status_publisher",
    "tradeloom.adapters.trade_feed": "tradeloom.adapters.ccxt.trade_feed",
    "tradeloom.adapters.universe_gate": "tradeloom.research.universe.gate",
    "tradeloom.adapters.warmup": "tradeloom.adapters.live.warmup",
    "tradeloom.alerts_config": "tradeloom.adapters.ops.alerts_config",
    "tradeloom.cli_backtest": "tradeloom.cli.backtest",
    "tradeloom.cli_data": "tradeloom.cli.data",
    "tradeloom.cli_deploy": "tradeloom.cli.deploy",
    "tradeloom.cli_errors": "tradeloom.cli.errors",
    "tradeloom.cli_ingest": "tradeloom.cli.ingest",
    "tradeloom.cli_live": "tradeloom.cli.live",
    "tradeloom.cli_ml": "tradeloom.cli.ml",
    "tradeloom.cli_ops": "tradeloom.cli.ops",
    "tradeloom.cli_regress": "tradeloom.cli.regress",
    "tradeloom.cli_research": "tradeloom.cli.research",
    "tradeloom.cli_sample": "tradeloom.cli.sample",
    "tradeloom.cli_universe": "tradeloom.cli.universe",
    "tradeloom.clictx": "tradeloom.cli.context",
    "tradeloom.config": "tradeloom.engine.config",
    "tradeloom.deploy_config": "tradeloom.research.promotion.config",
    "tradeloom.engine.backtest": "tradeloom.engine.run.backtest",
    "tradeloom.engine.breakers": "tradeloom.engine.risk.breakers",
    "tradeloom.engine.broker": "tradeloom.engine.ports",
    "tradeloom.engine.context": "tradeloom.engine.strategy.context",
    "tradeloom.engine.events": "tradeloom.engine.run.events",
    "tradeloom.engine.fast": "tradeloom.engine.vector.api",
    "tradeloom.engine.feeds": "tradeloom.engine.run.feeds",
    "tradeloom.engine.fees": "tradeloom.engine.costs.fees",
    "tradeloom.engine.history": "tradeloom.engine.strategy.history",
    "tradeloom.engine.indicators_bars_nb": "tradeloom.engine.indicators.bars_nb",
    "tradeloom.engine.indicators_base": "tradeloom.engine.indicators.base",
    "tradeloom.engine.indicators_nb": "tradeloom.engine.indicators.series_nb",
    "tradeloom.engine.indicators_stream": "tradeloom.engine.indicators.stream",
    "tradeloom.engine.indicators_stream_bars": "tradeloom.engine.indicators.stream_bars",
    "tradeloom.engine.indicators_stream_stats": "tradeloom.engine.indicators.stream_stats",
    "tradeloom.engine.kernels_nb": "tradeloom.engine.vector.kernels_nb",
    "tradeloom.engine.loop": "tradeloom.engine.run.loop",
    "tradeloom.engine.matching": "tradeloom.engine.sim.matching",
    "tradeloom.engine.metrics": "tradeloom.engine.results.metrics",
    "tradeloom.engine.order_checks": "tradeloom.engine.sim.order_checks",
    "tradeloom.engine.order_entry": "tradeloom.engine.run.order_entry",
    "tradeloom.engine.params": "tradeloom.engine.strategy.params",
    "tradeloom.engine.portfolio": "tradeloom.engine.accounting.portfolio",
    "tradeloom.engine.result_frames": "tradeloom.engine.results.frames",
    "tradeloom.engine.risk_codes": "tradeloom.engine.risk.codes",
    "tradeloom.engine.risk_config": "tradeloom.engine.risk.config",
    "tradeloom.engine.risk_gate": "tradeloom.engine.risk.gate",
    "tradeloom.engine.risk_ledger": "tradeloom.engine.risk.ledger",
    "tradeloom.engine.risk_sizing": "tradeloom.engine.risk.sizing",
    "tradeloom.engine.sim_broker": "tradeloom.engine.sim.broker",
    "tradeloom.engine.sim_exec": "tradeloom.engine.sim.execution",
    "tradeloom.engine.sim_groups": "tradeloom.engine.sim.groups",
    "tradeloom.engine.slippage": "tradeloom.engine.costs.slippage",
    "tradeloom.engine.strategy_data": "tradeloom.engine.run.strategy_data",
    "tradeloom.engine.trades": "tradeloom.engine.results.trades",
    "tradeloom.live_config": "tradeloom.app.live_config",
    "tradeloom.ml_config": "tradeloom.research.ml.config",
    "tradeloom.research.confidence": "tradeloom.research.ml.confidence",
    "tradeloom.research.cv": "tradeloom.research.ml.cv",
    "tradeloom.research.executors": "tradeloom.research.sweeps.executors",
    "tradeloom.research.fastpath": "tradeloom.research.sweeps.fastpath",
    "tradeloom.research.feature_join": "tradeloom.research.features.join",
    "tradeloom.research.feature_kinds": "tradeloom.research.features.kinds",
    "tradeloom.research.feature_kinds_base": "tradeloom.research.features.kinds_base",
    "tradeloom.research.feature_kinds_ind": "tradeloom.research.features.kinds_ind",
    "tradeloom.research.feature_library": "tradeloom.research.features.library",
    "tradeloom.research.features_nb": "tradeloom.research.features.kinds_nb",
    "tradeloom.research.features_online": "tradeloom.research.features.online",
    "tradeloom.research.grid": "tradeloom.research.sweeps.grid",
    "tradeloom.research.labels": "tradeloom.research.ml.labels",
    "tradeloom.research.ml_data": "tradeloom.research.ml.data",
    "tradeloom.research.models": "tradeloom.research.ml.models",
    "tradeloom.research.promotion_evidence": "tradeloom.app.promotion_evidence",
    "tradeloom.research.regime": "tradeloom.research.universe.regime",
    "tradeloom.research.registry": "tradeloom.research.ml.registry",
    "tradeloom.research.regress_diff": "tradeloom.research.regress.diff",
    "tradeloom.research.report": "tradeloom.research.reports.report",
    "tradeloom.research.report_data": "tradeloom.research.reports.data",
    "tradeloom.research.report_figures": "tradeloom.research.reports.figures",
    "tradeloom.research.report_html": "tradeloom.research.reports.html",
    "tradeloom.research.retrain": "tradeloom.research.ml.retrain",
    "tradeloom.research.schedule": "tradeloom.research.ml.schedule",
    "tradeloom.research.sweep": "tradeloom.research.sweeps.sweep",
    "tradeloom.research.sweep_jobs": "tradeloom.research.sweeps.jobs",
    "tradeloom.research.sweep_table": "tradeloom.research.sweeps.table",
    "tradeloom.research.training": "tradeloom.research.ml.training",
    "tradeloom.research.universe_sql": "tradeloom.research.universe.sql",
    "tradeloom.research.walkforward": "tradeloom.research.sweeps.walkforward",
    "tradeloom.research.wf_windows": "tradeloom.research.sweeps.wf_windows",
    "tradeloom.risk_profiles": "tradeloom.adapters.config.risk_profiles",
    "tradeloom.sample": "tradeloom.app.sample",
    "tradeloom.server": "tradeloom.serve.server",
    "tradeloom.status_metrics": "tradeloom.serve.metrics",
    "tradeloom.status_page": "tradeloom.serve.page",
}


class _MovedModuleLoader(importlib.abc.Loader):
    """Loads an old path as the module now at its new path (the very same module object)."""

    def __init__(self, new_name: str) -> None:
        self.new_name = new_name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.new_name}; import it from there "
            "(the old path will be removed)", DeprecationWarning, stacklevel=3)
        return importlib.import_module(self.new_name)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the new module is already executed."""


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old paths of :data:`MOVED` (and nothing else)."""

    def find_spec(self, fullname: str, path: object, target: object = None) -> importlib.machinery.ModuleSpec | None:
        new_name = MOVED.get(fullname)
        if new_name is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedModuleLoader(new_name))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (``import tradeloom`` calls this)."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())


__all__ = ["MOVED", "MovedModuleFinder", "install"]
