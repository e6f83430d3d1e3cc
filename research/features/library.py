"""The default feature library: ~120 causal, scale-free features over OHLCV bars.

``default_pipeline()`` declares them once; every family is listed in
``FAMILIES`` with the windows it uses. Windows are in bars of the pipeline's
timeframe (the defaults suit 1h bars: 24 = one day, 168 = one week). Every
feature is scale-free (returns, ratios, oscillators, z-scores, ranks) so one
model can serve symbols at any price level.

Families:

- returns and log returns over 1..168 bars;
- realized volatility (close-to-close), Parkinson and Garman-Klass range estimators;
- indicator families: RSI, ATR / close, Bollinger %b and width, MACD histogram /
  close, stochastic %K/%D, ADX and +DI - -DI, Donchian and Keltner positions;
- trend distance: close / SMA or EMA - 1, close / rolling high or low - 1;
- z-scores of close, volume and on-balance volume; volume and VWAP (close / VWAP - 1);
- candle shape (body, wicks, close location, range); rolling percentile ranks;
- calendar: sin/cos of the UTC hour of day and the day of week;
- market (cross-asset) factor: returns, log returns and realized volatility of a
  market symbol (BTC), joined as of time (``market=True``).

>>> pipe = default_pipeline()
>>> len(pipe) >= 100, pipe.warmup, pipe.needs_market
(True, 199, True)
>>> len(default_pipeline(market=False)) < len(pipe)
True
"""

from __future__ import annotations

from typing import Any

from tradeloom.research.features.pipeline import Feature, FeaturePipeline

__all__ = ["FAMILIES", "default_features", "default_pipeline"]

RET_HORIZONS = (1, 2, 3, 4, 6, 8, 12, 24, 48, 72, 96, 168)
RV_WINDOWS = (6, 12, 24, 48, 96, 168)
RANGE_VOL_WINDOWS = (12, 24, 48, 96)
MARKET_HORIZONS = (1, 4, 12, 24, 72)

# family -> (kind, list of (name suffix, params))
FAMILIES: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "returns": [(f"ret_{h}", "ret", {"horizon": h}) for h in RET_HORIZONS],
    "log_returns": [(f"logret_{h}", "logret", {"horizon": h}) for h in RET_HORIZONS],
    "realized_vol": [(f"rv_{w}", "realized_vol", {"period": w}) for w in RV_WINDOWS],
    "parkinson": [(f"parkinson_{w}", "parkinson", {"period": w}) for w in RANGE_VOL_WINDOWS],
    "garman_klass": [(f"gk_{w}", "garman_klass", {"period": w}) for w in RANGE_VOL_WINDOWS],
    "rsi": [(f"rsi_{w}", "rsi", {"period": w}) for w in (6, 14, 24, 48)],
    "atr": [(f"atr_pct_{w}", "atr_pct", {"period": w}) for w in (7, 14, 28, 56)],
    "bollinger": [
        (f"bb_{out}_{w}", "bbands", {"period": w, "output": out})
        for w in (10, 20, 50) for out in ("pctb", "width")
    ],
    "macd": [
        (f"macd_hist_{f}_{s}_{g}", "macd_hist", {"fast": f, "slow": s, "signal": g})
        for f, s, g in ((6, 13, 5), (12, 26, 9), (24, 52, 18))
    ],
    "stochastic": [
        (f"stoch_{out}_{w}", "stoch", {"k_period": w, "output": out})
        for w in (14, 28) for out in ("k", "d")
    ],
    "adx": [
        (f"{out}_{w}", "adx", {"period": w, "output": out})
        for w in (14, 28) for out in ("adx", "di_diff")
    ],
    "donchian": [(f"donchian_pos_{w}", "donchian_pos", {"period": w}) for w in (10, 20, 55, 100)],
    "keltner": [(f"keltner_pos_{w}", "keltner_pos", {"period": w}) for w in (20, 50)],
    "ma_distance": [(f"sma_dev_{w}", "ma_dev", {"ma": "sma", "period": w})
                    for w in (10, 20, 50, 100, 200)]
    + [(f"ema_dev_{w}", "ma_dev", {"ma": "ema", "period": w}) for w in (12, 26, 50, 100)],
    "extremes": [
        (f"dist_{side}_{w}", "dist_extreme", {"side": side, "period": w})
        for w in (24, 168) for side in ("high", "low")
    ],
    "zscore_close": [(f"close_z_{w}", "zscore", {"field": "close", "period": w})
                     for w in (10, 20, 50, 100)],
    "zscore_volume": [(f"volume_z_{w}", "zscore", {"field": "volume", "period": w})
                      for w in (10, 20, 50, 100)],
    "obv": [(f"obv_z_{w}", "obv_z", {"period": w}) for w in (24, 96)],
    "vwap": [(f"vwap_dev_{w}", "vwap_dev", {"period": w}) for w in (12, 24, 48, 96)]
    + [("session_vwap_dev", "session_vwap_dev", {})],
    "candle": [(f"candle_{s}", "candle", {"shape": s})
               for s in ("body", "upper_wick", "lower_wick", "clv", "range")],
    "rank": [(f"close_rank_{w}", "rank", {"field": "close", "period": w})
             for w in (10, 24, 50, 100)]
    + [("volume_rank_24", "rank", {"field": "volume", "period": 24})],
    "calendar": [(f"{u}_{fn}", "calendar", {"unit": u, "fn": fn})
                 for u in ("hour", "weekday") for fn in ("sin", "cos")],
}

MARKET_FAMILY: list[tuple[str, str, dict[str, Any]]] = (
    [(f"mkt_ret_{h}", "ret", {"horizon": h}) for h in MARKET_HORIZONS]
    + [(f"mkt_logret_{h}", "logret", {"horizon": h}) for h in (1, 24)]
    + [(f"mkt_rv_{w}", "realized_vol", {"period": w}) for w in (24, 96)]
)


def default_features(market: bool = True) -> list[Feature]:
    """The default declarations, family by family (market features last)."""
    feats = [Feature(name, kind, params) for fam in FAMILIES.values()
             for name, kind, params in fam]
    if market:
        feats += [Feature(name, kind, params, source="market")
                  for name, kind, params in MARKET_FAMILY]
    return feats


def default_pipeline(timeframe: str = "1h", market: bool = True,
                     market_timeframe: str | None = None) -> FeaturePipeline:
    """The default library as a pipeline; ``market=False`` drops the cross-asset features
    (then ``batch`` needs no market frame)."""
    return FeaturePipeline(tuple(default_features(market)), timeframe, market_timeframe)
