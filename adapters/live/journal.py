"""The session journal: every inbound event and outbound command, append-only JSONL.

Why: a journal is what lets ``tradeloom replay`` prove that a paper or live session
took exactly the decisions a backtest takes on the same market events, and what an
operator reads after an incident. Nothing the runner learns or sends is left out.

API (stable; the exchange-side adapters call ``append`` directly)::

    journal = Journal(path, secrets=("<api key>", "<secret>"))
    journal.append(kind: str, payload: Mapping[str, Any], *,
                   exchange_ts: int | None, local_ts: int) -> None
    journal.close()
    read_journal(path) -> list[JournalRecord]

One line per record::

    {"seq": 7, "kind": "bar", "exchange_ts": 1704070800000, "local_ts": 1704070801000,
     "payload": {...}}

``seq`` counts from 1 within the file (a reopened journal continues the count).
``exchange_ts`` is when the exchange says the thing happened (a bar's close, an
order update's exchange time) or ``None`` for purely local records; ``local_ts`` is
the runner's clock when it was written. Kinds the runner writes (payloads built by
``journal_codec``): ``session`` (strategy, params, symbols, timeframe, risk config,
initial balances, markets), ``warmup_bar``, ``bar``, ``trade``, ``quote``,
``order`` (an order update), ``fill``, ``balance``, ``submit`` and ``cancel`` (the
commands, with the client order id), ``drift``, ``kill``, ``pause``, ``resume``,
``error``, ``end``. Other kinds are allowed (``[a-z_]+``) and read back as-is.

**Durability.** Every append is written and flushed to the OS at once (a crash of
the process loses nothing already appended). ``fsync`` decides when the OS is made
to put it on disk: ``"commands"`` (default) fsyncs after each ``submit``/``cancel``
/``kill``/``end`` record and at close, so an order the exchange may have accepted is
durable before the runner goes on; ``"always"`` after every record; ``"never"``
only at close. Files are opened in append mode and never rewritten.

**Secrets.** ``secrets`` are the credential strings of the session. A payload that
contains one (anywhere, as a substring) is refused with ``ValueError`` before
anything is written; keys that look like credentials (``apiKey``, ``secret``,
``password``, ``signature``...: the one rule, ``adapters.secrets.is_credential_key``)
are refused too. The refusal message never repeats the secret.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "j.jsonl")
>>> with Journal(path) as j:
...     j.append("submit", {"client_id": "run1-1", "side": "buy"}, exchange_ts=None, local_ts=5)
>>> [(r.seq, r.kind, r.payload["client_id"]) for r in read_journal(path)]
[(1, 'submit', 'run1-1')]
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Self

from tradeloom.adapters.secrets import is_credential_key
from tradeloom.engine.errors import DataError

FsyncPolicy = Literal["commands", "always", "never"]

#: Kinds fsynced under the default ``"commands"`` policy.
DURABLE_KINDS = frozenset({"submit", "cancel", "kill", "end", "session"})

_KIND = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """One journal line, parsed."""

    seq: int
    kind: str
    exchange_ts: int | None
    local_ts: int
    payload: dict[str, Any]


class Journal:
    """Append-only JSONL journal (see the module docstring for format and durability)."""

    def __init__(self, path: str | os.PathLike[str], *, secrets: Iterable[str] = (),
                 fsync: FsyncPolicy = "commands") -> None:
        if fsync not in ("commands", "always", "never"):
            raise ValueError(f"Journal fsync={fsync!r}: use 'commands', 'always' or 'never'")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._secrets = tuple(s for s in secrets if s)
        self._fsync = fsync
        self._lock = threading.Lock()
        self._seq = _last_seq(self.path)
        self._fh: IO[str] | None = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    @property
    def seq(self) -> int:
        """The ``seq`` of the last record written (0 for an empty journal)."""
        return self._seq

    def append(self, kind: str, payload: Mapping[str, Any], *, exchange_ts: int | None,
               local_ts: int) -> None:
        """Write one record, flushed (and fsynced per the policy) before returning."""
        if not _KIND.match(kind):
            raise ValueError(f"journal kind {kind!r}: use lower-case letters, digits and _")
        body = dict(payload)
        self._check_secrets(kind, body)
        with self._lock:
            fh = self._fh
            if fh is None:
                raise ValueError(f"journal {self.path} is closed; open a new Journal to append")
            self._seq += 1
            record = {"seq": self._seq, "kind": kind,
                      "exchange_ts": None if exchange_ts is None else int(exchange_ts),
                      "local_ts": int(local_ts), "payload": body}
            line = json.dumps(record, separators=(",", ":"), allow_nan=False,
                              default=_default)
            fh.write(line + "\n")
            fh.flush()
            if self._fsync == "always" or (self._fsync == "commands" and kind in DURABLE_KINDS):
                os.fsync(fh.fileno())

    def close(self) -> None:
        """Flush, fsync and close; further appends raise."""
        with self._lock:
            fh, self._fh = self._fh, None
            if fh is not None:
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_secrets(self, kind: str, payload: Mapping[str, Any]) -> None:
        for key, value in _walk(payload):
            if key is not None and is_credential_key(key):
                raise ValueError(
                    f"journal {kind!r} payload has a credential-like field {key!r}; journals "
                    "never hold credentials - drop the field before appending"
                )
            if (self._secrets and isinstance(value, str)
                    and any(secret in value for secret in self._secrets)):
                where = f"field {key!r}" if key is not None else "a value"
                raise ValueError(
                    f"journal {kind!r} payload {where} contains a credential of this "
                    "session; it was not written - remove it from the payload"
                )


def _walk(node: Any, key: str | None = None) -> Iterator[tuple[str | None, Any]]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield str(k), str(k)  # the key itself may carry a secret
            yield from _walk(v, str(k))
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _walk(v, key)
    else:
        yield key, node


def _default(value: Any) -> Any:
    """JSON for the few non-JSON types payloads carry (enums, numpy scalars)."""
    enum_value = getattr(value, "value", None)
    if enum_value is not None and isinstance(enum_value, (str, int)):
        return enum_value
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    raise TypeError(f"journal payload value {value!r} ({type(value).__name__}) is not JSON")


def _last_seq(path: Path) -> int:
    """The last ``seq`` of an existing journal, so a reopened one continues the count."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 65_536))
        tail = fh.read().decode("utf-8", errors="replace").strip().splitlines()
    for line in reversed(tail):
        try:
            return int(json.loads(line)["seq"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0


def read_journal(path: str | os.PathLike[str]) -> list[JournalRecord]:
    """Every record of a journal, in file order; a malformed line is a ``DataError``.

    A last line cut short by a crash (no trailing newline, invalid JSON) is skipped:
    it was never acknowledged as written.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"journal {p} does not exist; pass the path written by a paper/live run")
    text = p.read_text(encoding="utf-8")
    lines = text.split("\n")
    records: list[JournalRecord] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            record = JournalRecord(int(raw["seq"]), str(raw["kind"]),
                                   None if raw["exchange_ts"] is None else int(raw["exchange_ts"]),
                                   int(raw["local_ts"]), dict(raw["payload"]))
        except (ValueError, KeyError, TypeError) as exc:
            if number == len(lines) and not text.endswith("\n"):
                break  # torn last write
            raise DataError(f"journal {p} line {number}: not a journal record ({exc}); "
                            "the file was edited or is not a tradeloom journal") from exc
        records.append(record)
    return records


def finite(value: float | None) -> float | None:
    """``value`` if finite, else ``None`` (JSON has no NaN)."""
    return value if value is not None and math.isfinite(value) else None


__all__ = ["DURABLE_KINDS", "FsyncPolicy", "Journal", "JournalRecord", "finite", "read_journal"]
