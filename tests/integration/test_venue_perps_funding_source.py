"""The venue's funding as the runner reads it (``adapters.ccxt.funding.FundingSource``),
against the Binance USDⓈ-M emulator with the real async ccxt client: one request per
funding period, a funding time the venue never publishes passed over with a report."""

from __future__ import annotations

import asyncio

from perp_venue import FUNDING_1, FUNDING_2, HOUR, PERP, START, futures_venue, settings
from venues.testing import API_KEY, SECRET

from tradeloom.adapters.ccxt.exchange import Credentials, make_client, market_specs_from_ccxt
from tradeloom.adapters.ccxt.funding import FundingSource


def _read(clock, emu, steps, *, live=False, holds=None):
    """Move the clock to each ``until`` and ask the source; what it returned and reported."""
    reports: list[tuple[str, dict]] = []

    async def main():
        credentials = Credentials(API_KEY, SECRET) if live else None
        client = make_client(settings(emu), credentials=credentials, async_=True)
        try:
            await client.load_markets()
            specs = market_specs_from_ccxt(client.markets, exchange_id=client.id)
            source = FundingSource(client, {PERP: specs[PERP]}, live=live, holds=holds,
                                   report=lambda kind, p: reports.append((kind, p)))
            source.start(START + 6 * HOUR)
            out = []
            for until in steps:
                clock.set(until)
                found = await source.events(until) if source.due(until) else []
                out.append([(f.event.ts, f.event.rate, f.event.mark, f.event.amount)
                            if live else (f.event.ts, f.event.rate, f.event.mark)
                            for f in found])
            return out, emu.log.count("/fapi/v1/fundingRate")
        finally:
            await client.close()

    return (*asyncio.run(main()), reports)


def test_each_funding_time_is_read_once_when_a_bar_reaches_it():
    with futures_venue() as (emu, clock):
        out, requests, reports = _read(clock, emu, [FUNDING_1 - HOUR, FUNDING_1,
                                                    FUNDING_1 + HOUR, FUNDING_2,
                                                    FUNDING_2 + HOUR])
    # before 00:00 not due (no request); 00:00: the venue's row (mark: the 23:00 bar's
    # close 29850); 01:00 not due; 08:00: its row (mark 30450); 09:00 not due
    assert out == [[], [(FUNDING_1, 0.0001, 29850.0)], [], [(FUNDING_2, 0.0003, 30450.0)], []]
    assert requests == 2 and reports == []


def test_a_funding_time_the_venue_never_publishes_is_reported_after_an_interval():
    with futures_venue(rates={FUNDING_2 + 8 * HOUR: "0.0001"}) as (emu, clock):
        out, requests, reports = _read(clock, emu, [FUNDING_1, FUNDING_1 + HOUR, FUNDING_2])
    # 00:00, 01:00: due, nothing published (asked again); 08:00: a whole interval later,
    # 00:00 is passed over with a report (08:00 itself is not published either)
    assert out == [[], [], []] and requests == 3
    assert reports == [("funding_missing", {"symbol": PERP, "ts": FUNDING_1, "until": FUNDING_2,
                                            "live": False})]


def test_live_and_flat_each_published_rate_arrives_with_nothing_paid():
    """A flat account is paid nothing, yet the strategy must see the rate (a carry enters
    on it): each published funding time is an event of amount 0 carrying its rate."""
    with futures_venue() as (emu, clock):
        out, _, reports = _read(clock, emu, [FUNDING_1, FUNDING_2], live=True,
                                holds=lambda symbol: False)
    assert out == [[(FUNDING_1, 0.0001, 29850.0, 0.0)], [(FUNDING_2, 0.0003, 30450.0, 0.0)]]
    assert reports == []


def test_live_with_a_position_and_no_payment_yet_nothing_is_booked_from_the_rate_alone():
    """Holding a position, the venue's payment is what is booked: a published rate
    without it is not an event (asked again next round, reported after an interval)."""
    with futures_venue() as (emu, clock):
        out, _, reports = _read(clock, emu, [FUNDING_1, FUNDING_1 + HOUR, FUNDING_2], live=True,
                                holds=lambda symbol: True)
    assert out == [[], [], []]
    assert reports == [("funding_missing", {"symbol": PERP, "ts": FUNDING_1, "until": FUNDING_2,
                                            "live": True})]
