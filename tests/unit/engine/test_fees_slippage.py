"""Fee and slippage models, with numbers checkable by hand."""

from __future__ import annotations

import pytest

from tradeloom.engine.costs.fees import FeeAsset, FixedFees, MakerTakerFees
from tradeloom.engine.costs.slippage import (
    FixedBpsSlippage,
    NoSlippage,
    VolumeParticipationSlippage,
)
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Liquidity, Side

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
    ("model", "price", "budget", "amount"),
    [
        # FixedFees(0.25): the fee is a quarter, under one quote unit
        (FixedFees(0.25), 100.0, 100.25, 1.0),  # (100.25 - 0.25) / 100
        (FixedFees(0.25), 100.0, 0.25, 0.0),  # the budget only pays the fee
        (FixedFees(0.25), 0.5, 100.25, 200.0),  # a price under one unit: 100 / 0.5
        (FixedFees(0.25), 0.0, 100.0, 0.0),  # no price: nothing to buy
        (FixedFees(0.25), -1.0, 100.0, 0.0),
        (MakerTakerFees(), 0.0, 100.0, 0.0),  # no price
        (MakerTakerFees(), 100.0, -5.0, 0.0),  # no budget
    ],
)
def test_max_amount_edges(model, price, budget, amount) -> None:
    assert model.max_amount(SPEC, price, budget, T) == amount


@pytest.mark.parametrize(
    ("notional", "rate"),
    [
        (300.0, 0.25 / 300.0),  # a fee of 0.25 on a fill of 300
        (0.25, 1.0),  # the fee is the whole fill
        (0.0, 0.0),  # no notional: no rate (never a division by zero)
        (-10.0, 0.0),
        (None, 0.0),
    ],
)
def test_fixed_fee_rate_is_the_fee_over_the_notional(notional, rate) -> None:
    assert FixedFees(0.25).rate(SPEC, M, notional) == rate


@pytest.mark.parametrize(
    ("kwargs", "accepted"),
    [
        ({"maker": -0.01}, True),  # the largest rebate allowed
        ({"maker": -0.0101}, False),
        ({"taker": 0.0999}, True),
        ({"taker": 0.1}, False),  # 10 %: surely a percentage typed as a fraction
        ({"taker": float("nan")}, False),
        ({"maker": 0.0, "taker": 0.0}, True),
    ],
)
def test_maker_taker_rate_bounds(kwargs, accepted) -> None:
    if accepted:
        model = MakerTakerFees(**kwargs)
        assert (model.maker, model.taker) == (kwargs.get("maker"), kwargs.get("taker"))
    else:
        with pytest.raises(ConfigError, match="rates are fractions in"):
            MakerTakerFees(**kwargs)


def test_fixed_fees_accept_zero_and_refuse_non_finite() -> None:
    assert FixedFees(0.0).fee(SPEC, 100.0, 1.0, T) == 0.0
    with pytest.raises(ConfigError, match="per_fill=inf"):
        FixedFees(float("inf"))


def test_fee_models_describe_themselves() -> None:
    assert FixedFees(0.25).describe() == {"kind": "fixed", "per_fill": 0.25}
    assert repr(FixedFees(0.25)) == "FixedFees(per_fill=0.25)"
    assert MakerTakerFees(maker=0.0001).describe() == {
        "kind": "maker_taker", "maker": 0.0001, "taker": None}
    assert repr(MakerTakerFees(taker=0.002)) == "MakerTakerFees(maker=None, taker=0.002)"


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


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"asset": ""}, "give a currency code"),
        ({"asset": "BNB/USDT"}, "give a currency code"),
        ({"asset": "BNB", "discount": 1.0}, "a fraction in"),  # a free fee is no discount
        ({"asset": "BNB", "discount": -0.1}, "a fraction in"),
        ({"asset": "BNB", "rate": 0.0}, "a price > 0"),
        ({"asset": "BNB", "rate": float("inf")}, "a price > 0"),
    ],
)
def test_fee_asset_settings_are_checked(kwargs, error) -> None:
    with pytest.raises(ConfigError, match=error):
        FeeAsset(**kwargs)


def test_fee_asset_describes_its_rate_only_when_set() -> None:
    assert FeeAsset("BNB", discount=0.0).describe() == {"asset": "BNB", "discount": 0.0}
    assert FeeAsset("BNB", rate=600.0).describe() == {
        "asset": "BNB", "discount": 0.25, "rate": 600.0}


def test_fee_asset_is_a_value() -> None:
    asset = FeeAsset("BNB", rate=0.5)  # a rate under one quote unit is a price like any
    with pytest.raises(AttributeError):
        asset.discount = 0.5  # frozen: a run's setting cannot change under it
    assert asset.rate == 0.5
