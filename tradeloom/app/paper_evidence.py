"""Paper-session evidence for a promotion to live: days, replay parity, tracking error.

For each paper journal (``tradeloom paper`` writes one per session) this module:

1. checks the journal's ``session`` record is a *paper* session of this
   deployment (strategy class, params after defaults, symbols, timeframe, and the
   risk config of its profile); other journals are rejected, with the reason;
2. replays it (``adapters.replay``) with the deployment's strategy and risk
   profile and counts the divergences;
3. rebuilds the session's realized equity from the journal and compares it with
   a backtest of the deployment over the same bars (warm-up + live, the session's
   markets and cash: what ``run_bars`` makes of them).

**Paper days** count wall-clock time a paper session really ran, not bar time: from
its ``session`` record to its last record, by the runner's clock (``local_ts``), so a
session that caught up on a month of backfilled bars in a minute counts a minute.
The deployment's paper days are the union of its accepted sessions' spans (two
sessions running side by side count once).

**Realized equity.** At each distinct live bar close time ``t``: the session's
initial cash plus the journal's ``fill`` records with ``ts < t`` (buy: ``cash -=
price * amount + fee``; sell: ``cash += price * amount - fee``, as the portfolio
books them, when the fee is in the quote currency; a fee in the coin moves the
holding instead, by ``fee_cost``, and one in a fee asset its own market's holding)
plus each holding marked at its symbol's last close at or before ``t``.

**Tracking error** (annualised, a fraction like volatility)::

    r_t  = E_t / E_{t-1} - 1          on the live close times, E_0 = equity before
                                      the first live bar (paper: initial cash;
                                      backtest: its last equity before it)
    TE   = std(r_paper - r_backtest, ddof=1) * sqrt(bars_per_year(timeframe))

0.0 with fewer than two bars. A paper session against the simulated broker tracks
its backtest exactly (TE 0); live fills that differ from the fill model show up
here. The deployment's tracking error is its worst session's.

>>> round(tracking_error([0.01, 0.02, -0.01], [0.01, 0.0, -0.01], "1d"), 4)
0.2206
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from tradeloom.adapters.live.journal import JournalRecord, read_journal
from tradeloom.adapters.live.journal_codec import bars_of
from tradeloom.adapters.live.replay import replay
from tradeloom.engine.errors import ConfigError, DataError, StrategyError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.run.backtest import run_bars
from tradeloom.engine.timeframes import bars_per_year
from tradeloom.research.promotion.config import DeploymentSpec
from tradeloom.research.promotion.lifecycle import PaperEvidence
from tradeloom.research.promotion.matching import RunIdentity, run_mismatches
from tradeloom.research.strategy_loader import load_strategy

DAY_MS = 86_400_000


def tracking_error(paper: Sequence[float], backtest: Sequence[float], timeframe: str) -> float:
    """Annualised std of the per-bar return differences (see the module docstring)."""
    a, b = np.asarray(paper, dtype=float), np.asarray(backtest, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"tracking_error: {a.size} paper returns vs {b.size} backtest returns; "
                         "compare the same bars")
    if a.size < 2:
        return 0.0
    return float(np.std(a - b, ddof=1) * math.sqrt(bars_per_year(timeframe)))


def find_paper_journals(live_config: Path) -> list[Path]:
    """The journals a paper/live config writes: its ``journal``, else ``state_dir/journals``."""
    from tradeloom.app.live_config import load_live_config

    cfg = load_live_config(live_config)
    if cfg.journal is not None:
        return [cfg.journal] if cfg.journal.is_file() else []
    return sorted((cfg.state_dir / "journals").glob("*.jsonl"))


def paper_evidence(spec: DeploymentSpec, journals: Sequence[Path]) -> PaperEvidence:
    """Evidence from every journal of ``journals`` that is a paper session of ``spec``."""
    sessions: list[dict[str, Any]] = []
    rejected: list[str] = []
    for path in journals:
        try:
            sessions.append(session_evidence(spec, Path(path)))
        except (DataError, ConfigError, StrategyError) as exc:
            rejected.append(f"{path}: {exc}")
    tes = [s["tracking_error"] for s in sessions]
    spans = [(int(s["started_local_ms"]), int(s["ended_local_ms"])) for s in sessions]
    return PaperEvidence(
        sessions=tuple(sessions), days=round(union_ms(spans) / DAY_MS, 6),
        divergences=sum(int(s["divergences"]) for s in sessions),
        tracking_error=max(tes) if tes else None, rejected=tuple(rejected))


def union_ms(spans: Sequence[tuple[int, int]]) -> int:
    """Milliseconds covered by the union of ``(start, end)`` spans.

    >>> union_ms([(0, 10), (5, 20), (30, 40)])
    30
    """
    total, reach = 0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def session_evidence(spec: DeploymentSpec, path: Path) -> dict[str, Any]:
    """One paper session's figures; ``DataError`` if it is not a paper session of ``spec``."""
    records = read_journal(path)
    start = next((r for r in records if r.kind == "session"), None)
    if start is None:
        raise DataError("no session record (not a tradeloom paper journal)")
    session = start.payload
    risk_config = _check_session(spec, session)
    live = bars_of(records, "bar")
    if not live:
        raise DataError("the session has no live bars yet")
    parity = replay(path, _strategy(spec), risk_config)
    paper_eq = realized_equity(records, float(session["initial_cash"]))
    closes = sorted(paper_eq)
    bt = run_bars(_strategy(spec), bars_of(records, "warmup_bar") + live,
                  symbols=session["symbols"], timeframe=session["timeframe"],
                  markets={s: MarketSpec(**m) for s, m in session["markets"].items()},
                  initial_cash=float(session["initial_cash"]),
                  risk=RiskEngine(risk_config, exchange=session["exchange"]) if risk_config
                  else None, seed=int(session.get("seed", 0)))
    bt_eq = dict(zip(bt.equity["ts"].astype(int).tolist(), bt.equity["equity"].tolist()))
    before = [v for t, v in bt_eq.items() if t < closes[0]]
    p_series = [float(session["initial_cash"])] + [paper_eq[t] for t in closes]
    b_series = [before[-1] if before else float(session["initial_cash"])]
    b_series += [bt_eq[t] for t in closes]
    r_p, r_b = _returns(p_series), _returns(b_series)
    return {
        "journal": str(path), "run_id": session.get("run_id"), "bars": len(closes),
        "first_ts": live[0].ts, "last_close_ts": live[-1].close_ts,
        "started_local_ms": start.local_ts, "ended_local_ms": records[-1].local_ts,
        "days": (records[-1].local_ts - start.local_ts) / DAY_MS,
        "bar_days": (live[-1].close_ts - live[0].ts) / DAY_MS,
        "divergences": parity.total_divergences,
        "first_divergences": [d.describe() for d in parity.divergences[:3]],
        "tracking_error": tracking_error(r_p, r_b, session["timeframe"]),
        "paper": _metrics(p_series, r_p, session["timeframe"],
                          sum(1 for r in records if r.kind == "fill")),
        "backtest": _metrics(b_series, r_b, session["timeframe"], len(bt.fills)),
    }


