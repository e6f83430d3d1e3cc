"""Fee and slippage models, with numbers checkable by hand."""

from __future__ import annotations

import pytest
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.costs.fees import FixedFees, MakerTakerFees
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Liquidity, Side
from tradeloom.engine.costs.slippage import (
    FixedBpsSlippage,
    NoSlippage,
    VolumeParticipationSlippage,
)

M, T = Liquidity.MAKER, Liquidity.TAKER
SPEC = MarketSpec("BTC/USDT", maker_fee=0.0002, taker_fee=0.001)


@pytest.mark.parametrize(
    ("model", "price", "amount", "liq", "fee"),
    [
        (MakerTakerFees(), 100.0, 2.0, T, 0.2),  # 200 * 0.1 %
        (MakerTakerFees(), 100.0, 2.0, M, 0.04),  # 200 * 0.02 %
        (MakerTakerFees(maker=-0.0001), 100.0, 2.0, M, -0.02),  # rebate
        (MakerTakerFees(taker=0.0005), 50.0, 4.0, T, 0.1),  # override
        (FixedFees(1.5), 100.0, 2.0, T, 1.5),
        (FixedFees(1.5), 1.0, 0.001, M, 1.5),
    ],
)
def test_fee(model, price: float, amount: float, liq: Liquidity, fee: float) -> None:
    assert model.fee(SPEC, price, amount, liq) == pytest.approx(fee, rel=1e-12)


@pytest.mark.parametrize(
    ("model", "price", "budget", "liq", "amount"),
    [
        (MakerTakerFees(), 100.0, 1001.0, T, 10.0),  # 1001 / (100 * 1.001)
        (MakerTakerFees(), 100.0, 1000.2, M, 10.0),  # 1000.2 / (100 * 1.0002)
        (MakerTakerFees(), 100.0, 0.0, T, 0.0),
        (FixedFees(1.0), 100.0, 101.0, T, 1.0),
        (FixedFees(1.0), 100.0, 0.5, T, 0.0),  # cannot even pay the fee
    ],
)
def test_max_amount_pays_cost_and_fee(model, price, budget, liq, amount) -> None:
    got = model.max_amount(SPEC, price, budget, liq)
    assert got == pytest.approx(amount, rel=1e-12)
    if got > 0:
        assert price * got + model.fee(SPEC, price, got, liq) == pytest.approx(budget, rel=1e-12)


def test_fee_config_errors_name_the_setting() -> None:
    with pytest.raises(ConfigError, match="taker=0.5"):
        MakerTakerFees(taker=0.5)
    with pytest.raises(ConfigError, match="per_fill"):
        FixedFees(-1.0)


@pytest.mark.parametrize(
    ("model", "side", "liq", "amount", "volume", "price"),
    [
        (NoSlippage(), Side.BUY, T, 1.0, 10.0, 100.0),
        (FixedBpsSlippage(10), Side.BUY, T, 1.0, 10.0, 100.1),  # +10 bp
        (FixedBpsSlippage(10), Side.SELL, T, 1.0, 10.0, 99.9),  # -10 bp: adverse both ways
        (FixedBpsSlippage(10), Side.BUY, M, 1.0, 10.0, 100.0),  # makers never slip
        (
            VolumeParticipationSlippage(k_bps=100, exponent=0.5),
            Side.BUY,
            T,
            1.0,
            100.0,
            100.1,
        ),  # 1% -> 10 bp
        (
            VolumeParticipationSlippage(k_bps=100, exponent=0.5),
            Side.SELL,
            T,
            4.0,
            100.0,
            99.8,
        ),  # 4% -> 20 bp
        (
            VolumeParticipationSlippage(k_bps=100, exponent=1.0),
            Side.BUY,
            T,
            50.0,
            100.0,
            100.5,
        ),  # 50% -> 50 bp
        (
            VolumeParticipationSlippage(k_bps=100, exponent=0.5, max_bps=30),
            Side.BUY,
            T,
            25.0,
            100.0,
            100.3,
        ),  # capped
        (
            VolumeParticipationSlippage(k_bps=100, exponent=0.5),
            Side.BUY,
            T,
            1.0,
            0.0,
            101.0,
        ),  # no volume: 100%
        (VolumeParticipationSlippage(k_bps=100), Side.SELL, M, 50.0, 100.0, 100.0),
    ],
)
def test_slippage(
    model, side: Side, liq: Liquidity, amount: float, volume: float, price: float
) -> None:
    assert model.price(side, 100.0, amount, volume, liq) == pytest.approx(price, rel=1e-12)


def test_volume_impact_grows_with_participation() -> None:
    model = VolumeParticipationSlippage(k_bps=50, exponent=0.5)
    impacts = [model.impact_bps(a, 100.0) for a in (0.1, 1.0, 10.0, 100.0)]
    assert impacts == sorted(impacts)
    assert impacts[-1] == pytest.approx(50.0)


def test_slippage_config_errors() -> None:
    with pytest.raises(ConfigError, match="bps"):
        FixedBpsSlippage(-1)
    with pytest.raises(ConfigError, match="exponent"):
        VolumeParticipationSlippage(exponent=float("nan"))
