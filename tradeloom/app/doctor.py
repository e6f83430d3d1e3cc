"""``tradeloom doctor CONFIG``: test the connection a session will use, before it trades.

Why: the first live start is where people learn their key lacks trading permission,
their clock is 3 s off (Binance then refuses every signed request with -1021), or a
symbol is spelt differently on this venue - in the middle of a session. The doctor
runs the same client the session would (``make_client`` with the config's exchange
settings and credentials) through these checks, in order, and stops at the first
failure with what to fix (``--json`` for machines):

1. **connection**: the exchange answers (``load_markets``);
2. **markets**: every configured symbol is a market there (with its tick/lot size and
   minimum notional, as the session will use them);
3. **clock**: our clock against the exchange's (``fetch_time``), within
   ``runner.max_drift_ms``;
4. **credentials**: the key and secret are configured (environment or secrets file);
5. **authentication**: a signed request succeeds (``fetch_balance``);
6. **permissions**: the key may trade spot (where the venue reports it: Binance's
   ``canTrade``/``permissions``);
7. **rate limit**: the request weight used this minute against the limit (Binance's
   ``X-MBX-USED-WEIGHT-1M`` header and ``rateLimits``), a warning above 80 %;
8. **key age**: the key against ``credentials.rotate_after_days`` (``app.key_rotation``),
   a warning when overdue or unknown.

Nothing is written anywhere: no state dir, no journal, no order.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import ccxt

from tradeloom.adapters.ccxt.exchange import make_client, map_ccxt_error, market_specs_from_ccxt
from tradeloom.adapters.clock import Clock, SystemClock
from tradeloom.app.key_rotation import key_age
from tradeloom.app.live_config import LiveConfig, load_credentials
from tradeloom.engine.errors import ConfigError

#: Above this share of the request-weight limit the rate-limit check warns.
WEIGHT_WARN = 0.8


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Check:
    """One check's verdict: what was found and, unless ok, what to do."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Diagnosis:
    """Every check, in order; ``ok`` when none failed."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.status is not Status.FAIL for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.to_dict() for c in self.checks]}


_ORDER = ("connection", "markets", "clock", "credentials", "authentication", "permissions",
          "rate limit", "key age")


class _Stop(Exception):
    """A failed check ends the diagnosis (the rest is skipped)."""


async def diagnose(config: LiveConfig, *, environ: Mapping[str, str] | None = None,
                   clock: Clock | None = None) -> Diagnosis:
    """Run the checks of the module docstring against the config's exchange."""
    clock = clock or SystemClock()
    checks: list[Check] = []
    client: Any = None

    def add(name: str, status: Status, detail: str, fix: str = "") -> None:
        checks.append(Check(name, status, detail, fix))
        if status is Status.FAIL:
            raise _Stop

    try:
        missing = ""
        try:
            credentials = load_credentials(config.credentials, environ)
        except ConfigError as exc:
            credentials, missing = None, str(exc)
        client = make_client(config.exchange, credentials=credentials, async_=True)
        await _connection(client, config, add)
        await _clock(client, config, clock, add)
        if credentials is None:
            add("credentials", Status.FAIL, missing,
                f"export {config.credentials.api_key_env} and {config.credentials.secret_env}"
                ", or set credentials.secrets_file in the config")
        add("credentials", Status.OK, "API key and secret configured (values not shown)")
        balance = await _authentication(client, config, add)
        _permissions(balance, add)
        await _rate_limit(client, config, add)
        _key_age(config, clock, add)
    except _Stop:
        pass
    finally:
        if client is not None:
            await client.close()
    done = {c.name for c in checks}
    checks += [Check(n, Status.SKIPPED, "not checked: an earlier check failed")
               for n in _ORDER if n not in done]
    return Diagnosis(tuple(checks))


async def _connection(client: Any, config: LiveConfig, add: Any) -> None:
    started = time.monotonic()
    try:
        await client.load_markets()
    except ccxt.BaseError as exc:
        err = map_ccxt_error(exc, context=f"{client.id} load_markets")
        add("connection", Status.FAIL, str(err),
            "check the network, the exchange's status page, and exchange.api_url if set")
    add("connection", Status.OK, f"{client.id} answered in {time.monotonic() - started:.2f} s "
        f"({len(client.markets)} markets)")
    specs = market_specs_from_ccxt(client.markets, precision_mode=client.precisionMode)
    missing = [s for s in config.symbols if s not in specs]
    if missing:
        from tradeloom.adapters.ccxt.exchange import did_you_mean

        hints = "; ".join(f"{s}{did_you_mean(s, list(specs))}" for s in missing)
        add("markets", Status.FAIL, f"not markets of {client.id}: {hints}",
            "fix symbols in the config (unified form BASE/QUOTE, e.g. 'BTC/USDT')")
    rules = "; ".join(f"{s} tick {specs[s].tick_size:g} lot {specs[s].lot_step:g} min notional "
                      f"{specs[s].min_notional:g}" if specs[s].tick_size and specs[s].lot_step
                      else f"{s} (no precision published)" for s in config.symbols)
    add("markets", Status.OK, rules)


