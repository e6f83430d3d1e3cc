"""A paper session of a multi-timeframe strategy against the emulator: the live 1h bars
feed the same resampler as a backtest, so the strategy sees each 4h and 2h bar at the
step of its close, equal to the bars resampled from the session's own 1h bars, and the
journal replays with no divergence."""

from __future__ import annotations

from pathlib import Path

from runner_helpers import HOUR, run_paper

from tradeloom.adapters.config.risk_profiles import load_profile
from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.journal_codec import bars_of
from tradeloom.adapters.live.replay import replay
from tradeloom.engine.run.resample import resample
from tradeloom.research.strategies.trend_filter import TrendFilter

PROBE = (f"{Path(__file__).resolve().parents[1] / 'support' / 'live_strategies' / 'timeframe_probe.py'}"
         ":TimeframeProbe")
PARAMS = {"fast": 3, "slow": 8, "trend_period": 3, "trend_timeframe": "4h",
          "confirm_timeframe": "2h"}


def test_paper_sees_higher_timeframe_bars_at_their_close_and_replays_equal(emulator, tmp_path):
    session, summary = run_paper(emulator, tmp_path, start=300, bars=120, strategy=PROBE,
                                 params=PARAMS)
    # warm-up: 3 closed 4h bars + a 4h bucket it may begin inside = 4 * 4 - 1 hours
    assert summary.warmup_bars == 15
    probe = session.runner.engine.strategy
    records = read_journal(session.journal_path)
    hours = bars_of(records, "warmup_bar") + bars_of(records, "bar")
    for tf, hours_per_bar in (("4h", 4), ("2h", 2)):
        expected = [tuple(b) for b in resample(hours, tf, "1h")]
        seen = probe.seen[tf]
        live = [b for b in expected if b[2] > bars_of(records, "bar")[0].ts]
        assert live and [b for b in seen if b in live] == live  # every live bucket was seen
        assert all(seen[b] == b[2] for b in live)  # at the step of its close, not later
        assert set(seen) <= set(expected)  # and no other bar (none partial, none early)
        assert all(b[2] - b[1] == hours_per_bar * HOUR for b in seen)
    submits = [r for r in records if r.kind == "submit"]
    assert len(submits) >= 2, "the window should trade"
    report = replay(session.journal_path, TrendFilter(**PARAMS), load_profile("moderate"))
    assert report.ok and report.divergences == []