def _strategy(spec: DeploymentSpec) -> Any:
    return load_strategy(spec.strategy)(**spec.params)


def _check_session(spec: DeploymentSpec, session: dict[str, Any]) -> Any:
    """The deployment's RiskConfig, after checking the session ran this deployment
    (``research.promotion.matching``)."""
    from tradeloom.adapters.config.risk_profiles import load_profile

    if session.get("mode") != "paper":
        raise DataError(f"a {session.get('mode')} session, not paper")
    problems = run_mismatches(spec, RunIdentity(
        str(session["strategy"]), session["params"], session["symbols"], session["timeframe"],
        session.get("risk_profile"), risk=session.get("risk")), what="the session")
    if problems:
        raise DataError("session of another configuration: " + "; ".join(problems))
    return load_profile(spec.risk_profile) if spec.risk_profile else None


def realized_equity(records: Sequence[JournalRecord], initial_cash: float) -> dict[int, float]:
    """Equity at each live bar close time, rebuilt from the journal (module docstring)."""
    fills = sorted((r.payload for r in records if r.kind == "fill"), key=lambda f: f["ts"])
    bars = sorted((r.payload for r in records if r.kind == "bar"),
                  key=lambda b: (b["close_ts"], b["symbol"]))
    cash, pos, marks = initial_cash, {}, {}
    out: dict[int, float] = {}
    i = 0
    for j, bar in enumerate(bars):
        t = int(bar["close_ts"])
        while i < len(fills) and fills[i]["ts"] < t:
            f = fills[i]
            symbol = f["symbol"]
            base, quote = symbol.split("/")[0], symbol.split("/")[1].split(":")[0]
            notional, sign = float(f["price"]) * float(f["amount"]), 1 if f["side"] == "buy" else -1
            currency = f.get("fee_currency") or quote  # journals before fee currencies: quote
            fee = float(f["fee"]) if currency == quote else 0.0
            cash = cash - (notional + fee) if sign > 0 else cash + (notional - fee)
            change = sign * float(f["amount"])
            if currency == base:  # the fee in the coin: the holding moves net of it
                change -= float(f["fee_cost"])
            elif currency != quote:  # a fee asset's own market (BNB/USDT) pays it
                paid_from = f"{currency}/{quote}"
                pos[paid_from] = pos.get(paid_from, 0.0) - float(f["fee_cost"])
            pos[symbol] = pos.get(symbol, 0.0) + change
            i += 1
        marks[bar["symbol"]] = float(bar["close"])
        if j + 1 == len(bars) or int(bars[j + 1]["close_ts"]) != t:
            out[t] = cash + sum(q * marks.get(s, 0.0) for s, q in pos.items())
    return out


def _returns(series: Sequence[float]) -> list[float]:
    return [b / a - 1.0 for a, b in pairwise(series)]


def _metrics(equity: Sequence[float], returns: Sequence[float], timeframe: str,
             fills: int) -> dict[str, float]:
    eq = np.asarray(equity, dtype=float)
    peak = np.maximum.accumulate(eq)
    vol = float(np.std(returns, ddof=1) * math.sqrt(bars_per_year(timeframe))) if len(
        returns) > 1 else 0.0
    return {"total_return": float(eq[-1] / eq[0] - 1.0), "volatility": vol,
            "max_drawdown": float(np.max(1.0 - eq / peak)), "final_equity": float(eq[-1]),
            "fills": float(fills)}


__all__ = ["DAY_MS", "find_paper_journals", "paper_evidence", "realized_equity",
           "session_evidence", "tracking_error"]
