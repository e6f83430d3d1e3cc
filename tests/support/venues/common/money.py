"""Exact decimal arithmetic for the venue emulators.

Venues keep amounts as fixed-point decimals and send them as strings; floats would
make the oracle disagree with itself by one ulp. Every amount inside the emulators
is a :class:`~decimal.Decimal`; these helpers convert input, render output in each
venue's text format and apply step/tick rules.

>>> dec("0.1") + dec(0.2)
Decimal('0.3')
>>> fixed8(dec("0.00999"))
'0.00999000'
>>> plain(dec("30000.10")), plain(dec("-0.0000075330")), plain(dec("0E-8"))
('30000.1', '-0.000007533', '0')
>>> floor_to_step(dec("0.01232766"), dec("0.00001"))
Decimal('0.01232')
>>> is_multiple(dec("0.0015"), dec("0.001")), is_multiple(dec("5"), dec("0"))
(False, True)
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation, localcontext

ZERO = Decimal(0)
#: Binance sends every price, quantity and balance with 8 decimals
#: (rest-api.md, "New order" FULL response: ``"price": "4000.00000000"``).
EIGHT = Decimal("0.00000001")

Number = Decimal | int | float | str


class BadNumber(ValueError):
    """Text that a venue would not accept as a decimal number."""


def dec(value: Number) -> Decimal:
    """``value`` as a Decimal; floats go through ``repr`` so 0.1 stays 0.1."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise BadNumber(f"not a decimal number: {value!r}") from exc
    if not result.is_finite():
        raise BadNumber(f"not a finite decimal number: {value!r}")
    return result


def fixed8(value: Decimal) -> str:
    """Binance's 8-decimal text, e.g. ``'0.01000000'``; raises if digits would be lost."""
    quantized = value.quantize(EIGHT)
    if quantized != value:
        raise ValueError(f"{value} has more than 8 decimals; the emulator must round it "
                         "where the venue does before rendering")
    return f"{quantized:f}"


def plain(value: Decimal) -> str:
    """Shortest plain text (no exponent, no trailing zeros), as OKX sends numbers."""
    if value == 0:
        return "0"
    with localcontext() as ctx:
        ctx.prec = 60
        text = f"{value.normalize():f}"
    return text


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` not above ``value`` (``step`` 0: unchanged)."""
    if step == 0:
        return value
    steps = (value / step).to_integral_value(rounding=ROUND_DOWN)
    return (steps * step).quantize(step)


def round_up(value: Decimal, quantum: Decimal) -> Decimal:
    """``value`` rounded away from zero to ``quantum`` (e.g. ``EIGHT``)."""
    return value.quantize(quantum, rounding=ROUND_UP)


def round_down(value: Decimal, quantum: Decimal) -> Decimal:
    """``value`` truncated to ``quantum``."""
    return value.quantize(quantum, rounding=ROUND_DOWN)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """True if ``value`` is an exact multiple of ``step`` (a zero step disables the rule)."""
    return step == 0 or value % step == 0


def decimals(value: Decimal) -> int:
    """How many decimal places ``value`` is written with (``'0.0100'`` has 4)."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0
