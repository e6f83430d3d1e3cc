"""Model confidence for strategies: the same pipeline and model, batch or bar by bar.

- :class:`ConfidenceModel`: a registered model with its feature pipeline;
  ``batch(bars, market)`` scores a whole history (training, CV, notebooks),
  ``online()`` gives an :class:`OnlineConfidence` that scores one closed bar at a
  time from the pipeline's streaming state (backtests, paper, live).
- :class:`ModelBook`: the provider a run uses. It holds one online state per
  (model ref, symbol), is fed every bar (``on_bar``) and answers
  ``confidence(ref, symbol)`` with the latest bar's confidence (NaN in warm-up).
  Until the engine owns one (``ctx.confidence``), a strategy creates it in
  ``on_start`` and feeds it in ``on_bar``; see ``strategies/ml_confidence.py``.
- :class:`PrecomputedBook`: the same interface over batch predictions, for
  backtesting CV test folds without recomputing features.

**Warm-up.** A ``ModelBook`` given a ``history`` (``warmup.StoreHistory``: the
bars before the run's start, read from the store) primes each model it loads
with ``warmup.warmup_bars(model)`` bars per symbol before the first bar of the
run, as a live trader's model would have seen them: the first bar of a backtest
already has defined features, so a model strategy can decide on it.
``run_backtest`` gives its book that history.

**Meta-labeled models** (``metalabel.py``): the confidence is the model's
probability where the model's primary rule proposes a long, and 0 elsewhere,
in batch and online alike.

**Parity.** The pipeline's online path repeats the batch arithmetic operation by
operation (``features.py``), and the model scores one row exactly as it scores
many, so fed the same bars from the same first bar the online confidence equals
the batch confidence bit for bit (``tests/unit/research/test_confidence_parity.py``).

**Market features.** A model whose pipeline reads a market frame (e.g. BTC) needs
the market symbol among the run's symbols; its bar must reach the book before the
other symbols' bars of the same close time. The engine orders same-time bars by
symbol name, so every traded symbol must sort after the market symbol (true for
BTC/USDT with ETH/USDT, not with ADA/USDT); otherwise :class:`ModelBook` refuses
to start rather than silently lag the market features by one bar.

>>> import numpy as np, pandas as pd
>>> from tradeloom.research.features.pipeline import Feature, FeaturePipeline
>>> from tradeloom.research.ml.models import ModelSpec, fit_model
>>> pipe = FeaturePipeline([Feature("r1", "ret", {"horizon": 1}),
...                         Feature("r3", "ret", {"horizon": 3})], timeframe="1h")
>>> rng = np.random.default_rng(1)
>>> close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
>>> bars = pd.DataFrame({"ts": np.arange(300) * 3_600_000, "open": close, "high": close * 1.01,
...                      "low": close * 0.99, "close": close, "volume": 1.0})
>>> X = pipe.batch(bars).iloc[3:]
>>> y = (bars["close"].shift(-1) > bars["close"]).astype(float).iloc[3:]
>>> fit = fit_model(ModelSpec("logistic"), X, y, X.index.to_numpy(), X.index.to_numpy() + 1)
>>> cm = ConfidenceModel("demo@1", fit, pipe)
>>> online = cm.online()
>>> live = [online.update(b) for b in bars.to_dict("records")]
>>> bool(np.array_equal(np.array(live), cm.batch(bars).to_numpy(), equal_nan=True))
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.research.features.pipeline import FeaturePipeline, OnlineFeatures
from tradeloom.research.ml.labels import LabelSpec
from tradeloom.research.ml.models import FittedModel, ModelSpec

if TYPE_CHECKING:
    from tradeloom.research.ml.registry import ModelRegistry, ModelVersion

__all__ = ["ConfidenceModel", "ModelBook", "OnlineConfidence",
           "PrecomputedBook"]


@dataclass(frozen=True)
class ConfidenceModel:
    """A fitted model plus the feature pipeline it was trained on.

    ``ref`` names it (``name@version`` when loaded from a registry);
    ``market_symbol`` is the symbol whose bars feed the market features.
    """

    ref: str
    model: FittedModel
    pipeline: FeaturePipeline
    label: LabelSpec | None = None
    market_symbol: str | None = None
    version: ModelVersion | None = None

    @property
    def primary(self) -> Any:
        """The meta-labeling primary rule (``metalabel.PrimarySpec``) or None."""
        return None if self.label is None else self.label.primary

    @classmethod
    def from_registry(cls, registry: ModelRegistry, ref: str) -> ConfidenceModel:
        """Load the version ``ref`` points to (artifact checked against its sha256)."""
        v = registry.get(ref)
        model = FittedModel.from_artifact(ModelSpec.from_spec(v.model), registry.read_artifact(v))
        pipeline = FeaturePipeline.from_spec(v.pipeline)
        if tuple(model.feature_names) != pipeline.names:
            raise ConfigError(f"{v.ref}: the artifact's features differ from its pipeline spec; "
                              "the version is inconsistent, retrain it")
        return cls(v.ref, model, pipeline, LabelSpec.from_spec(v.label),
                   v.data.get("market_symbol"), v)

    def batch(self, bars: pd.DataFrame, market: pd.DataFrame | None = None) -> pd.Series:
        """Confidence for every row of ``bars`` (index kept; NaN in warm-up and after holes)."""
        feats = self.pipeline.batch(bars, market=market if self.pipeline.needs_market else None)
        conf = self.model.confidence(feats)
        prim = self.primary
        if prim is not None:
            side = np.empty(len(bars))
            groups = bars.groupby("symbol", sort=True).indices.values() \
                if "symbol" in bars.columns else [np.arange(len(bars))]
            for rows in groups:
                side[rows] = prim.side(bars.iloc[rows])
            conf = np.where(side == 1.0, conf, 0.0)
        return pd.Series(conf, index=bars.index, name="confidence")

    def scores(self, bars: pd.DataFrame, market: pd.DataFrame | None = None) -> pd.Series:
        """The model's raw scores for every row of ``bars`` (before calibration and before
        any meta-labeling mask): its ranking, for AUCs of what it knows."""
        feats = self.pipeline.batch(bars, market=market if self.pipeline.needs_market else None)
        return pd.Series(self.model.score(feats), index=bars.index, name="score")

    def online(self) -> OnlineConfidence:
        """A fresh streaming scorer for one symbol."""
        return OnlineConfidence(self)


class OnlineConfidence:
    """Streaming twin of :meth:`ConfidenceModel.batch` for one symbol."""

    __slots__ = ("features", "model", "side")

    def __init__(self, model: ConfidenceModel) -> None:
        self.model = model
        self.features: OnlineFeatures = model.pipeline.online()
        prim = model.primary
        self.side = None if prim is None else prim.online()

    def update(self, bar: Any) -> float:
        """Confidence after this newly closed bar (NaN while the pipeline warms up;
        0 where a meta-labeled model's primary proposes nothing)."""
        row = self.features.update(bar)
        conf = float(self.model.model.confidence(row)[0])
        if self.side is not None:
            close = bar["close"] if isinstance(bar, Mapping) else bar.close
            if self.side.update(close) != 1.0:
                return 0.0
        return conf

    def update_market(self, bar: Any) -> None:
        """Feed one closed market-symbol bar (only needed for market features)."""
        self.features.update_market(bar)


class ModelBook:
    """Online confidence of one or more models over a run's symbols.

    ``require(ref)`` loads a model (call it in ``on_start`` so its features warm up
    from the first bar); ``on_bar(bar)`` feeds every bar of the run;
    ``confidence(ref, symbol)`` is that symbol's confidence at its latest bar.
    With ``record=True`` every prediction is kept in ``records`` as
    ``(ref, symbol, ts, confidence)`` (parity tests, reports). With a ``history``
    (``warmup.StoreHistory``), ``require`` primes the model on the bars before the
    run (``primed[ref]`` counts them per symbol; they are not recorded).
    """

    def __init__(self, registry: ModelRegistry | None, symbols: Sequence[str], *,
                 record: bool = False, history: Any = None) -> None:
        self.registry = registry
        self.symbols = tuple(symbols)
        self.record = record
        self.history = history
        self.primed: dict[str, int] = {}
        self.records: list[tuple[str, str, int, float]] = []
        self._models: dict[str, ConfidenceModel] = {}
        self._online: dict[str, dict[str, OnlineConfidence]] = {}
        self._last: dict[str, dict[str, float]] = {}
        self._market: dict[str, str | None] = {}

    def require(self, ref: str, model: ConfidenceModel | None = None) -> ConfidenceModel:
        """Start tracking ``ref`` (loaded from the registry unless ``model`` is given)."""
        if ref in self._models:
            return self._models[ref]
        if model is None:
            if self.registry is None:
                raise ConfigError(f"ModelBook has no registry to load {ref!r} from; pass one")
            model = ConfidenceModel.from_registry(self.registry, ref)
        mkt = model.market_symbol if model.pipeline.needs_market else None
        if mkt is not None:
            if mkt not in self.symbols:
                raise ConfigError(
                    f"model {model.ref} reads market features from {mkt}; add {mkt} to the "
                    f"run's symbols {list(self.symbols)} or use a model trained with "
                    "pipeline.market = false")
            early = [s for s in self.symbols if s < mkt]
            if early:
                raise ConfigError(
                    f"model {model.ref}: symbols {early} sort before the market symbol {mkt}, "
                    "so their bars reach the strategy before the market bar of the same close "
                    "time and their market features would lag one bar; trade them with a "
                    "pipeline.market = false model")
        self._models[ref] = model
        self._online[ref] = {s: model.online() for s in self.symbols}
        self._last[ref] = dict.fromkeys(self.symbols, math.nan)
        self._market[ref] = mkt
        if self.history is not None:
            from tradeloom.research.ml.warmup import warmup_bars

            frame = self.history.bars(list(self.symbols), warmup_bars(model))
            for bar in frame.to_dict("records"):
                self._feed(ref, bar, record=False)
            self.primed[ref] = int(frame.groupby("symbol").size().max()) if len(frame) else 0
        return model

    def _feed(self, ref: str, bar: Any, *, record: bool) -> None:
        symbol = bar["symbol"] if isinstance(bar, Mapping) else bar.symbol
        states = self._online[ref]
        if self._market[ref] == symbol:
            for state in states.values():
                state.update_market(bar)
        state = states.get(symbol)
        if state is not None:
            value = state.update(bar)
            self._last[ref][symbol] = value
            if record:
                ts = bar["ts"] if isinstance(bar, Mapping) else bar.ts
                self.records.append((ref, symbol, int(ts), value))

    def on_bar(self, bar: Any) -> None:
        """Feed one closed bar (an ``engine.orders.Bar`` or a mapping with ts/OHLCV/symbol)."""
        for ref in self._online:
            self._feed(ref, bar, record=self.record)

    def warmup_bars(self) -> int:
        """Bars per symbol to prime the loaded models with before their first value
        (``warmup.warmup_bars``, the most any of them needs); 0 with a ``history``, which
        primed them in ``require`` already.

        >>> ModelBook(None, ["BTC/USDT"]).warmup_bars()  # no model loaded yet
        0
        """
        if self.history is not None or not self._models:
            return 0
        from tradeloom.research.ml.warmup import warmup_bars

        return max(warmup_bars(model) for model in self._models.values())

    def confidence(self, ref: str, symbol: str) -> float:
        """Latest confidence of ``symbol`` under model ``ref`` (NaN during warm-up)."""
        last = self._last.get(ref)
        if last is None:
            raise StrategyError(f"confidence({ref!r}): model not loaded; call "
                                f"book.require({ref!r}) in on_start")
        if symbol not in last:
            raise StrategyError(f"confidence({ref!r}, {symbol!r}): symbol is not in the run "
                                f"({list(self.symbols)})")
        return last[symbol]

    def model(self, ref: str) -> ConfidenceModel:
        """The loaded model behind ``ref`` (its ``.ref`` is the resolved ``name@version``)."""
        return self._models[ref]


class PrecomputedBook:
    """``ModelBook``'s interface over precomputed confidences ``{(symbol, ts): value}``.

    Used to backtest a CV test fold: the fold's out-of-sample predictions drive
    the same strategy code, with no model loaded. Bars without a value read NaN.
    """

    def __init__(self, values: Mapping[tuple[str, int], float]) -> None:
        self._values = dict(values)
        self._ts: dict[str, int] = {}

    @classmethod
    def from_arrays(cls, symbols: Iterable[str], ts: Iterable[int],
                    values: Iterable[float]) -> PrecomputedBook:
        return cls({(s, int(t)): float(v) for s, t, v in zip(symbols, ts, values, strict=True)})

    def require(self, ref: str, model: ConfidenceModel | None = None) -> None:
        """Nothing to load."""

    def on_bar(self, bar: Any) -> None:
        self._ts[bar.symbol] = int(bar.ts)

    def warmup_bars(self) -> int:
        """Nothing to warm up: the values were computed beforehand."""
        return 0

    def confidence(self, ref: str, symbol: str) -> float:
        ts = self._ts.get(symbol)
        return math.nan if ts is None else self._values.get((symbol, ts), math.nan)


def as_array(records: Sequence[tuple[str, str, int, float]]) -> pd.DataFrame:
    """``ModelBook.records`` as a frame (ref, symbol, ts, confidence)."""
    return pd.DataFrame(records, columns=["ref", "symbol", "ts", "confidence"]).astype(
        {"ts": np.int64})
