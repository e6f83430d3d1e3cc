"""The audit log: a hash chain that names the first tampered line, whatever the tampering."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloom.adapters.ops.audit import GENESIS, AuditKind, AuditLog, chain_hash, verify

N = 6


def write_log(path: Path, n: int = N) -> list[str]:
    log = AuditLog(path)
    kinds = list(AuditKind)
    for i in range(n):
        log.append(kinds[i % len(kinds)], actor="ana", ts_ms=1_000 + i, subject=f"dep-{i % 2}",
                   details={"i": i, "reason": f"step {i}", "figures": [i, i / 3]})
    return path.read_text().splitlines()


def test_chain_links_every_line(tmp_path):
    path = tmp_path / "audit.jsonl"
    lines = write_log(path)
    prev = GENESIS
    for seq, line in enumerate(lines, start=1):
        rec = json.loads(line)
        assert rec["seq"] == seq and rec["prev_hash"] == prev
        entry = {k: rec[k] for k in ("actor", "details", "kind", "seq", "subject", "ts")}
        assert rec["hash"] == chain_hash(prev, entry)
        prev = rec["hash"]
    report = verify(path)
    assert report.ok and report.entries == N and report.head_hash == prev
    assert "chain intact" in report.format()


def test_reopened_log_continues_the_chain(tmp_path):
    path = tmp_path / "audit.jsonl"
    write_log(path, 2)
    rec = AuditLog(path).append(AuditKind.RESTART, actor="bob", ts_ms=9, subject="runner-1")
    assert rec.seq == 3 and verify(path).ok


def test_secrets_are_refused_before_writing(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for details in ({"api_key": "SEKRIT-1"}, {"nested": {"Secret": "SEKRIT-2"}},
                    {"x": [{"password": "SEKRIT-3"}]}, {"auth_token": "SEKRIT-4"}):
        with pytest.raises(ValueError, match="looks like a credential") as err:
            log.append(AuditKind.MANUAL_ACTION, actor="ana", ts_ms=1, subject="s",
                       details=details)
        assert "SEKRIT" not in str(err.value)  # the value is never echoed
    assert not path.exists()


def test_concurrent_writers_keep_one_chain(tmp_path):
    path = tmp_path / "audit.jsonl"

    def writer(who: str) -> None:
        log = AuditLog(path)  # separate objects, like separate processes
        for i in range(15):
            log.append(AuditKind.MANUAL_ACTION, actor=who, ts_ms=i, subject="x")

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = verify(path)
    assert report.ok and report.entries == 60


# --------------------------------------------------------------------------- tampering


def first_difference(original: list[str], tampered: list[str]) -> int:
    """1-based number of the first line that differs (a missing line counts)."""
    for i in range(max(len(original), len(tampered))):
        a = original[i] if i < len(original) else None
        b = tampered[i] if i < len(tampered) else None
        if a != b:
            return i + 1
    raise AssertionError("not tampered")


@st.composite
def tampering(draw):
    kind = draw(st.sampled_from(["edit", "delete", "swap", "insert"]))
    if kind == "edit":
        i = draw(st.integers(0, N - 1))
        how = draw(st.sampled_from(["replace_char", "reformat", "value", "junk"]))
        return kind, i, how, draw(st.integers(0, 10_000))
    if kind == "delete":
        return kind, draw(st.integers(0, N - 1)), None, 0
    if kind == "swap":
        return kind, draw(st.integers(0, N - 2)), None, 0
    return kind, draw(st.integers(0, N)), draw(st.sampled_from(["copy", "junk", "forged"])), \
        draw(st.integers(0, N - 1))


def apply(lines: list[str], change) -> list[str]:
    kind, i, how, n = change
    out = list(lines)
    if kind == "edit":
        line = out[i]
        if how == "replace_char":
            pos = n % len(line)
            out[i] = line[:pos] + ("x" if line[pos] != "x" else "y") + line[pos + 1:]
        elif how == "reformat":
            out[i] = json.dumps(json.loads(line), sort_keys=True)  # spaces after separators
        elif how == "value":
            rec = json.loads(line)
            rec["details"]["i"] = -1
            out[i] = json.dumps(rec, sort_keys=True, separators=(",", ":"))
        else:
            out[i] = "not json"
    elif kind == "delete":
        del out[i]
    elif kind == "swap":
        out[i], out[i + 1] = out[i + 1], out[i]
    else:
        if how == "copy":
            new = lines[n]
        elif how == "junk":
            new = '{"hello":"world"}'
        else:  # correctly hashed on top of the line before it
            prev = json.loads(lines[i - 1])["hash"] if i else GENESIS
            entry = {"actor": "mallory", "details": {}, "kind": "manual_action", "seq": i + 1,
                     "subject": "x", "ts": 1}
            new = json.dumps({**entry, "prev_hash": prev, "hash": chain_hash(prev, entry)},
                             sort_keys=True, separators=(",", ":"))
        out.insert(i, new)
    return out


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> tuple[list[str], str]:
    """A real log's lines and head file, written once (appends fsync: slow to repeat)."""
    path = tmp_path_factory.mktemp("pristine") / "audit.jsonl"
    lines = write_log(path)
    return lines, (path.parent / "audit.jsonl.head").read_text()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(change=tampering())
def test_any_single_tampering_is_found_at_its_line(tmp_path_factory, pristine, change):
    original, head = pristine
    tampered = apply(original, change)
    if tampered == original:
        return
    folder = tmp_path_factory.mktemp("audit")
    path = folder / "audit.jsonl"
    (folder / "audit.jsonl.head").write_text(head)
    path.write_text("".join(line + "\n" for line in tampered))
    report = verify(path)
    assert not report.ok, change
    expected = first_difference(original, tampered)
    kind, i, how, _ = change
    if (kind, how) == ("insert", "forged") and i < N:
        # a line hashed correctly on its predecessor looks genuine where it stands;
        # the chain breaks at the next line, whose prev_hash no longer matches
        expected += 1
    assert report.first_bad_line == expected, (change, report)


def test_truncated_last_line_and_missing_head_are_reported(tmp_path):
    path = tmp_path / "audit.jsonl"
    lines = write_log(path)
    path.write_text("".join(line + "\n" for line in lines[:-1]))
    report = verify(path)
    assert report.first_bad_line == N and "deleted" in report.problem
    path.write_text("".join(line + "\n" for line in lines))
    (tmp_path / "audit.jsonl.head").unlink()
    assert verify(path).first_bad_line == N + 1
    with pytest.raises(FileNotFoundError, match="does not exist"):
        verify(tmp_path / "nope.jsonl")
