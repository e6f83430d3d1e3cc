"""A USDⓈ-M futures account: wallet balance, positions, per-symbol settings, income.

Balances (USDⓈ-M "Account Information V3" / "Futures Account Balance V3" field
definitions):
- ``walletBalance``: deposits + realised PnL - commission + funding fees;
- ``crossWalletBalance``: the wallet minus what is set aside in isolated positions
  (``isolatedWallet``);
- ``marginBalance`` = wallet + unrealised PnL;
- ``initialMargin`` = position initial margin (``|notional at mark| / leverage``) +
  open order initial margin (``price * qty / leverage`` of resting orders that
  increase the position);
- ``availableBalance`` = cross wallet + cross unrealised PnL - cross initial margin
  (never below 0).
Settings per symbol: leverage (default 20, Binance's default for a new symbol) and
marginType (default CROSSED). Isolated positions: opening fills move
``qty * price / leverage`` of the cross wallet into the position's isolated wallet;
reducing releases the same fraction of it; funding and realised PnL of an isolated
position are booked to the isolated wallet while the position is open.

>>> acct = FuturesAccount("k", "s", uid=1)
>>> acct.deposit("USDT", Decimal("1000"), time=5)
>>> acct.wallet, acct.settings("BTCUSDT").leverage, acct.settings("BTCUSDT").margin_type
(Decimal('1000'), 20, 'CROSSED')
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from venues.binance_usdm.position import Position
from venues.common.money import ZERO, Decimal

DEFAULT_LEVERAGE = 20


class IncomeType(enum.StrEnum):
    """USDⓈ-M "Get Income History" ``incomeType`` values the emulator books."""

    TRANSFER = "TRANSFER"
    REALIZED_PNL = "REALIZED_PNL"
    FUNDING_FEE = "FUNDING_FEE"
    COMMISSION = "COMMISSION"
    INSURANCE_CLEAR = "INSURANCE_CLEAR"


@dataclass(frozen=True, slots=True)
class Income:
    """One row of ``GET /fapi/v1/income``."""

    symbol: str
    income_type: IncomeType
    amount: Decimal
    asset: str
    time: int
    tran_id: int
    trade_id: str = ""
    info: str = ""

    def json(self) -> dict[str, object]:
        return {"symbol": self.symbol, "incomeType": self.income_type.value,
                "income": f"{self.amount.quantize(Decimal('0.00000001')):f}",
                "asset": self.asset, "info": self.info or self.income_type.value,
                "time": self.time, "tranId": self.tran_id, "tradeId": self.trade_id}


@dataclass(slots=True)
class SymbolSettings:
    leverage: int = DEFAULT_LEVERAGE
    margin_type: str = "CROSSED"  # or "ISOLATED"
    isolated_wallet: Decimal = ZERO


@dataclass(slots=True)
class FuturesAccount:
    """One API key's futures account (margin asset USDT)."""

    api_key: str
    secret: str
    uid: int
    asset: str = "USDT"
    wallet: Decimal = ZERO
    wallet_update_time: int = 0
    positions: dict[str, Position] = field(default_factory=dict)
    symbols: dict[str, SymbolSettings] = field(default_factory=dict)
    incomes: list[Income] = field(default_factory=list)
    maker_rate: Decimal = Decimal("0.0002")
    taker_rate: Decimal = Decimal("0.0005")

    def deposit(self, asset: str, amount: Decimal, *, time: int) -> None:
        if asset != self.asset:
            raise ValueError(f"the emulated USDⓈ-M account holds {self.asset} only, "
                             f"got {asset}")
        self.wallet += amount
        self.wallet_update_time = time

    def settings(self, market_id: str) -> SymbolSettings:
        return self.symbols.setdefault(market_id, SymbolSettings())

    def position(self, market_id: str) -> Position:
        return self.positions.setdefault(market_id, Position(market_id))

    def isolated_total(self) -> Decimal:
        return sum((s.isolated_wallet for s in self.symbols.values()), ZERO)

    @property
    def cross_wallet(self) -> Decimal:
        return self.wallet - self.isolated_total()
