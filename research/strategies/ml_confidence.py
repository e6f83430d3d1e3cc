"""Confidence-sized long-only strategy: hold a symbol while a model is confident it rises.

Idea: a registered model (``research/ml/registry.py``) gives, at every bar's close,
the probability that the label is positive (e.g. the next 12 bars' return above
zero). Above ``threshold`` the strategy holds the symbol with a weight that grows
with the confidence; at or below it (or in warm-up, NaN) it is flat.

Sizing: ``weight = max_weight / len(symbols) * (conf - threshold) / (1 - threshold)``
when ``conf > threshold``, else 0. With ``sized=False`` (the *unsized twin*, the
control that tells whether sizing by confidence adds anything) the weight is the
full ``max_weight / len(symbols)`` whenever ``conf > threshold``. To keep fees sane
the target changes only when the new weight differs from the last target by at
least ``band`` (going flat always happens). Orders go through
``ctx.target_percent`` (market orders filled at the next bar's open).

Confidence comes from ``ctx.confidence(model, symbol)``: the engine feeds each closed
bar to the model's online feature pipeline (the same pipeline it was trained on)
before ``on_bar``. By default the model is read from the run's catalog registry,
and ``run_backtest`` primes it on the bars before the start (``research.ml.warmup``),
so the first decision is on the first bar. ``catalog=`` names another catalog
(its own book, fed from the first bar of the run: no warm-up);
``ConfidenceSized.with_book(book, ...)`` injects a book (CV fold backtests use
precomputed predictions). ``record=True`` keeps every confidence the strategy
decided on in ``self.records`` as ``(model, symbol, ts, confidence)``.

A meta-labeled model (``research.ml.metalabel``) is traded the same way: its
confidence is 0 where its primary rule proposes no long, so the primary proposes,
the model decides (``threshold``) and sizes.

Run it::

    tradeloom backtest research/strategies/ml_confidence.py:ConfidenceSized \\
        --symbols BTC/USDT,ETH/USDT --timeframe 1h --param model=btc_dir@champion
"""

from __future__ import annotations

from typing import Any

from tradeloom.engine.strategy.base import Param, Strategy, StrategyError


class ConfidenceSized(Strategy):
    """Long when the model's confidence exceeds ``threshold``, sized by confidence."""

    model = Param(str, "btc_dir@champion", help="registry ref: name, name@champion, name@3")
    catalog = Param(str, "", help="catalog directory holding models/ (default: CLI catalog)")
    threshold = Param(float, 0.55, min=0.0, max=0.99, help="confidence needed to hold")
    max_weight = Param(float, 1.0, min=0.0, max=1.0, help="weight at confidence 1, split "
                       "across symbols")
    band = Param(float, 0.05, min=0.0, max=1.0, help="minimum weight change that re-targets")
    sized = Param(bool, True, help="size by confidence (False: full weight when confident)")
    record = Param(bool, False, help="keep every confidence decided on in self.records")

    #: A model book read instead of the registry (``with_book``); None: the registry.
    injected_book: Any = None

    def validate(self) -> None:
        if not self.model:
            raise StrategyError("model must be a registry ref, e.g. 'btc_dir@champion'")

    @classmethod
    def with_book(cls, book: Any, **params: Any) -> ConfidenceSized:
        """An instance that reads confidence from ``book`` instead of the registry."""
        inst = cls(**params)
        inst.injected_book = book
        return inst

    def on_start(self, ctx) -> None:
        book = self.injected_book
        if book is None and self.catalog:
            from tradeloom.research.ml.confidence import ModelBook
            from tradeloom.research.ml.registry import ModelRegistry

            book = ModelBook(ModelRegistry(self.catalog), ctx.symbols)
        if book is not None:
            ctx.use_models(book)  # else: the run's own registry (run_backtest, CLI)
        self.book = book
        self.records: list[tuple[str, str, int, float]] = []
        # Loading the model here makes its features warm up from the first bar.
        loaded = ctx.model(self.model)
        if loaded is not None:
            ctx.log(f"ConfidenceSized: {self.model} resolved to {loaded.ref}")
        self._scale = self.max_weight / len(ctx.symbols)
        self._target = dict.fromkeys(ctx.symbols, 0.0)

    def weight(self, conf: float) -> float:
        """Target weight of one symbol at confidence ``conf`` (0 at or below threshold)."""
        if not conf > self.threshold:  # NaN -> flat
            return 0.0
        if not self.sized:
            return self._scale
        return self._scale * min((conf - self.threshold) / (1.0 - self.threshold), 1.0)

    def on_bar(self, ctx, bar) -> None:
        symbol = bar.symbol
        conf = ctx.confidence(self.model, symbol)
        if self.record:
            self.records.append((self.model, symbol, int(bar.ts), conf))
        w = self.weight(conf)
        last = self._target[symbol]
        if w == last:
            return
        # Entering and going flat always trade; resizing only beyond the band.
        if w == 0.0 or last == 0.0 or abs(w - last) >= self.band * self._scale:
            ctx.target_percent(symbol, w)
            self._target[symbol] = w
