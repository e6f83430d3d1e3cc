"""Where alerts are delivered: the log, a webhook (JSON POST), e-mail over SMTP.

Each sink has one method, ``send(alert)``, that either delivers or raises
``SinkError`` (with the cause chained). Retrying, counting and logging failures
is the router's job (``adapters.alerts``), so a sink stays a few lines of I/O.

The webhook uses stdlib ``urllib`` with no proxy unless the config names one
(environment proxy variables are ignored, so an alert never takes a surprise
route); the e-mail sink uses ``smtplib``. Credentials come from the environment
variables the config names.

>>> import logging
>>> from tradeloom.adapters.ops.alerts_config import LogSinkConfig
>>> sink = build_sink(LogSinkConfig(name="log"))
>>> type(sink).__name__, sink.name
('LogSink', 'log')
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import smtplib
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

from tradeloom.adapters.ops.alerts_config import (
    LogSinkConfig,
    SinkConfig,
    SmtpSinkConfig,
    WebhookSinkConfig,
)

if TYPE_CHECKING:
    from tradeloom.adapters.ops.alerts import Alert

log = logging.getLogger("tradeloom.alerts")
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


class SinkError(Exception):
    """A sink could not deliver an alert; the message says where and why."""


class Sink(Protocol):
    """Delivers one alert or raises ``SinkError``."""

    name: str

    def send(self, alert: Alert) -> None: ...


class LogSink:
    """Alerts as log records (level from the severity) on ``tradeloom.alerts``."""

    def __init__(self, config: LogSinkConfig) -> None:
        self.name = config.name

    def send(self, alert: Alert) -> None:
        log.log(_LEVELS[alert.severity.value], "ALERT %s", alert.summary())


class WebhookSink:
    """POSTs ``alert.to_dict()`` as JSON; any 2xx answer is success."""

    def __init__(self, config: WebhookSinkConfig, environ: Mapping[str, str] | None = None) -> None:
        self.name = config.name
        self.config = config
        env = os.environ if environ is None else environ
        self._token = env.get(config.token_env) if config.token_env else None
        if config.token_env and not self._token:
            raise SinkError(f"webhook sink {config.name!r}: environment variable "
                            f"{config.token_env} (token_env) is not set")
        proxies = {"http": config.proxy, "https": config.proxy} if config.proxy else {}
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies))

    def send(self, alert: Alert) -> None:
        body = json.dumps(alert.to_dict(), sort_keys=True).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "tradeloom-alerts"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self.config.url, data=body, headers=headers,
                                         method="POST")
        try:
            with self._opener.open(request, timeout=self.config.timeout_s) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise SinkError(f"webhook {self.name!r} {self.config.url}: HTTP {exc.code}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise SinkError(f"webhook {self.name!r} {self.config.url}: {exc}") from exc
        if not 200 <= status < 300:
            raise SinkError(f"webhook {self.name!r} {self.config.url}: HTTP {status}")


class SmtpSink:
    """One e-mail per alert: the summary as subject, the alert's JSON as body."""

    def __init__(self, config: SmtpSinkConfig, environ: Mapping[str, str] | None = None) -> None:
        self.name = config.name
        self.config = config
        env = os.environ if environ is None else environ
        self._user = env.get(config.username_env) if config.username_env else None
        self._password = env.get(config.password_env) if config.password_env else None
        unset = [n for n in (config.username_env, config.password_env) if n and not env.get(n)]
        if unset:
            raise SinkError(f"smtp sink {config.name!r}: environment variable(s) "
                            f"{', '.join(unset)} not set")

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = f"[tradeloom {alert.severity.value.upper()}] {alert.summary()}"[:200]
        msg["From"] = self.config.sender
        msg["To"] = ", ".join(self.config.recipients)
        msg.set_content(alert.summary() + "\n\n" + json.dumps(alert.to_dict(), indent=2,
                                                               sort_keys=True) + "\n")
        return msg

    def send(self, alert: Alert) -> None:
        cfg = self.config
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s) as smtp:
                if cfg.starttls:
                    smtp.starttls()
                if self._user and self._password:
                    smtp.login(self._user, self._password)
                smtp.send_message(self.message(alert))
        except (OSError, smtplib.SMTPException) as exc:
            raise SinkError(f"smtp {self.name!r} {cfg.host}:{cfg.port}: {exc}") from exc


def build_sink(config: SinkConfig, environ: Mapping[str, str] | None = None) -> Sink:
    """The sink a config section describes."""
    if isinstance(config, LogSinkConfig):
        return LogSink(config)
    if isinstance(config, WebhookSinkConfig):
        return WebhookSink(config, environ)
    return SmtpSink(config, environ)


__all__ = ["LogSink", "Sink", "SinkError", "SmtpSink", "WebhookSink", "build_sink"]
