"""Settings of the platform link: the MQTT broker, the outbox bound and the alert webhooks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from edge.settings.core import Section
from gate.errors import ConfigError
from gate.model import Severity

if TYPE_CHECKING:  # the sync layer is imported only when the link is built
    from sync.connection import BrokerOptions
    from sync.service import OutboxOptions, WebhookTarget

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_TOPIC_LEVELS = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"
TOPIC_LEVELS_PATTERN = _TOPIC_LEVELS  # edge/cli/init.py says it in words


class WebhookSettings(Section):
    """One HTTP endpoint for alerts: a generic JSON receiver or a work-chat group robot."""

    name: str = Field(..., pattern=_ID, description="Name of this webhook, unique on the gate.")
    url: str | None = Field(
        None, max_length=2000,
        description="http:// or https:// URL to POST to. Prefer url_file when the URL holds a "
        "secret key (work-chat robots do).",
    )
    url_file: Path | None = Field(
        None, strict=False,
        description="File holding the URL (kept out of the config because robot URLs "
        "embed their key).",
    )
    format: Literal["json", "work_chat"] = Field(
        "json", description="'json': the event message as published on MQTT; 'work_chat': a "
        "group-robot text message ({\"msgtype\": \"text\", ...}).",
    )
    min_severity: Severity = Field(
        Severity.WARNING, strict=False,
        description="Send alerts of this severity and above: 'info', "
        "'warning' or 'urgent'.",
    )
    grids: list[str] = Field(
        default_factory=list, description="Only alerts of these grids; empty means all alerts.",
    )
    secret_file: Path | None = Field(
        None, strict=False,
        description="File with a shared secret; the body's HMAC-SHA256 is then sent in "
        "the X-Gridgate-Signature header (json format).",
    )
    timeout_s: float = Field(10.0, gt=0, le=120, description="Seconds to wait for a reply.")
    backoff_max_s: float = Field(
        300.0, ge=1, le=86400, description="Longest wait between two delivery attempts.",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _one_url(self) -> WebhookSettings:
        if (self.url is None) == (self.url_file is None):
            raise ValueError(f"webhook {self.name!r}: set exactly one of url and url_file")
        return self


class HomeAssistantSettings(Section):
    """Home Assistant MQTT discovery: the gate's doors, contact, decisions and counters appear
    as entities of one device. Read-only: broker access never opens a door."""

    enabled: bool = Field(
        False, description="Publish retained discovery configs and live states; turned off "
        "again, the gate removes the entities it announced (empty retained configs).",
    )
    discovery_prefix: str = Field(
        "homeassistant", pattern=_TOPIC_LEVELS, max_length=100,
        description="Home Assistant's discovery prefix (its MQTT integration's setting).",
    )
    stats_interval_s: float = Field(
        30.0, ge=5, le=3600, description="How often the outbox backlog and camera frame "
        "rates are sent.",
    )


class MqttSettings(Section):
    """The broker the gate publishes its events to and receives platform data from."""

    enabled: bool = Field(False, description="Publish events and receive platform data.")
    host: str = Field(
        "", max_length=253, description="Broker host name or address (required when enabled).",
    )
    port: int | None = Field(
        None, ge=1, le=65535, description="Broker port; default 8883 with TLS, else 1883.",
    )
    prefix: str = Field(
        "gridgate", pattern=_TOPIC_LEVELS, max_length=100,
        description="First topic levels of every topic, e.g. 'gridgate' or 'city/gridgate'.",
    )
    protocol: Literal["auto", "5", "3.1.1"] = Field(
        "auto", description="MQTT version: 'auto' tries 5 and falls back to 3.1.1.",
    )
    client_id: str | None = Field(
        None, pattern=_ID, description="MQTT client id; default 'gridgate-<compound>-<gate>'.",
    )
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keep-alive interval.")
    tls: bool = Field(False, description="Connect with TLS.")
    ca_file: Path | None = Field(
        None, strict=False,
        description="CA certificate (PEM) that signed the broker's certificate; default: "
        "the system's CAs.",
    )
    cert_file: Path | None = Field(
        None, strict=False, description="Client certificate (PEM), if the broker asks for one.",
    )
    key_file: Path | None = Field(
        None, strict=False, description="Private key of the client certificate.",
    )
    username: str | None = Field(None, max_length=200, description="Broker user name.")
    password_file: Path | None = Field(
        None, strict=False,
        description="File holding the broker password (never put a password in the "
        "config); read again at every connection attempt.",
    )
    session_expiry_s: int = Field(
        7 * 86400, ge=0, le=2**32 - 1,
        description="How long the broker keeps this gate's subscriptions and queued platform "
        "messages while the gate is offline.",
    )
    max_inflight: int = Field(
        200, ge=1, le=65535,
        description="Messages sent but not yet acknowledged at once (the broker may lower it).",
    )
    batch_size: int = Field(
        500, ge=1, le=10000, description="Outbox rows read or deleted per database statement.",
    )
    max_message_bytes: int = Field(
        262144, ge=1024, le=268435455,
        description="Largest event message sent; larger ones are sent as a stub without data. "
        "Keep at or below the broker's message_size_limit.",
    )
    max_inbound_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, le=268435455,
        description="Largest platform message accepted (a roster with face encodings is big).",
    )
    outbox_max_rows: int = Field(
        100_000, ge=100, le=100_000_000,
        description="Storage bound of the outbox; when full, routine door events are dropped "
        "oldest first (counted and alerted). Passages and alerts are never dropped.",
    )
    reconnect_min_s: float = Field(0.5, gt=0, le=60, description="First reconnect delay.")
    reconnect_max_s: float = Field(
        60.0, gt=0, le=3600, description="Longest delay between reconnect attempts.",
    )
    command_max_lifetime_s: int = Field(
        300, ge=5, le=3600,
        description="Signed commands valid for longer than this (expiry minus issue time) are "
        "refused.",
    )
    hold_open_max_minutes: int = Field(
        240, ge=1, le=24 * 60, description="Longest hold-open a platform command may set.",
    )
    peer_link: bool = Field(
        True,
        description="Share passages with the other gates of the compound over this broker "
        "(signed by this gate's key; docs/mqtt.md): quotas, anti-passback and who-is-out hold "
        "across gates. Off: this gate decides on its own passages alone and makes no gate key.",
    )
    webhooks: list[WebhookSettings] = Field(
        default_factory=list, description="Alert webhooks, delivered through the outbox.",
    )
    availability: bool = Field(
        True, description="Also publish a plain retained 'online'/'offline' on "
        "PREFIX/v1/COMPOUND/GATE/availability with its own Last Will, over a second small "
        "connection (client id CLIENT_ID-status): MQTT allows one will per connection.",
    )
    home_assistant: HomeAssistantSettings = Field(
        default_factory=HomeAssistantSettings, description="Home Assistant MQTT discovery.",
    )

    @model_validator(mode="after")
    def _check(self) -> MqttSettings:
        if self.enabled and not self.host:
            raise ValueError("mqtt.host is required when mqtt.enabled is true")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("mqtt.cert_file and mqtt.key_file go together; set both or neither")
        if (self.ca_file or self.cert_file) and not self.tls:
            raise ValueError("mqtt.ca_file/cert_file need mqtt.tls = true")
        if self.password_file is not None and not self.username:
            raise ValueError("mqtt.password_file needs mqtt.username")
        if self.home_assistant.enabled and not self.availability:
            raise ValueError("mqtt.home_assistant.enabled needs mqtt.availability = true: "
                             "Home Assistant's entities follow the gate's availability")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("mqtt.reconnect_min_s must not exceed mqtt.reconnect_max_s")
        names = [w.name for w in self.webhooks]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"mqtt.webhooks: name {twice[0]!r} is used twice")
        return self

    @property
    def effective_port(self) -> int:
        """The configured port, or the MQTT default for the transport."""
        return self.port or (8883 if self.tls else 1883)

    def with_base(self, base: Path) -> MqttSettings:
        """The same settings with relative file paths taken from `base` (the config's folder)."""

        def fix(p: Path | None) -> Path | None:
            return p if p is None or p.is_absolute() else base / p

        hooks = [w.model_copy(update={"url_file": fix(w.url_file),
                                      "secret_file": fix(w.secret_file)})
                 for w in self.webhooks]
        return self.model_copy(update={
            "ca_file": fix(self.ca_file), "cert_file": fix(self.cert_file),
            "key_file": fix(self.key_file), "password_file": fix(self.password_file),
            "webhooks": hooks,
        })

    def broker_options(self, *, compound_id: str, gate_id: str) -> BrokerOptions:
        """The broker connection as the sync layer takes it."""
        from sync.connection import BrokerOptions

        return BrokerOptions(
            host=self.host, port=self.effective_port,
            client_id=self.client_id or f"gridgate-{compound_id}-{gate_id}"[:64],
            protocol=self.protocol, keepalive_s=self.keepalive_s, tls=self.tls,
            ca_file=self.ca_file, cert_file=self.cert_file, key_file=self.key_file,
            username=self.username, password_file=self.password_file,
            session_expiry_s=self.session_expiry_s, max_inbound_bytes=self.max_inbound_bytes,
            reconnect_min_s=self.reconnect_min_s, reconnect_max_s=self.reconnect_max_s,
        )

    def outbox_options(self) -> OutboxOptions:
        """How the outbox is drained and bounded."""
        from sync.service import OutboxOptions

        return OutboxOptions(window=self.max_inflight, batch_size=self.batch_size,
                             max_message_bytes=self.max_message_bytes,
                             max_rows=self.outbox_max_rows)

    def webhook_targets(self, timezone: str,
                        escalation_webhook: str | None = None) -> list[WebhookTarget]:
        """The webhooks with their URL and secret files read (errors name the key); the one
        named by `escalation_webhook` gets escalated alerts only."""
        from sync.service import WebhookTarget
        from sync.sinks.formats import WebhookRoute

        targets = []
        for i, hook in enumerate(self.webhooks):
            url = hook.url or _read_secret(hook.url_file, f"mqtt.webhooks[{i}].url_file")
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"mqtt.webhooks[{i}].url_file: the URL must start with "
                                  "http:// or https://")
            secret = (_read_secret(hook.secret_file, f"mqtt.webhooks[{i}].secret_file").encode()
                      if hook.secret_file else None)
            route = WebhookRoute(hook.name, hook.format, hook.min_severity,
                                 frozenset(hook.grids), timezone,
                                 escalated_only=hook.name == escalation_webhook)
            targets.append(WebhookTarget(route, url, secret, hook.timeout_s, hook.backoff_max_s))
        return targets


def _read_secret(path: Path | None, key: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip() if path else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc}") from None
    if not text:
        raise ConfigError(f"{key}: {path} is empty")
    return text
