"""The controls a session applies and ``replay`` applies again at the same points:
the kill (entries blocked, every open order cancelled through the engine), the drift
pause of the whole exchange and the degrading of symbols after an alert (new market
rules the exchange published mid-session go through ``Engine.update_markets``).

Why shared: a journal records *that* a control was applied (``kill``, ``pause``,
``resume``, ``degrade``, ``markets`` records); replay must give them the very same
effect, so both call these functions (``restore`` records undo a reconciliation ``degrade``).
"""

from __future__ import annotations

from collections.abc import Iterable

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.run.loop import Engine


def kill_engine(engine: Engine, risk: RiskEngine | None, ts: int, reason: str) -> int:
    """Block entries (``risk``, the engine's risk engine) and cancel every open order
    through the engine; orders cancelled."""
    if risk is not None:
        risk.kill(ts, reason)
        risk.pending_actions()  # the cancel-all it queues is done right here
    cancelled = 0
    for order in list(engine.broker.open_orders()):
        cancelled += bool(engine.cancel(order.id))
    return cancelled


def set_paused(risk: RiskEngine | None, exchange_id: str, paused: bool, ts: int) -> None:
    """Refuse (or allow again) new entries for the whole exchange in the risk engine."""
    if risk is None:
        raise ConfigError("pausing on clock drift needs a RiskEngine; configure a risk profile")
    risk.set_status(exchange_id, paused, ts=ts)


def degrade_symbols(risk: RiskEngine | None, symbols: Iterable[str], ts: int) -> None:
    """Refuse new entries on ``symbols`` (exits stay allowed)."""
    if risk is None:
        raise ConfigError("refusing entries after an alert needs a RiskEngine; configure a "
                          "risk profile")
    for symbol in symbols:
        risk.set_status(symbol, True, ts=ts)


def restore_symbols(risk: RiskEngine | None, symbols: Iterable[str], ts: int) -> None:
    """Allow new entries on ``symbols`` again (a reconciliation mismatch was resolved)."""
    if risk is None:
        raise ConfigError("restoring symbols needs a RiskEngine; configure a risk profile")
    for symbol in symbols:
        risk.set_status(symbol, False, ts=ts)



__all__ = ["degrade_symbols", "kill_engine", "restore_symbols", "set_paused"]