async def _clock(client: Any, config: LiveConfig, clock: Clock, add: Any) -> None:
    before = clock.now_ms()
    try:
        server = int(await client.fetch_time())
    except ccxt.BaseError as exc:
        add("clock", Status.WARN, f"the exchange's time is not available ({type(exc).__name__})",
            "")
        return
    drift = server - (before + clock.now_ms()) // 2
    limit = config.runner.max_drift_ms
    if abs(drift) > limit:
        add("clock", Status.FAIL, f"this machine's clock is {-drift:+d} ms off the exchange's "
            f"(limit {limit} ms, runner.max_drift_ms)",
            "synchronise the system clock (chrony or systemd-timesyncd); signed requests "
            "outside the exchange's recvWindow are refused")
    add("clock", Status.OK, f"drift {drift:+d} ms (limit {limit} ms)")


async def _authentication(client: Any, config: LiveConfig, add: Any) -> Any:
    try:
        balance = await client.fetch_balance()
    except ccxt.BaseError as exc:
        err = map_ccxt_error(exc, context=f"{client.id} fetch_balance")
        fix = (f"check the key and secret ({config.credentials.api_key_env}/"
               f"{config.credentials.secret_env} or the secrets file), that the key is enabled "
               "and that this machine's IP is allowed for it")
        add("authentication", Status.FAIL, str(err), fix)
    add("authentication", Status.OK, "a signed request (fetch_balance) succeeded")
    return balance


def _permissions(balance: Any, add: Any) -> None:
    info = balance.get("info") if isinstance(balance, dict) else None
    if not isinstance(info, dict) or "canTrade" not in info:
        add("permissions", Status.SKIPPED, "the exchange does not report key permissions here")
        return
    perms = info.get("permissions") or []
    if not info.get("canTrade") or (perms and "SPOT" not in perms):
        add("permissions", Status.FAIL, f"the key may not trade spot (canTrade "
            f"{info.get('canTrade')}, permissions {perms})",
            "enable spot trading for this API key on the exchange (and nothing more: no "
            "withdrawals)")
    add("permissions", Status.OK, f"spot trading allowed (permissions {perms})")


async def _rate_limit(client: Any, config: LiveConfig, add: Any) -> None:
    if client.id != "binance":
        pace = "on" if client.enableRateLimit else "off"
        add("rate limit", Status.OK, f"ccxt paces requests every {client.rateLimit} ms "
            f"(enableRateLimit {pace}); {client.id} publishes no weight counter")
        return
    try:
        info = await client.publicGetExchangeInfo(
            {"symbol": client.market(config.symbols[0])["id"]})
    except ccxt.BaseError as exc:
        add("rate limit", Status.WARN, f"not measured ({type(exc).__name__})")
        return
    headers = {str(k).lower(): v for k, v in (client.last_response_headers or {}).items()}
    used = headers.get("x-mbx-used-weight-1m")
    limits = [r for r in info.get("rateLimits", []) if r.get("rateLimitType") == "REQUEST_WEIGHT"
              and r.get("interval") == "MINUTE"]
    if used is None or not limits:
        add("rate limit", Status.WARN, "the exchange did not report its weight counter")
        return
    limit = int(limits[0]["limit"])
    share = int(used) / limit
    if share > WEIGHT_WARN:
        add("rate limit", Status.WARN, f"{used} of {limit} request weight used this minute "
            f"({share:.0%})", "another program uses this IP's budget: the session may get 429s "
            "and bans (418); stop it or trade from another IP")
        return
    add("rate limit", Status.OK, f"{used} of {limit} request weight used this minute "
        f"({share:.0%})")


def _key_age(config: LiveConfig, clock: Clock, add: Any) -> None:
    age = key_age(config.credentials, clock.now_ms())
    if age is None:
        add("key age", Status.WARN, "unknown",
            "record when the key was made: credentials.key_created = YYYY-MM-DD in the "
            "config (or created = ... in the secrets file)")
        return
    line = (f"{age.days} days (created {age.created.isoformat()}, from {age.origin}); rotate "
            f"after {age.limit_days} (credentials.rotate_after_days)")
    if age.overdue:
        add("key age", Status.WARN, line, "create a new key, revoke this one, update the "
            "secrets and key_created")
        return
    add("key age", Status.OK, line)


__all__ = ["Check", "Diagnosis", "Status", "diagnose"]
