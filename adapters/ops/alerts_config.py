"""``AlertsConfig``: where alerts go, how repeats are folded and when they escalate.

A strict, frozen model (unknown keys refused, credentials refused like in
``LiveConfig``: an SMTP password or webhook token is named by an environment
variable, never written in the file). Example ``alerts.toml``::

    dedupe_window_s = 300        # same rule + key within 5 min: one alert, count kept

    [escalation]
    repeats = 3                  # the 3rd occurrence within window_s raises severity
    window_s = 3600

    [[sinks]]
    type = "log"
    name = "log"

    [[sinks]]
    type = "webhook"
    name = "ops"
    url = "http://127.0.0.1:9000/alerts"
    min_severity = "warning"

    [[sinks]]
    type = "smtp"
    name = "pager"               # only critical alerts (escalated ones included)
    host = "127.0.0.1"
    port = 25
    sender = "tradeloom@example.org"
    recipients = ["oncall@example.org"]
    min_severity = "critical"

    [rules.stale_data]
    severity = "info"            # override a rule's base severity, or enabled = false

>>> cfg = AlertsConfig.model_validate({"sinks": [{"type": "log", "name": "log"}]})
>>> cfg.dedupe_window_s, cfg.escalation.repeats, cfg.sinks[0].min_severity
(300.0, 3, 'info')
>>> AlertsConfig.model_validate({"sinks": [{"type": "smtp", "name": "m", "host": "h",
...     "sender": "a@b", "recipients": ["c@d"], "password": "x"}]})
Traceback (most recent call last):
...
tradeloom.engine.errors.ConfigError: config key 'sinks.password' looks like a credential; credentials never go in a config file - set the environment variables named in [credentials] (default TRADELOOM_API_KEY / TRADELOOM_API_SECRET) or name a secrets_file
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from tradeloom.adapters.config.files import read_config_file, validate_config
from tradeloom.adapters.secrets import reject_credentials
from tradeloom.engine.config import StrictModel

SeverityName = Literal["info", "warning", "critical"]
RuleName = Literal["breaker_trip", "kill_switch", "reconciliation_mismatch", "stale_data",
                   "clock_drift", "repeated_errors", "model_promotion"]


class _SinkBase(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    min_severity: SeverityName = "info"
    retries: int = Field(2, ge=0, le=10, description="extra attempts after a failed send")
    retry_delay_s: float = Field(1.0, ge=0.0, le=60.0)


class LogSinkConfig(_SinkBase):
    """Alerts as log records on the ``tradeloom.alerts`` logger."""

    type: Literal["log"] = "log"


class WebhookSinkConfig(_SinkBase):
    """A JSON POST per alert; any 2xx answer is success."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(5.0, gt=0, le=60.0)
    token_env: str | None = Field(None, description="env var holding a bearer token")
    proxy: str | None = Field(None, description="HTTP proxy URL; None: connect directly")


class SmtpSinkConfig(_SinkBase):
    """An e-mail per alert through an SMTP server (stdlib ``smtplib``)."""

    type: Literal["smtp"] = "smtp"
    host: str
    port: int = Field(25, gt=0, lt=65536)
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    recipients: list[str] = Field(min_length=1)
    starttls: bool = False
    timeout_s: float = Field(10.0, gt=0, le=120.0)
    username_env: str | None = None
    password_env: str | None = None


SinkConfig = Annotated[LogSinkConfig | WebhookSinkConfig | SmtpSinkConfig,
                       Field(discriminator="type")]


class EscalationConfig(StrictModel):
    """``repeats`` occurrences of one rule + key within ``window_s`` raise the severity a level."""

    repeats: int = Field(3, ge=2, le=1000)
    window_s: float = Field(3600.0, gt=0)


class RuleConfig(StrictModel):
    """Per-rule overrides: switch a rule off or change its base severity."""

    enabled: bool = True
    severity: SeverityName | None = None


class AlertsConfig(StrictModel):
    """Sinks, the de-duplication window and escalation (see the module docstring)."""

    dedupe_window_s: float = Field(300.0, ge=0.0)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    sinks: list[SinkConfig] = Field(default_factory=lambda: [LogSinkConfig(name="log")])
    rules: dict[RuleName, RuleConfig] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _no_credentials(cls, data: Any) -> Any:
        reject_credentials(data)
        return data

    @model_validator(mode="after")
    def _names_unique(self) -> AlertsConfig:
        names = [s.name for s in self.sinks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sink names must be unique; repeated: {', '.join(dupes)}")
        return self


def load_alerts_config(path: Path | str) -> AlertsConfig:
    """Read and validate an alerts config file (a top-level ``[alerts]`` table is accepted)."""
    data = read_config_file(path)
    if set(data) == {"alerts"} and isinstance(data["alerts"], dict):
        data = data["alerts"]
    return validate_config(AlertsConfig, data, str(path))


__all__ = ["AlertsConfig", "EscalationConfig", "LogSinkConfig", "RuleConfig", "RuleName",
           "SeverityName", "SinkConfig", "SmtpSinkConfig", "WebhookSinkConfig",
           "load_alerts_config"]
