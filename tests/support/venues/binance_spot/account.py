"""A Binance spot account: API key, wallet and commission settings, and who pays a fee.

Commission, as binance-spot-api-docs ``faqs/commission_faq.md`` ("How is the
commission calculated?") describes it:

- the *received* amount is multiplied by the sum of the rates: a BUY receives the
  base asset (``quantity``), a SELL receives the quote asset (the notional), so
  ``commission = received * (maker|taker + buyer|seller)`` in the received asset.
  The account's rates are what ``GET /api/v3/account`` reports in
  ``commissionRates`` (rest-api.md "Account information"); tax and special
  commissions are zero here.
- with BNB fee payment enabled (``discount.enabledForAccount``) the standard
  commission is converted to BNB at the exchange rate and reduced by ``discount``
  (rest-api.md "Test new order" response: "Standard commission is reduced by this
  rate when paying commission in BNB"; the FAQ's worked example multiplies by the
  discount instead, which contradicts that sentence and Binance's published 25 %
  discount: the emulator pays ``1 - discount``). The exchange rate is the BNB price
  in the trade's quote asset, set on the emulator; the commission is valued in the
  quote asset at the fill price (``qty * price * rate``) before conversion.
- "If you do not have enough BNB to pay the discounted commission, the full
  commission will be taken out of your received amount".

Commissions are reported with the symbol's commission precision (8 decimals,
exchangeInfo ``baseCommissionPrecision``/``quoteCommissionPrecision``). The docs do
not say how a longer result is rounded; the emulator rounds up (the venue never
charges less than the rate), an assumption recorded in NOTES.md.

>>> from venues.common.money import dec
>>> acct = Account("k", "s", Wallet({"USDT": "1000"}))
>>> acct.commission(side="BUY", qty=dec("0.01"), price=dec("30000"), maker=False,
...                 base="BTC", quote="USDT", bnb_price=None)
(Decimal('0.00001000'), 'BTC')
>>> acct.fees = FeeSettings(bnb_enabled=True); acct.wallet.set("BNB", dec("1"))
>>> acct.commission(side="BUY", qty=dec("0.01"), price=dec("30000"), maker=False,
...                 base="BTC", quote="USDT", bnb_price=dec("300"))
(Decimal('0.00075000'), 'BNB')
"""

from __future__ import annotations

from dataclasses import dataclass, field

from venues.common.money import EIGHT, ZERO, Decimal, round_up
from venues.common.wallet import Wallet


@dataclass(frozen=True, slots=True)
class FeeSettings:
    """Commission rates (fractions, 0.001 = 0.1 %) and the BNB fee option."""

    maker: Decimal = Decimal("0.001")
    taker: Decimal = Decimal("0.001")
    buyer: Decimal = ZERO
    seller: Decimal = ZERO
    bnb_enabled: bool = False
    bnb_discount: Decimal = Decimal("0.25")


@dataclass
class Account:
    """One API key's spot account."""

    api_key: str
    secret: str
    wallet: Wallet = field(default_factory=Wallet)
    fees: FeeSettings = field(default_factory=FeeSettings)
    uid: int = 1
    can_trade: bool = True

    def rate(self, *, side: str, maker: bool) -> Decimal:
        """maker/taker rate plus buyer/seller rate (commission_faq.md)."""
        role = self.fees.maker if maker else self.fees.taker
        return role + (self.fees.buyer if side == "BUY" else self.fees.seller)

    def commission(self, *, side: str, qty: Decimal, price: Decimal, maker: bool,
                   base: str, quote: str, bnb_price: Decimal | None) -> tuple[Decimal, str]:
        """(amount, asset) charged for one fill of ``qty`` at ``price``."""
        rate = self.rate(side=side, maker=maker)
        received, asset = (qty, base) if side == "BUY" else (qty * price, quote)
        standard = round_up(received * rate, EIGHT)
        if self.fees.bnb_enabled and bnb_price is not None and standard > 0:
            in_quote = qty * price * rate
            in_bnb = round_up(in_quote * (1 - self.fees.bnb_discount) / bnb_price, EIGHT)
            if self.wallet.free("BNB") >= in_bnb:
                return in_bnb, "BNB"
        return standard, asset
