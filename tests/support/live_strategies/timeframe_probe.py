"""The multi-timeframe example (``TrendFilter``) recording every 4h and 2h bar it sees
and when (the paper tests compare them with the bars resampled from the journal)."""

from __future__ import annotations

from tradeloom.research.strategies.trend_filter import TrendFilter


class TimeframeProbe(TrendFilter):
    def on_start(self, ctx) -> None:
        super().on_start(ctx)
        self.seen: dict[str, dict[tuple, int]] = {self.trend_timeframe: {},
                                                  self.confirm_timeframe: {}}

    def on_bar(self, ctx, bar) -> None:
        for tf, first_seen in self.seen.items():
            for b in ctx.bars(bar.symbol, tf):
                first_seen.setdefault(tuple(b), ctx.now)
        super().on_bar(ctx, bar)
