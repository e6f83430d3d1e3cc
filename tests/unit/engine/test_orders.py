"""The order state machine: every valid transition succeeds, every other one raises."""

from __future__ import annotations

import itertools

import pytest

from tradeloom.engine.errors import IllegalTransition
from tradeloom.engine.orders import VALID_TRANSITIONS, Order, OrderStatus, OrderType, Side

ALL = list(OrderStatus)
PAIRS = list(itertools.product(ALL, ALL))


def _order_in(status: OrderStatus) -> Order:
    order = Order(1, "BTC/USDT", Side.BUY, OrderType.LIMIT, 1.0, 0, price=100.0)
    order.status = status
    return order


@pytest.mark.parametrize(("src", "dst"), [p for p in PAIRS if p[1] in VALID_TRANSITIONS[p[0]]])
def test_valid_transition_succeeds(src: OrderStatus, dst: OrderStatus) -> None:
    order = _order_in(src)
    order.transition(dst, 42, "why")
    assert order.status is dst
    assert order.updated_ts == 42
    assert order.reason == "why"
    assert order.history[-1] == (42, dst.value)


@pytest.mark.parametrize(("src", "dst"), [p for p in PAIRS if p[1] not in VALID_TRANSITIONS[p[0]]])
def test_invalid_transition_raises(src: OrderStatus, dst: OrderStatus) -> None:
    order = _order_in(src)
    with pytest.raises(IllegalTransition, match=f"cannot go from {src.value} to {dst.value}"):
        order.transition(dst, 42)
    assert order.status is src
    assert order.history == []


def test_matrix_is_complete_and_terminal_states_are_final() -> None:
    assert set(VALID_TRANSITIONS) == set(ALL)
    for status in ALL:
        assert (VALID_TRANSITIONS[status] == frozenset()) == status.is_terminal


def test_remaining_and_is_open() -> None:
    order = _order_in(OrderStatus.PARTIALLY_FILLED)
    order.filled = 0.25
    assert order.remaining == 0.75
    assert order.is_open
    assert not _order_in(OrderStatus.NEW).is_open
