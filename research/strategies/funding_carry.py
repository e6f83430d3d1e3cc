"""Funding carry: long spot, short the perpetual, delta-neutral, collecting funding.

Idea: when a perpetual trades above spot, its funding rate is positive and shorts are
paid by longs every funding period (8 h on Binance USDⓈ-M). Buying ``A`` base units of
spot and shorting ``A`` of the perpetual cancels the price risk (the two legs move
together, up to the basis) and leaves the funding: ``A * mark * rate`` received per
period while the rate stays positive.

Symbols: the spot market and its perpetual, named by the params ``spot`` (default
``BTC/USDT``) and ``perp`` (default ``BTC/USDT:USDT``); both must be in the run.

Rules, judged on the perpetual's bars:
- enter when flat and the latest funding rate (``ctx.funding_rate``) is at least
  ``enter_rate`` (default 0.0001 = 0.01 % per period): buy ``A`` spot and sell ``A`` of
  the perpetual, ``A = weight * equity / (spot price * (1 + 1 / leverage))`` rounded down
  to both markets' lot steps (the legs are equal), so that the spot cost plus the short's
  initial margin use ``weight`` of equity (default 0.9; the rest pays fees and absorbs
  the short's losses before they are offset by the spot gain);
- exit both legs when the latest rate falls below ``exit_rate`` (default 0.0);
- a short left without its spot leg (the spot buy was refused: live, Binance pays a spot
  buy from the spot wallet alone, ``adapters.ccxt.wallets``) is closed on the next
  perpetual bar, so the carry never holds the short unhedged, and the carry enters no
  more in this run (the same entry would be refused again; the refusal's reason is in
  the order's ``reason`` and the journal).

The short uses ``leverage`` (default 2) in cross margin; its liquidation price sits
about ``1 / leverage`` above the entry, and the spot leg is not collateral on the venue
(a separate wallet), so a rally of that size liquidates the short while the spot leg
gains: keep ``leverage`` low.

Fast path: ``vectorized(bars)`` returns ``CarryTerms`` (``engine.vector.carry_api``), the
params; the carry kernel (``engine.vector.carry_nb``) takes the same decisions from the
funding history and the position, in one account with the same fills, so sweeps and
walk-forward run on it (``tests/property/test_carry_parity.py`` proves it equal to the
event engine).
"""

from __future__ import annotations

from tradeloom.engine.orders import OrderStatus
from tradeloom.engine.strategy.base import Param, Strategy, StrategyError
from tradeloom.engine.vector.carry_api import CarryTerms
from tradeloom.engine.vector.form import VectorBars


class FundingCarry(Strategy):
    """Long spot + short perpetual while funding pays (see the module docstring)."""

    spot = Param(str, "BTC/USDT", help="the spot symbol (the long leg)")
    perp = Param(str, "BTC/USDT:USDT", help="the perpetual symbol (the short leg)")
    enter_rate = Param(float, 0.0001, help="enter when the latest funding rate is at least this")
    exit_rate = Param(float, 0.0, help="exit when the latest funding rate falls below this")
    weight = Param(float, 0.9, min=0.01, max=1.0, help="share of equity the two legs use")
    leverage = Param(float, 2.0, min=1.0, max=20.0, help="the short's leverage")

    def validate(self) -> None:
        if self.exit_rate > self.enter_rate:
            raise StrategyError(f"exit_rate ({self.exit_rate}) must be <= enter_rate "
                                f"({self.enter_rate})")

    def vectorized(self, bars: VectorBars) -> CarryTerms:
        """The fast path's form: the params (the kernel takes the decisions)."""
        return CarryTerms(self.spot, self.perp, self.enter_rate, self.exit_rate, self.weight,
                          self.leverage).checked(bars)

    def on_start(self, ctx) -> None:
        missing = [s for s in (self.spot, self.perp) if s not in ctx.symbols]
        if missing:
            raise StrategyError(f"FundingCarry needs {missing} in the run's symbols "
                                f"(spot={self.spot!r}, perp={self.perp!r})")
        ctx.set_leverage(self.perp, self.leverage)
        ctx.set_margin_mode(self.perp, "cross")
        self.refused = False

    def on_order(self, ctx, order) -> None:
        if order.tag == "carry:spot" and order.status is OrderStatus.REJECTED:
            self.refused = True  # the spot leg cannot be paid: no more entries this run

    def on_bar(self, ctx, bar) -> None:
        if bar.symbol != self.perp or ctx.open_orders():
            return
        rate = ctx.funding_rate(self.perp)
        short = ctx.position(self.perp)
        price = ctx.mark(self.spot)
        if not price > 0.0:
            return
        if short == 0.0 and rate >= self.enter_rate and not self.refused:
            amount = self.weight * ctx.equity / (price * (1.0 + 1.0 / self.leverage))
            for symbol in (self.perp, self.spot):  # both legs on the coarser lot grid
                spec = ctx.market(symbol)
                if spec is not None:
                    amount = spec.round_amount(amount)
            if amount <= 0.0:
                return
            ctx.buy(self.spot, amount, tag="carry:spot")
            ctx.sell(self.perp, amount, tag="carry:perp")
        elif short < 0.0 and ctx.position(self.spot) <= 0.0:
            ctx.close_position(self.perp, tag="carry:unwind")
        elif short < 0.0 and rate < self.exit_rate:
            held = ctx.position(self.spot)
            if held > 0.0:
                ctx.sell(self.spot, held, tag="carry:exit")
            ctx.close_position(self.perp, tag="carry:exit")
