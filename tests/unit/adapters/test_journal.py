"""The journal: append-only JSONL, typed read-back, secrets refused, torn last line tolerated."""

from __future__ import annotations

import json

import pytest

from tradeloom.adapters.live.journal import Journal, read_journal
from tradeloom.adapters.live.journal_codec import bar_from_payload, bar_payload, bars_of
from tradeloom.engine.errors import DataError
from tradeloom.engine.orders import Bar

KEY, SECRET = "tlKEYjournal77", "tlSECRETjournal99"


def test_round_trip_and_append_only(tmp_path):
    path = tmp_path / "j.jsonl"
    bar = Bar("BTC/USDT", 0, 3_600_000, 1.0, 2.0, 0.5, 1.1234567890123, 10.0)
    with Journal(path) as j:
        j.append("bar", bar_payload(bar), exchange_ts=bar.close_ts, local_ts=3_601_000)
        j.append("submit", {"client_id": "t1-1", "side": "buy"}, exchange_ts=None, local_ts=3_601_001)
    first = path.read_bytes()
    with Journal(path) as j:  # reopened: continues the sequence, never rewrites
        j.append("end", {"bars": 1}, exchange_ts=None, local_ts=3_602_000)
    assert path.read_bytes().startswith(first)
    records = read_journal(path)
    assert [(r.seq, r.kind) for r in records] == [(1, "bar"), (2, "submit"), (3, "end")]
    assert records[0].exchange_ts == 3_600_000 and records[0].local_ts == 3_601_000
    assert bars_of(records) == [bar] and bar_from_payload(records[0].payload) == bar


@pytest.mark.parametrize("payload", [
    {"note": f"key={KEY}"},
    {"nested": [{"x": SECRET}]},
    {"apiKey": "anything"},
    {"headers": {"X-signature": "abc"}},
])
def test_secrets_are_refused_and_never_written(tmp_path, payload):
    path = tmp_path / "j.jsonl"
    with Journal(path, secrets=(KEY, SECRET)) as j:
        with pytest.raises(ValueError) as info:
            j.append("order", payload, exchange_ts=None, local_ts=1)
        j.append("order", {"status": "open"}, exchange_ts=None, local_ts=2)
    assert KEY not in str(info.value) and SECRET not in str(info.value)
    text = path.read_text()
    assert KEY not in text and SECRET not in text
    assert [r.seq for r in read_journal(path)] == [1]


def test_torn_last_line_is_skipped_but_corruption_is_an_error(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        j.append("bar", {"a": 1}, exchange_ts=1, local_ts=1)
    with open(path, "a") as fh:
        fh.write('{"seq": 2, "kind": "ba')  # crash mid-write
    assert len(read_journal(path)) == 1
    path.write_text(path.read_text().replace('{"seq": 2, "kind": "ba', "garbage\n") + json.dumps({}) + "\n")
    with pytest.raises(DataError, match="line 2"):
        read_journal(path)


def test_bad_kind_and_closed_journal(tmp_path):
    j = Journal(tmp_path / "j.jsonl")
    with pytest.raises(ValueError, match="kind"):
        j.append("Bad Kind", {}, exchange_ts=None, local_ts=0)
    j.close()
    with pytest.raises(ValueError, match="closed"):
        j.append("bar", {}, exchange_ts=None, local_ts=0)
