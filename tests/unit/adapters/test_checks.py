"""Pure data checks: every injected problem is found, and nothing else."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloom.adapters.store.checks import (
    CheckAccumulator,
    Gap,
    bad_bar_mask,
    bad_bar_reason,
    check_frame,
    duplicate_rows,
    find_gaps,
    misaligned_mask,
    out_of_order_rows,
)

MINUTE = 60_000
START = 1_704_067_200_000
BAD_KINDS = ("high_below", "low_above", "negative_volume", "zero_low", "nan", "inf")


def clean_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(n)
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    open_ = np.concatenate(([100.0], close[:-1]))
    return pd.DataFrame({
        "ts": START + np.arange(n, dtype=np.int64) * MINUTE, "open": open_,
        "high": np.maximum(open_, close) + rng.uniform(0, 1, n),
        "low": np.minimum(open_, close) - rng.uniform(0, 1, n), "close": close,
        "volume": rng.uniform(0, 10, n)})


@st.composite
def damaged_frames(draw):
    """A clean 1m frame with separated gaps, exact duplicates and bad bars injected."""
    n = draw(st.integers(20, 150))
    frame = clean_frame(n)
    rows, gaps, dups, bad = [], [], set(), set()
    rows.append(frame.iloc[0].copy())
    p = 1
    while p < n - 4:
        action = draw(st.sampled_from(["none", "none", "gap", "dup", "bad"]))
        if action == "gap":
            length = draw(st.integers(1, 3))
            gaps.append(Gap(int(frame.ts[p - 1]), int(frame.ts[p + length]), length))
            p += length
        elif action == "dup":
            rows += [frame.iloc[p].copy(), frame.iloc[p].copy()]
            dups.add(int(frame.ts[p]))
            p += 1
        elif action == "bad":
            row = frame.iloc[p].copy()
            kind = draw(st.sampled_from(BAD_KINDS))
            if kind == "high_below":
                row["high"] = max(row["open"], row["close"]) - 0.5
            elif kind == "low_above":
                row["low"] = min(row["open"], row["close"]) + 0.5
            elif kind == "negative_volume":
                row["volume"] = -1.0
            elif kind == "zero_low":
                row["low"] = 0.0
            else:
                column = draw(st.sampled_from(["open", "high", "low", "close", "volume"]))
                row[column] = np.nan if kind == "nan" else np.inf
            rows.append(row)
            bad.add(int(frame.ts[p]))
            p += 1
        else:
            rows.append(frame.iloc[p].copy())
            p += 1
        rows.append(frame.iloc[p].copy())  # a clean spacer keeps problems apart
        p += 1
    rows += [frame.iloc[i].copy() for i in range(p, n)]
    damaged = pd.DataFrame(rows).reset_index(drop=True).astype({"ts": "int64"})
    return damaged, gaps, dups, bad


@settings(max_examples=80, deadline=None)
@given(damaged_frames())
def test_every_injected_problem_is_found_and_nothing_else(case):
    frame, gaps, dups, bad = case
    ts = frame.ts.to_numpy()
    assert find_gaps(ts, MINUTE) == gaps
    assert set(ts[duplicate_rows(ts)].tolist()) == dups
    mask = bad_bar_mask(*(frame[c].to_numpy() for c in ("open", "high", "low", "close", "volume")))
    assert set(ts[mask].tolist()) == bad
    report = check_frame(frame, "1m")
    assert (report.gap_count, report.missing_bars) == (len(gaps), sum(g.missing for g in gaps))
    assert report.duplicate_count == len(dups)
    assert report.bad_bar_count == sum(1 for t in ts[mask])
    assert (report.out_of_order_count, report.misaligned_count) == (0, 0)
    assert report.ok == (not gaps and not dups and not bad)


@settings(max_examples=30, deadline=None)
@given(st.integers(20, 200), st.integers(1, 7))
def test_checking_in_chunks_finds_the_same_as_checking_whole(n, chunks):
    frame = clean_frame(n).drop(index=[5, 6, n - 3]).reset_index(drop=True)
    acc = CheckAccumulator("1m")
    for part in np.array_split(np.arange(len(frame)), chunks):
        acc.feed(*(frame[c].to_numpy()[part] for c in frame.columns))
    assert acc.report() == check_frame(frame, "1m")


def test_rows_earlier_than_the_row_before_are_out_of_order():
    ts = np.array([0, MINUTE, 3 * MINUTE, 2 * MINUTE, 4 * MINUTE])
    assert out_of_order_rows(ts).tolist() == [3]
    frame = clean_frame(5).assign(ts=ts)
    report = check_frame(frame, "1m")
    assert report.out_of_order_count == 1
    assert (report.out_of_order[0].row, report.out_of_order[0].previous_ts) == (3, 3 * MINUTE)


def test_times_off_the_grid_are_misaligned():
    ts = np.array([0, MINUTE + 1, 2 * MINUTE])
    assert misaligned_mask(ts, MINUTE).tolist() == [False, True, False]
    assert check_frame(clean_frame(3).assign(ts=ts + START), "1m").misaligned_count == 1


def test_weekly_bars_are_on_the_grid_on_mondays():
    monday = START  # 2024-01-01
    frame = clean_frame(2).assign(ts=[monday, monday + 7 * 86_400_000])
    assert check_frame(frame, "1w").misaligned_count == 0


def test_bad_bar_reasons_name_the_column_and_rule():
    assert bad_bar_reason(10.0, 12.0, 11.0, 11.5, 1.0) == ("low", "low 11.0 > open 10.0")
    assert bad_bar_reason(10.0, 12.0, 9.0, 13.0, 1.0) == ("high", "high 12.0 < close 13.0")
    assert bad_bar_reason(float("nan"), 12.0, 9.0, 13.0, 1.0) == ("open", "open is nan")


def test_a_bar_with_a_zero_or_negative_price_is_bad():
    # a feed that prints 0 for a missing trade: low 0 <= min(open, close) passes the OHLC
    # order rules, but no crypto trade, mark or index price is 0 or below
    assert bad_bar_reason(1.0, 2.0, 0.0, 1.5, 1.0) == ("low", "low 0.0 is not a positive price")
    assert bad_bar_reason(-1.0, 2.0, -2.0, 1.5, 1.0) == ("low", "low -2.0 is not a positive price")
    prices = [np.array([v]) for v in (1.0, 2.0, 0.0, 1.5, 1.0)]
    assert bad_bar_mask(*prices).tolist() == [True]


def test_report_to_dict_is_json_ready():
    frame = clean_frame(10).drop(index=[4]).reset_index(drop=True)
    data = json.loads(json.dumps(check_frame(frame, "1m", exchange="x", symbol="A/B").to_dict()))
    assert data["gaps"] == [{"from_ts": START + 3 * MINUTE, "to_ts": START + 5 * MINUTE,
                             "missing": 1}]
    assert data["ok"] is False and data["first"] == "2024-01-01T00:00:00Z"
