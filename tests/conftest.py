"""Shared test fixtures: a loopback-only network guard and the Binance emulator.

The guard is a process-wide audit hook (hooks cannot be removed, so it checks a
flag that the session fixture turns on). Any ``socket.connect`` or DNS lookup
for a host other than 127.0.0.1/::1/localhost raises at once and fails the test
that made it, even if the code under test swallowed the error.

Property tests draw their examples deterministically (hypothesis ``derandomize``): the
suite gives the same verdict on every run and machine. ``HYPOTHESIS_PROFILE=explore``
draws fresh random examples instead (run it to hunt for new counterexamples; turn a
failure it finds into an explicit ``@example`` or a unit test).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

if TYPE_CHECKING:
    from emulator import BinanceEmulator

# Kept on ``sys`` so a second import of this module (another rootdir/import mode)
# shares the one state the one hook reads.
_GUARD: dict[str, object] = sys.__dict__.setdefault(
    "_tradeloom_loopback_guard", {"active": False, "violations": []})
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class NonLoopbackConnection(RuntimeError):
    """A test tried to reach a host other than 127.0.0.1/::1."""


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple) -> None:
    if not _GUARD["active"]:
        return
    if event == "socket.connect":
        sock, address = args
        if getattr(sock, "family", None) == socket.AF_UNIX or not isinstance(address, tuple):
            return
        host = address[0]
    elif event == "socket.getaddrinfo":
        host = args[0]
        if host in (None, "", b"", "0.0.0.0", "::"):  # lookups for binding, not contacting
            return
    else:
        return
    if not _is_loopback(host):
        message = f"{event} to {host!r}: tests may only reach 127.0.0.1 / ::1"
        _GUARD["violations"].append(message)  # type: ignore[union-attr]
        raise NonLoopbackConnection(message)


if not _GUARD.get("hooked"):
    sys.addaudithook(_audit)
    _GUARD["hooked"] = True


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> Iterator[None]:
    """Turn the loopback guard on for the whole session."""
    _GUARD["active"] = True
    try:
        yield
    finally:
        _GUARD["active"] = False


@pytest.fixture(scope="session", autouse=True)
def private_lock_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Runner locks go to a directory of this test session (``TRADELOOM_LOCK_DIR``, also
    seen by subprocesses), never to the user's real lock directory."""
    import os

    before = os.environ.get("TRADELOOM_LOCK_DIR")
    os.environ["TRADELOOM_LOCK_DIR"] = str(tmp_path_factory.mktemp("locks"))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TRADELOOM_LOCK_DIR", None)
        else:
            os.environ["TRADELOOM_LOCK_DIR"] = before


@pytest.fixture(autouse=True)
def _no_network_violations() -> Iterator[None]:
    """Fail a test that tried a non-loopback connection, even if the error was caught."""
    violations: list[str] = _GUARD["violations"]  # type: ignore[assignment]
    violations.clear()
    yield
    if violations:
        found = list(violations)
        violations.clear()
        pytest.fail("non-loopback network access: " + "; ".join(found), pytrace=False)


@pytest.fixture
def emulator() -> Iterator[BinanceEmulator]:
    """A running Binance spot emulator (BTC/USDT, ETH/USDT 1h sample bars)."""
    from emulator import BinanceEmulator

    with BinanceEmulator(["BTC/USDT", "ETH/USDT"]) as emu:
        yield emu
